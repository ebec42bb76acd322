"""Command line entry point: ``ctscope COMMAND ...``.

Thin by design: each command lives in ``ctscope/commands/<name>.py`` with
``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.  Command
modules import heavy packages (numpy, numba, pyroute2 ...) inside ``run`` only, so
``ctscope --help`` starts fast.  Errors derived from ``CtscopeError`` become one line
on stderr and exit code 2; Ctrl-C exits 130.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import __version__
from .errors import CtscopeError

ORDER = ["replay", "verify", "plan", "size", "synth", "doctor", "snapshot", "list", "top",
         "events", "exporter"]


def _commands() -> dict:
    from . import commands
    found = {m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_")}
    names = [n for n in ORDER if n in found] + sorted(found - set(ORDER))
    return {n: importlib.import_module(f"{commands.__name__}.{n}") for n in names}


class _Parser(argparse.ArgumentParser):
    """Bad options are one line too (argparse prints the whole usage first)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ctscope",
        description="Linux connection tracking (nf_conntrack) in userspace: replay captures "
                    "through a kernel-faithful model, plan remedies for 'table full, dropping "
                    "packet', and diagnose live hosts.",
        epilog="Run 'ctscope COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"ctscope {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, mod in _commands().items():
        p = sub.add_parser(name, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        # SUPPRESS: absent here must not reset a 'ctscope --debug COMMAND' given before
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def _skip_scipy() -> None:
    """numba imports scipy's BLAS bindings (and, through them, numpy.f2py and
    numpy.testing) when it loads any compiled function, for np.linalg support that
    ctscope never uses: ~0.3 s of every command's start-up.  Hiding scipy from the
    command-line process makes numba skip it.  CTSCOPE_ALLOW_SCIPY=1 turns this off."""
    import os

    if "scipy" not in sys.modules and os.environ.get("CTSCOPE_ALLOW_SCIPY") != "1":
        sys.modules["scipy"] = None  # type: ignore[assignment]  # import scipy -> ImportError


def _early_start(argv: list[str]) -> None:
    """Work a command can start before its arguments are even parsed: ``doctor`` on
    the live table starts the kernel's walk of it (~0.35 s of kernel time at 262,144
    entries, on another CPU) before the parser is built (measured: ~25 ms sooner)."""
    if argv[:1] == ["doctor"] and not any(   # prefixes: argparse takes "--inp" for "--input"
            a.startswith(("--i", "--n", "-h", "--h")) for a in argv[1:]):
        from .live.tables import start_reading
        start_reading()


def console_main() -> int:
    """The ``ctscope`` executable (and ``python -m ctscope``)."""
    _skip_scipy()
    return main()


def main(argv: list[str] | None = None) -> int:
    _early_start(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except CtscopeError as exc:
        if args.debug:
            raise
        print(f"ctscope {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"ctscope {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:        # a bug: still one line, no traceback without --debug
        if args.debug:
            raise
        print(f"ctscope {args.command}: internal error: {type(exc).__name__}: {exc} "
              "(a bug in ctscope; run with --debug for the traceback)", file=sys.stderr)
        return 70


if __name__ == "__main__":  # pragma: no cover
    sys.exit(console_main())
