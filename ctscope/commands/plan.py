"""ctscope plan: which remedy for "nf_conntrack: table full, dropping packet" works here."""
from __future__ import annotations

HELP = "replay a capture under candidate remedies (or estimate from rates) and rank them"
DESCRIPTION = """\
Answer "which remedy stops 'nf_conntrack: table full, dropping packet' for MY traffic,
and what does it cost?" by replaying the capture under the baseline (the same settings
flags as 'ctscope replay', or --from-host to read this host's sysctls and ruleset) and
under remedies generated from the traffic itself:

  stop-tracking   the seed's remedy 1: no conntrack at all; lists the rules (state /
                  conntrack matches, ct expressions, NAT) that would have to go
  size-table      nf_conntrack_max = buckets that hold the traffic's peak with --headroom
  kube-proxy      what kube-proxy sets: max(32768 x CPUs, 131072), hashsize max/4
  notrack-ports   NOTRACK for the ports holding most entries (e.g. short HTTP connections
  notrack-addrs   in TIME_WAIT, DNS) or for the addresses, with the return-traffic rules
  timeouts        shorter timeouts for the states that fill the table
  NAME            your scenarios from --scenarios FILE.toml ([[scenario]] name, description,
                  set = {sysctl = value}, sysctl_file, rules, rules6, replace_rules)

They are shown side by side (peak entries, time above 75/90/100 % of max, table-full
drops, early drops, kernel memory, the state mix at the peak) and ranked with reasons.
--emit DIR writes the best remedy that is settings or rules as installable files
(sysctl.d, modules-load.d, modprobe.d, kernel-cmdline.txt, notrack.nft, notrack-ipv4.rules,
notrack-ipv6.rules, README.txt); each sysctl/rules file replays with 'ctscope replay'.

Without a capture, --rate estimates the steady state analytically (Little's law plus
the GC's reaping lag): SPEC = PROTO:RATE/s[,lifetime=DURATION][,reply=yes|no]
[,close=fin|rst|none][,dport=N], PROTO tcp, udp or icmp.

examples:
  ctscope plan capture.pcap --ram 1G
  ctscope plan capture.pcap --ram 1G --emit remedy/ --report plan.html
  ctscope plan capture.pcap --from-host --json
  ctscope plan --rate tcp:5000/s,lifetime=2s,close=fin,dport=80 --rate udp:2000/s,reply=yes,dport=53 --ram 4G
"""

from ._common import add_settings_arguments


def add_arguments(p) -> None:
    p.add_argument("capture", metavar="CAPTURE", nargs="?",
                   help="pcap or pcapng file (optionally gzip), or - for stdin; omit with --rate")
    add_settings_arguments(p)
    g = p.add_argument_group("plan")
    g.add_argument("--from-host", action="store_true",
                   help="baseline = this host: read (never write) its sysctls, RAM, 'nft list ruleset', "
                        "iptables-save and ip6tables-save; --rules/--set add to it")
    g.add_argument("--headroom", default="25%", metavar="PCT",
                   help="size-table: headroom above the traffic's peak (default 25%%)")
    g.add_argument("--cpus", type=int, metavar="N", help="CPUs for kube-proxy's value (default: this machine's)")
    g.add_argument("--scenarios", metavar="FILE.toml", help="your own scenarios (see above)")
    g.add_argument("--rate", action="append", default=[], metavar="SPEC",
                   help="analytical planner: a traffic class (repeatable); no capture needed")
    o = p.add_argument_group("outputs (written atomically)")
    o.add_argument("--emit", metavar="DIR", help="write the top-ranked remedy as installable files")
    o.add_argument("--emit-scenario", metavar="NAME", help="with --emit: this scenario instead of the top one")
    o.add_argument("--report", metavar="FILE.html", help="self-contained HTML report with plots")
    o.add_argument("--report-png", metavar="DIR", help="the report's plots as PNG files (for tickets)")
    o.add_argument("--json", action="store_true", help="print the plan as one JSON object")


def _headroom(text: str) -> float:
    from ..errors import InputError

    t = text.strip().rstrip("%").strip()
    try:
        v = float(t)
    except ValueError:
        raise InputError(f"not a percentage: {text!r}", "--headroom") from None
    if not 0 <= v <= 1000:
        raise InputError("must be between 0 and 1000 %", "--headroom")
    return v / 100


def run(args) -> int:
    import json

    from ..errors import InputError

    args.headroom = _headroom(args.headroom)
    if args.cpus is not None and args.cpus < 1:
        raise InputError("must be at least 1", "--cpus")
    if args.emit_scenario and not args.emit:
        raise InputError("--emit-scenario needs --emit DIR", "--emit-scenario")
    if args.rate:
        if args.capture:
            raise InputError("give a capture or --rate, not both", "--rate")
        for opt in ("emit", "scenarios", "from_host"):
            if getattr(args, opt):
                raise InputError(f"--{opt.replace('_', '-')} needs a capture", "--rate")
        from ..plan.rates import format_rates, plan_rates
        result = plan_rates(args)
        if args.report or args.report_png:
            from ..report import write_report
            write_report(None, args.report, args.report_png, rates=result)
        print(json.dumps(result, indent=2, sort_keys=True) if args.json else format_rates(result))
        return 0
    if not args.capture:
        raise InputError("give a CAPTURE to replay, or --rate SPEC for an estimate", "plan")

    from ..plan.capture import plan_capture
    from ..plan.text import format_plan

    from ..atomic import OutputSet

    plan = plan_capture(args)
    d = plan.as_dict()
    with OutputSet() as out:      # every output file, or none
        if args.emit:
            from ..plan.emit import emit
            sc, files = emit(plan, args.emit, args.emit_scenario, out)
            d["emitted"] = {"scenario": sc.name, "dir": args.emit, "files": files}
        if args.report or args.report_png:
            from ..report import write_report
            write_report(plan, args.report, args.report_png, out=out)
            d["report"] = {"html": args.report, "png_dir": args.report_png}
    if args.json:
        print(json.dumps(d, indent=2, sort_keys=True, default=_jsonable))
    else:
        print(format_plan(d))
        if "emitted" in d:
            e = d["emitted"]
            print(f"emitted     {e['scenario']} -> {e['dir']}/ ({', '.join(e['files'])})")
        if "report" in d:
            print(f"report      {', '.join(x for x in (args.report, args.report_png) if x)}")
    return 0


def _jsonable(o):
    import numpy as np
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
