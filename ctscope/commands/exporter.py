"""``ctscope exporter``: Prometheus metrics of the live conntrack table (read only)."""
from __future__ import annotations

HELP = "Prometheus exporter: conntrack usage, stats, states, top talkers (read only)"
DESCRIPTION = """\
Serve Prometheus metrics about nf_conntrack on http://LISTEN/metrics.

The table is read in the background every --refresh seconds by a reader child
process; scrapes serve the last snapshot and report its age
(ctscope_exporter_snapshot_age_seconds) and read time
(ctscope_exporter_read_duration_seconds).  Nothing on the host is changed.

What is exported (per namespace):
  node_nf_conntrack_entries, _entries_limit, _stat_*   node_exporter's names, help texts
                                 and types, so its dashboards and the node-mixin alert work
  ctscope_nf_conntrack_stat_*_total    every kernel statistic as a counter, incl.
                                 clash_resolve, chaintoolong, error, expect_*
  ctscope_nf_conntrack_entries_by_protocol / _by_state / _assured_entries /
  _unreplied_entries / _listed_entries / _buckets / _memory_estimate_bytes
  ctscope_nf_conntrack_top_{source,destination,dport}_entries   the --top N largest
                                 and an 'other' series: at most N+1 series each
  ctscope_nf_conntrack_table_full_log_lines_total   'table full' kernel log lines
  ctscope_exporter_missing_info  what could not be read here, why, which metrics lack

Namespaces:
  no --netns        the namespace the exporter runs in; series have no netns label
  --netns NAME      a name under /run/netns (as 'ip netns' uses), repeatable; exactly
                    these are exported, every series labelled netns="NAME"
  --netns-pid PID   the namespace of process PID, labelled netns="pid:PID"

Privileges (least that work):
  none              count, limit, buckets, stats (world-readable proc files)
  + CAP_SYSLOG      table-full log lines (/dev/kmsg, kernel.dmesg_restrict=1)
  + CAP_NET_ADMIN   per-state/protocol counts and top talkers via 'conntrack -L',
                    stats via 'conntrack -S' when /proc/net/stat is absent
                    (or run as root: /proc/net/nf_conntrack is mode 0440 root)
  --netns/--netns-pid  root with CAP_SYS_ADMIN (setns) [+ CAP_SYS_PTRACE for another
                    user's PID]; see deploy/systemd/ for units per mode

examples:
  ctscope exporter                                  # 127.0.0.1:9465, this namespace
  ctscope exporter --listen 0.0.0.0:9465 --top 20
  ctscope exporter --netns blue --netns red --refresh 30
  curl -s 127.0.0.1:9465/metrics | grep nf_conntrack_entries
"""


def add_arguments(p) -> None:
    p.add_argument("--listen", default="127.0.0.1:9465", metavar="HOST:PORT",
                   help="address to serve /metrics on (default 127.0.0.1:9465; ':9465' = all IPv4)")
    p.add_argument("--netns", action="append", default=[], metavar="NAME",
                   help="export this named network namespace (repeatable); adds the netns label")
    p.add_argument("--netns-pid", type=int, action="append", default=[], metavar="PID",
                   help="export the network namespace of process PID (label netns=\"pid:PID\")")
    p.add_argument("--refresh", type=float, default=10.0, metavar="S",
                   help="seconds between background reads of the table (default 10)")
    p.add_argument("--top", type=int, default=10, metavar="N",
                   help="top-N sources/destinations/ports per namespace, plus 'other' (default 10; 0..100)")
    p.add_argument("--source", choices=("auto", "proc", "ctnetlink"), default="auto",
                   help="proc files only, 'conntrack -L/-S' (ctnetlink) only, or proc first (default)")
    p.add_argument("--read-timeout", type=float, default=60.0, metavar="S",
                   help="a read taking longer is abandoned, its child ended and restarted (default 60)")
    p.add_argument("--no-kmsg", action="store_true", help="do not read /dev/kmsg")


def build_targets(args) -> list:
    from ..errors import InputError
    from ..exporter.targets import local_target, netns_target, pid_target

    if not 0 <= args.top <= 100:
        raise InputError("must be 0..100 (each top family has N+1 series per namespace)", "--top")
    if len(set(args.netns)) != len(args.netns):
        raise InputError("a namespace is named twice", "--netns")
    kw = {"top": args.top, "source": args.source}
    targets = [netns_target(n, **kw) for n in args.netns] + [pid_target(p, **kw) for p in args.netns_pid]
    targets = targets or [local_target(**kw)]
    for t in targets:
        t.timeout = args.read_timeout
    return targets


def run(args) -> int:
    import os
    import signal
    import sys

    from ..exporter.server import Exporter

    targets = build_targets(args)
    exp = Exporter(targets, refresh=args.refresh, listen=args.listen,
                   kmsg=None if args.no_kmsg else "/dev/kmsg")

    def _term(signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _term)
    exp.start()
    try:
        print(f"ctscope exporter: serving {exp.url} (pid {os.getpid()}, refresh {args.refresh:g} s, "
              f"{len(targets)} namespace(s))", file=sys.stderr, flush=True)
        for t in targets:
            if not t.up:
                print(f"  {t.label or 'this namespace'}: first read failed: {t.last_error}", file=sys.stderr)
            for m in (t.snapshot or {}).get("missing", []):
                print(f"  {t.label or 'this namespace'}: not read: {m['source']}: {m['reason']}",
                      file=sys.stderr)
        if exp.kmsg is not None and not exp.kmsg.available:
            print(f"  not read: {exp.kmsg.path}: {exp.kmsg.error}", file=sys.stderr)
        exp.wait()
    except KeyboardInterrupt:
        pass
    finally:
        exp.stop()
    return 0
