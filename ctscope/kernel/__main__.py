"""``python -m ctscope.kernel sweep``: remove ``ctsc-<pid>-*`` namespaces whose owner
process is gone (never touches names without that pattern or of live processes)."""
import sys

from .netns import sweep_leftovers


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv != ["sweep"]:
        print("usage: python -m ctscope.kernel sweep", file=sys.stderr)
        return 2
    for name in sweep_leftovers():
        print(f"deleted {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
