"""``ctscope top``: a live terminal view of the conntrack table."""
from __future__ import annotations

HELP = "live terminal view: usage gauge, new/destroyed/dropped per second, states, top talkers"
DESCRIPTION = """\
A live view of the conntrack table, refreshed every --interval seconds: a count/max
gauge coloured at 50 % (yellow), 75 % (orange) and 90 % (red); new, destroyed and
dropped entries per second (between two readings: flows that lived less than one
interval are not counted -- 'ctscope events' counts every one); entries by state and
protocol; the top talkers.  Read only.

keys:
  v        next talker view: destination ports, (source, port) pairs, sources, destinations
  p        next protocol (all, tcp, udp, icmp, icmpv6, sctp, gre)
  s        sort by entries / by name
  /        filter the talkers (substring, e.g. '10.1.' or 'udp/53'); escape clears it
  space    pause / resume
  + / -    refresh faster / slower
  q        quit
  ctrl+c   quit (exit code 130, as a SIGINT signal)

Privileges: the table (/proc/net/nf_conntrack) needs root; without it the gauge,
counters and drops/s are still shown, with the reason.  --netns NAME needs root.
Each refresh reads the whole table: at 262,144 entries about 0.5 s of CPU, so keep
--interval at 2 s or more on big tables.

examples:
  sudo ctscope top
  sudo ctscope top --netns blue --interval 5
"""


def add_arguments(p) -> None:
    p.add_argument("--netns", metavar="NAME", help="a named network namespace ('ip netns list'); needs root")
    p.add_argument("--interval", type=float, default=2.0, metavar="SECONDS", help="refresh interval (default 2)")
    p.add_argument("--top", type=int, default=20, metavar="N", help="talkers per view (default 20)")


def run(args) -> int:
    from ..errors import InputError
    from ..live.sampler import Sampler
    from ..tui.top import TopApp

    if not 0.2 <= args.interval <= 3600:
        raise InputError("must be between 0.2 and 3600 seconds", "--interval")
    if args.netns:
        from ..live.netns import read_netns
        read_netns(args.netns, ["--no-table", "--no-log"])     # fail early, with the reason
    app = TopApp(Sampler(args.netns, args.top), args.interval)
    app.run()
    if app.return_code == 130:      # Ctrl-C (the key or SIGINT): as the other commands, once the screen is back
        import sys
        print("ctscope top: interrupted", file=sys.stderr)
    return app.return_code or 0
