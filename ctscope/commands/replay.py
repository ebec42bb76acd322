"""ctscope replay: run a capture through the nf_conntrack model."""
from __future__ import annotations

HELP = "run a pcap/pcapng capture through the nf_conntrack model"
DESCRIPTION = """\
Run a capture (pcap, pcapng, gzip-compressed, or - for stdin) through a model of
Linux 6.18 connection tracking, packet by packet, with the capture's timestamps as
the clock. By default the model is a forwarding router with no addresses of its own
(a gateway, a Kubernetes node, a firewall); --local switches to a host model.

It predicts what the kernel would do: each packet's ctinfo (NEW, ESTABLISHED, ...,
INVALID, UNTRACKED, DROPPED), the table, the stats of 'conntrack -S', the events of
'conntrack -E', early drops and 'nf_conntrack: table full, dropping packet'.

examples:
  ctscope replay capture.pcap --ram 1G
  ctscope replay capture.pcapng --set nf_conntrack_max=8192 --table table.txt --stats stats.json
  ctscope replay capture.pcap --rules notrack.nft --verdicts verdicts.jsonl
  ctscope replay capture.pcap --local 198.18.0.10 --events events.txt
"""

from ._common import add_settings_arguments


def add_arguments(p) -> None:
    p.add_argument("capture", metavar="CAPTURE", help="pcap or pcapng file (optionally gzip), or - for stdin")
    add_settings_arguments(p)
    o = p.add_argument_group("outputs (written atomically, only if the replay completes)")
    o.add_argument("--verdicts", metavar="FILE", help="JSON lines, one per frame: {\"n\": 7, \"ctinfo\": \"NEW\", \"fate\": ...}")
    o.add_argument("--table", metavar="FILE", help="the table at the end, in /proc/net/nf_conntrack format")
    o.add_argument("--stats", metavar="FILE", help="the stats as a flat JSON object (conntrack -S names + entries)")
    o.add_argument("--events", metavar="FILE", help="conntrack -E style events (-o timestamp,extended)")
    o.add_argument("--events-format", choices=("text", "json"), default="text", help="format of --events")
    o.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    o.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    from ..replay import ReplayJob, format_summary

    job = ReplayJob.from_args(args)
    try:
        result = job.run()
    except KeyboardInterrupt:
        job.discard_outputs()
        import sys
        partial = job.partial_summary()
        if partial is not None:
            print(format_summary(partial), file=sys.stderr)
        print("ctscope replay: interrupted; no output files written", file=sys.stderr)
        return 130
    if args.json:
        import json
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(format_summary(result))
    return 0
