"""``ctscope doctor``: diagnose a full (or filling) conntrack table and say what to do."""
from __future__ import annotations

HELP = "diagnose 'nf_conntrack: table full' on this host (or a saved file) and rank remedies"
DESCRIPTION = """\
Read (never write) this host's conntrack state and answer: how full is the table,
who fills it, is it dropping packets, since when, and what to do about it.

Reports usage against the 50 / 75 / 90 % alert thresholds; entries by protocol and
state; the top sources, destinations, destination ports and (source, port) pairs with
an "other" line; churn (new and destroyed entries per second, counted with
'conntrack -E' for --churn seconds); the counters of 'conntrack -S' with what each
means (drop = the symptom, early_drop, insert_failed ...); 'table full' lines of the
kernel log and when; rules that force conntrack and existing NOTRACK rules; settings
that will not survive a reboot; kube-proxy overriding nf_conntrack_max.  It ends with a
diagnosis in plain words and ranked remedies with the exact commands, and the
'ctscope plan' line that tests each one first.

Sources (each optional; what cannot be read is listed with the reason):
  /proc/sys/net/netfilter/*        count, max, buckets, timeouts    anyone
  /proc/net/stat/nf_conntrack      counters                          anyone
  /proc/net/nf_conntrack           the table (who fills it)          root
  /dev/kmsg or dmesg               'table full' lines                root (dmesg_restrict)
  nft / iptables-save              the ruleset                       CAP_NET_ADMIN
  conntrack -E                     churn                             CAP_NET_ADMIN
  /etc/sysctl.d, modprobe.d, modules-load.d, /proc/slabinfo, kube-proxy
Unprivileged it still reports count/max/usage, the counters and the persistence checks.

--json prints one object:
  netns ("" = current), count, max, buckets, usage (0-1), level (ok/notice/warning/
  critical), by_protocol {"tcp": n}, by_state {"tcp": {"ESTABLISHED": n}}, flags
  {assured, unreplied, offload, hw_offload}, top {sources [{"src", "count"}],
  destinations [{"dst", "count"}], dports [{"dport", "proto", "count"}], pairs
  [{"src", "dport", "proto", "count"}], other {sources, destinations, dports, pairs}},
  churn {source, seconds, new, update, destroy, new_per_s, destroy_per_s,
  top_new_dports}, stats (conntrack -S names, as 'replay --stats': found invalid
  insert insert_failed drop early_drop error search_restart clash_resolve
  chaintoolong), log_events [{"time", "netns", "message", "this_netns"}], rules
  {conntrack_users, notrack}, module, persistence [..], kube_proxy {..}, problems
  [{"what", "why"}], diagnosis [sentences], remedies [{"rank", "title", "commands",
  "plan", "caveat", "frees_up_to"}].

examples:
  sudo ctscope doctor
  sudo ctscope doctor --netns blue --json
  ctscope doctor --input conntrack-L.txt --max 262144       # a table someone pasted
  sudo ctscope snapshot --out before.json; sleep 60; sudo ctscope snapshot --out after.json
  ctscope doctor --input after.json --compare before.json    # churn from two snapshots
"""


def add_arguments(p) -> None:
    from ..live.source import add_source_arguments
    add_source_arguments(p)
    p.add_argument("--compare", metavar="OLDER",
                   help="with --input SNAPSHOT: an older snapshot; churn = entries that appeared/went")
    p.add_argument("--max", type=int, metavar="N", help="nf_conntrack_max for a table file (it has no settings)")
    p.add_argument("--top", type=int, default=10, metavar="N", help="length of the top lists (default 10)")
    p.add_argument("--churn", type=float, default=1.0, metavar="SECONDS",
                   help="count conntrack events this long (live only; 0 = skip; default 1, "
                        "overlapping the table read)")
    p.add_argument("--json", action="store_true", help="print one JSON object (see above)")


def run(args) -> int:
    if not args.input and not args.netns:
        from ..live.tables import start_reading
        start_reading()          # the table walk (kernel time) runs while the rest loads

    import json

    from ..errors import InputError
    from ..live.doctor import churn_between, diagnose, render
    from ..live.source import read_snapshot

    if args.top < 1:
        raise InputError("must be at least 1", "--top")
    if args.compare and not args.input:
        raise InputError("--compare needs --input (two saved snapshots)", "--compare")
    probe = rules = None
    if not args.input and args.churn > 0:
        from ..live.events import measure_churn
        probe = measure_churn(args.churn, netns=args.netns)
    if not args.input and not args.netns:       # the ruleset is read while the table is
        rules = _Background(_host_rules)
    try:
        snap = read_snapshot(args, top=args.top, table_text=bool(args.compare), rules=rules is None)
        churn = probe.finish() if probe else None
        if rules is not None:
            dumps, rules = rules.result()
            snap["rules"] = dumps
        if args.compare:
            from ..live.inputs import load_input
            churn = churn_between(load_input(args.compare), snap)
        rep = diagnose(snap, netns=args.netns or snap.get("netns") or "", churn=churn, max_override=args.max,
                       rules=rules)
        text = json.dumps(rep, indent=1) if args.json else "\n".join(render(rep, args.top))
    except (TypeError, AttributeError, ValueError, KeyError, OverflowError, IndexError) as exc:
        if not args.input:
            raise
        # a saved file that is valid JSON but not shaped like a snapshot ctscope wrote:
        # report the file, not the place in the analysis where its content broke
        raise InputError(f"not a usable ctscope snapshot: unexpected content "
                         f"({type(exc).__name__}: {str(exc)[:80]})", args.input) from None
    print(text)
    return 0


def _host_rules():
    from ..live.ruleset import analyse_rules, read_rules
    dumps = read_rules()
    return dumps, analyse_rules(dumps)


class _Background:
    """Run ``fn`` in a thread (it waits in subprocesses and imports while the main
    thread reads the table in the kernel); ``result()`` joins and returns its value."""

    def __init__(self, fn):
        import threading
        self._value = self._error = None
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._thread.start()

    def _run(self, fn):
        try:
            self._value = fn()
        except Exception as exc:            # reported like any unreadable source
            self._error = exc

    def result(self):
        self._thread.join()
        if self._error is not None:
            return {"problems": [{"what": "ruleset", "why": str(self._error)}]}, None
        return self._value
