"""``ctscope list``: the conntrack table like ``conntrack -L``, from /proc or a saved file."""
from __future__ import annotations

HELP = "list the table like 'conntrack -L' (same filters and formats), live or from a file"
DESCRIPTION = """\
Print the conntrack table the way 'conntrack -L' does -- same filters, same output
formats -- read from /proc/net/nf_conntrack (root), another namespace (--netns), or a
saved file (--input: /proc text, conntrack -L output of any format, a ctscope
snapshot).  The default output equals 'conntrack -L' for the same filters (same lines
after sorting: use=1, zone= only when non-zero, compressed IPv6; timeouts within the
seconds between the two reads).  The "N flow entries have been shown" line goes to
stderr, as conntrack's does.  Read only: there is no -D, -F, -U or -I.

  -C / --count   print the number of entries (nf_conntrack_count without filters)
  -S / --stats   per-CPU counters in 'conntrack -S' format (/proc/net/stat/nf_conntrack)

Differences from conntrack -L: reads /proc, so it needs root but not CAP_NET_ADMIN
(works where ctnetlink is filtered, e.g. in some containers); -o id, <id> in -o xml
and the FIXED_TIMEOUT/EXPECTED status bits are not in /proc, so not shown; -f
defaults to both families (as conntrack 1.4.7 does).

examples:
  sudo ctscope list -p tcp --state TIME_WAIT
  sudo ctscope list -p udp --dport 53 -o json
  ctscope list --input saved-proc.txt -s 10.0.0.0/8 -C
  sudo ctscope list --netns blue -o xml
"""


def add_arguments(p) -> None:
    from ..live.filters import add_filter_arguments
    from ..live.source import add_source_arguments
    add_source_arguments(p)
    add_filter_arguments(p)
    p.add_argument("-o", "--output", default="default", choices=("default", "extended", "xml", "json"),
                   help="output format: conntrack -L default, -o extended, -o xml, or JSON lines")
    g = p.add_mutually_exclusive_group()
    g.add_argument("-C", "--count", action="store_true", help="print the number of (matching) entries")
    g.add_argument("-S", "--stats", action="store_true", help="per-CPU counters, as 'conntrack -S'")


def run(args) -> int:
    import sys

    from ..live.filters import filter_from_args

    flt = filter_from_args(args)          # check the options before anything else
    if args.netns:
        from ..live.netns import run_in_netns, strip_netns
        return run_in_netns(args.netns, ["list", *strip_netns(sys.argv[sys.argv.index("list") + 1:])])
    if args.stats:
        return _stats(args)
    if args.count and flt.empty and not args.input:
        from ..live.sysctl import read_sysctls
        count = read_sysctls().count
        if count is not None:
            print(count)
            return 0
    from ..live.listing import as_listed, load_entries, render

    entries, fmt, _ = load_entries(args.input, flt)
    chosen = (as_listed(e, fmt) for e in entries if flt.matches(e))
    if args.count:
        print(sum(1 for _ in chosen))
        return 0
    shown = [0]

    def counted():
        for e in chosen:
            shown[0] += 1
            yield e
    out = sys.stdout
    for line in render(counted(), args.output):
        out.write(line + "\n")
    print(f"ctscope list: {shown[0]} flow entries have been shown.", file=sys.stderr)
    return 0


def _stats(args) -> int:
    from ..errors import InputError
    from ..formats.stats import format_conntrack_s, parse_proc_stat

    path = args.input or "/proc/net/stat/nf_conntrack"
    try:
        with open(path) as fh:
            lines = fh.read().splitlines()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path) from None
    print("\n".join(format_conntrack_s(parse_proc_stat(lines, path))))
    return 0
