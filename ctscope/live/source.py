"""Where a live command reads from: this namespace, ``--netns NAME`` (through the
read-only helper process), or a saved file (``--input``).  Shared by doctor,
snapshot, list and top."""
from __future__ import annotations

from .netns import read_netns


def add_source_arguments(p, saved: bool = True) -> None:
    g = p.add_argument_group("what to read (default: this host's current network namespace)")
    g.add_argument("--netns", metavar="NAME",
                   help="a named network namespace ('ip netns list'); needs root")
    if saved:
        g.add_argument("--input", "-i", metavar="FILE",
                       help="a saved file instead of the live kernel: a 'ctscope snapshot' file, "
                            "'cat /proc/net/nf_conntrack', 'conntrack -L' (default, -o extended, "
                            "-o xml) output, or ctscope JSON lines ('-' = stdin); format detected")


def read_snapshot(args, top: int = 10, table_text: bool = False, rules: bool = True,
                  log: bool = True) -> dict:
    """The snapshot dict the arguments ask for."""
    if getattr(args, "input", None):
        from .inputs import load_input
        return load_input(args.input, top)
    if args.netns:
        extra = ["--top", str(top)] + (["--table-text"] if table_text else []) + \
            (["--rules"] if rules else []) + ([] if log else ["--no-log"])
        snap = read_netns(args.netns, extra)
        snap["source"] = f"live, netns {args.netns}"
        return snap
    from .snapshot import collect
    snap = collect(top=top, table_text=table_text, rules=rules, log=log)
    snap["source"] = "live"
    return snap
