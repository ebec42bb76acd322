"""``ctscope snapshot``: save table + settings + stats + rules + log lines in one file."""
from __future__ import annotations

HELP = "save this host's conntrack table, settings, counters, rules and log lines to one file"
DESCRIPTION = """\
Read (never write) everything 'ctscope doctor' reads and save it as one JSON file, to
analyse later or elsewhere ('ctscope doctor --input FILE', 'ctscope list --input
FILE', two snapshots give churn: 'doctor --input NEW --compare OLD').

The file holds: kind "ctscope-snapshot", version 1, time (epoch seconds), hostname,
kernel, netns_inode, sysctl {values, hashsize}, stat {entries, totals (conntrack -S
names), cpus}, table {lines, unique, duplicates, count, note, summary,
top_source_ports}, table_text (the /proc/net/nf_conntrack text, byte for byte),
kernel_log {table_full, by_netns, suppressed, events [{usec, netns, message}]},
slab, module (module or built in), config (sysctl.d, modprobe.d, modules-load.d
findings), rules {nft, iptables, ip6tables: the dumps}, kube_proxy, and for every
part that could not be read its "problems" [{what, why}].

Privileges: the table needs root, the ruleset CAP_NET_ADMIN, /dev/kmsg root or
dmesg_restrict=0; the rest is readable by anyone.  The file is written atomically
(a temporary file renamed into place).

examples:
  sudo ctscope snapshot --out /var/tmp/ct-$(date +%s).json
  sudo ctscope snapshot --netns blue --out blue.json
"""


def add_arguments(p) -> None:
    from ..live.source import add_source_arguments
    add_source_arguments(p, saved=False)
    p.add_argument("--out", "-o", metavar="FILE", help="write here (default: standard output)")
    p.add_argument("--no-table", action="store_true", help="leave out the table (settings and counters only)")
    p.add_argument("--no-log", action="store_true", help="leave out the kernel log scan")
    p.add_argument("--top", type=int, default=10, metavar="N", help="top lists stored in the summary")


def run(args) -> int:
    import json
    import sys

    from ..atomic import OutputSet
    from ..live.netns import read_netns
    from ..live.snapshot import collect

    if args.netns:
        extra = ["--top", str(args.top), "--rules"] + ([] if args.no_table else ["--table-text"]) + \
            (["--no-table"] if args.no_table else []) + (["--no-log"] if args.no_log else [])
        snap = read_netns(args.netns, extra)
        snap["netns"] = args.netns
    else:
        snap = collect(table=not args.no_table, log=not args.no_log, top=args.top,
                       table_text=not args.no_table, rules=True)
        snap["netns"] = ""
    if args.out:
        with OutputSet() as out:
            fh = out.open(args.out)
            json.dump(snap, fh)
            fh.write("\n")
        table = snap.get("table") or {}
        print(f"ctscope snapshot: {args.out}: {table.get('lines', 0):,} entries, "
              f"{len(snap.get('kernel_log', {}).get('events', []))} table-full log lines", file=sys.stderr)
    else:
        json.dump(snap, sys.stdout)
        sys.stdout.write("\n")
    return 0
