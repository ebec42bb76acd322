"""``ctscope events``: conntrack events like ``conntrack -E``, with a churn summary."""
from __future__ import annotations

HELP = "watch conntrack events (NEW/UPDATE/DESTROY) like 'conntrack -E'; churn summary on exit"
DESCRIPTION = """\
Print conntrack events as 'conntrack -E' does -- it runs 'conntrack -E' as a child
process and reads its lines, so the default output is conntrack's, byte for byte --
and on exit (Ctrl-C, --duration, --count) print the churn to stderr: new, updated
and destroyed entries, per second, and the destination ports of the new ones.

Why conntrack -E and not pyroute2: pyroute2 decodes ~1 ctnetlink message per ms,
below a busy host's event rate, so events would be lost (ENOBUFS) exactly when churn
matters; conntrack -E keeps up, filters in the kernel and has -b for the buffer.
Subscribing is read only.  Needs conntrack-tools and CAP_NET_ADMIN (root);
--netns NAME needs root.

-o timestamp, -o extended, -o timestamp,extended as conntrack; -o json prints one
object per event (the fields of 'ctscope list -o json' plus "event" and, with
timestamps, "event_usec").  Filters -p -s -d --sport --dport -m -w -f are passed to
conntrack; --state and --status are applied here (DESTROY events carry no state).

examples:
  sudo ctscope events -p tcp --dport 443
  sudo ctscope events -e NEW -o timestamp --duration 60 2> churn.txt
  sudo ctscope events --netns blue -o json | jq .
"""


def add_arguments(p) -> None:
    from ..live.filters import add_filter_arguments
    p.add_argument("--netns", metavar="NAME", help="a named network namespace ('ip netns list'); needs root")
    add_filter_arguments(p)
    p.add_argument("-e", "--event-mask", metavar="LIST", help="NEW, UPDATES, DESTROY or ALL (comma list)")
    p.add_argument("-o", "--output", default="", metavar="LIST",
                   help="comma list of timestamp, extended, json")
    p.add_argument("-b", "--buffer-size", type=int, metavar="BYTES", help="netlink socket buffer (ENOBUFS)")
    p.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long")
    p.add_argument("--count", type=int, metavar="N", help="stop after N events")


def conntrack_options(args) -> list[str]:
    opts: list[str] = []
    for flag, value in (("-p", args.proto), ("-s", args.src), ("-d", args.dst), ("--sport", args.sport),
                        ("--dport", args.dport), ("-m", args.mark), ("-w", args.zone), ("-f", args.family),
                        ("-e", args.event_mask), ("-b", args.buffer_size)):
        if value is not None:
            opts += [flag, str(value)]
    return opts


def run(args) -> int:
    import json
    import sys
    import threading

    from ..errors import InputError
    from ..live.events import EventReader
    from ..live.filters import filter_from_args

    outputs = {o.strip() for o in args.output.split(",") if o.strip()}
    if outputs - {"timestamp", "extended", "json"}:
        raise InputError(f"unknown output {sorted(outputs - {'timestamp', 'extended', 'json'})[0]!r} "
                         "(timestamp, extended, json)", "-o")
    flt = filter_from_args(args)
    post = flt.state is not None or bool(flt.status)
    cmd_out = sorted(outputs - {"json"})
    options = conntrack_options(args) + (["-o", ",".join(cmd_out)] if cmd_out else [])
    reader = EventReader(options, args.netns)
    if args.duration:
        threading.Timer(args.duration, reader.proc.terminate).start()
    shown = 0
    try:
        for raw, entry in reader.lines():
            if post and (entry is None or not flt.matches(entry)):
                continue
            if "json" in outputs:
                if entry is None:
                    continue
                line = json.dumps(entry.to_dict(), separators=(",", ":"))
            else:
                line = raw
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
            shown += 1
            if args.count and shown >= args.count:
                break
    except KeyboardInterrupt:
        pass
    failure = reader.failure()
    churn = reader.stop()
    if failure and not shown:
        raise InputError(f"conntrack -E failed: {failure}")
    print(f"ctscope events: {shown} flow events have been shown.", file=sys.stderr)
    for line in churn.summary_lines():
        print(line, file=sys.stderr)
    return 0
