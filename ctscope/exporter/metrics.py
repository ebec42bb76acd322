"""Metric families built from the targets' last snapshots (a prometheus-client Collector).

node_exporter's names and help texts are kept verbatim (its ``_stat_*`` are gauges
there, so they stay gauges here) so existing dashboards and the node-mixin alert keep
working; everything else is ``ctscope_``.  Without ``--netns`` no series carries a
``netns`` label; with ``--netns``/``--netns-pid`` every series does.

Cardinality is bounded by configuration: per namespace, a fixed set of protocols and
TCP states (plus protocols/states actually present, at most a few dozen), and for
each top-N family at most N + 1 series (the N largest and ``other``).
"""
from __future__ import annotations

import time

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily

NODE_HELP = {
    "found": "Number of searched entries which were successful.",
    "invalid": "Number of packets seen which can not be tracked.",
    "ignore": "Number of packets seen which are already connected to a conntrack entry.",
    "insert": "Number of entries inserted into the list.",
    "insert_failed": "Number of entries for which list insertion was attempted but failed.",
    "drop": "Number of packets dropped due to conntrack failure.",
    "early_drop": "Number of dropped conntrack entries to make room for new ones, if maximum table size was reached.",
    "search_restart": "Number of conntrack table lookups which had to be restarted due to hashtable resizes.",
}
STAT_HELP = {
    "found": "NAT tuple-in-use checks that found the tuple taken (normal lookups no longer count here).",
    "invalid": "Packets conntrack could not track (no L4 header, not invertible, rejected by the tracker).",
    "ignore": "Obsolete, always 0 on current kernels.",
    "insert": "Entries inserted through ctnetlink (normal confirmation does not count).",
    "insert_failed": "Confirmations that failed: unresolved clash, chain too long, dying entry.",
    "drop": "Packets dropped by conntrack: no entry could be allocated (table full) or insert failed.",
    "early_drop": "Entries evicted by early drop to make room when the table was full.",
    "error": "ICMP/ICMPv6 error packets that could not be handled (conntrack -S 'error', proc 'icmp_error').",
    "search_restart": "Hash lookups restarted because of a resize or a moved entry.",
    "clash_resolve": "Insert clashes (two packets creating the same entry) that were resolved.",
    "chaintoolong": "Inserts refused because a hash chain was too long (proc 'chainlength').",
    "expect_new": "Expectations that turned into new connections.",
    "expect_create": "Expectations created.",
    "expect_delete": "Expectations deleted.",
}
TCP_STATES = ("NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK",
              "TIME_WAIT", "CLOSE", "SYN_SENT2")
PROTOCOLS = ("tcp", "udp", "icmp", "icmpv6")
DEFAULT_ENTRY_BYTES = 320       # ecosystem.md §7: ~300-350 B per entry when unknown
BUCKET_BYTES = 8                # one hlist_nulls_head per bucket on 64-bit


class Families:
    """Metric families that add a ``netns`` label when the exporter runs labelled."""

    def __init__(self, labelled: bool):
        self.labelled = labelled
        self.fams: dict = {}

    def _get(self, cls, name: str, doc: str, labels: tuple[str, ...]):
        fam = self.fams.get(name)
        if fam is None:
            names = (("netns",) if self.labelled else ()) + labels
            fam = self.fams[name] = cls(name, doc, labels=list(names))
        return fam

    def gauge(self, target, name: str, doc: str, value, **labels) -> None:
        if value is not None:
            self._get(GaugeMetricFamily, name, doc, tuple(labels)).add_metric(
                self._values(target, labels), float(value))

    def counter(self, target, name: str, doc: str, value, **labels) -> None:
        if value is not None:
            self._get(CounterMetricFamily, name, doc, tuple(labels)).add_metric(
                self._values(target, labels), float(value))

    def info(self, target, name: str, doc: str, value: dict) -> None:
        fam = self.fams.get(name)
        if fam is None:
            fam = self.fams[name] = InfoMetricFamily(name, doc, labels=["netns"] if self.labelled else [])
        fam.add_metric([target.label] if self.labelled else [], value)

    def _values(self, target, labels: dict) -> list[str]:
        return ([target.label] if self.labelled else []) + [str(v) for v in labels.values()]


def _top(f: Families, t, name: str, doc: str, label: str, items, total: int | None) -> None:
    shown = 0
    for key, n in items:
        f.gauge(t, name, doc, n, **{label: key})
        shown += n
    if total is not None:
        f.gauge(t, name, doc, max(0, total - shown), **{label: "other"})


def table_families(f: Families, t, tab: dict) -> None:
    """Counts from the table summary (needs root or CAP_NET_ADMIN)."""
    f.gauge(t, "ctscope_nf_conntrack_listed_entries",
            "Entries listed in the table (confirmed, unexpired); nf_conntrack_count also counts "
            "unconfirmed and not yet reaped ones.", tab["total"])
    by_proto = dict.fromkeys(PROTOCOLS, 0) | tab["by_proto"]
    for proto, n in sorted(by_proto.items()):
        f.gauge(t, "ctscope_nf_conntrack_entries_by_protocol", "Listed entries by layer-4 protocol.",
                n, protocol=proto)
    states = {f"tcp {s}": 0 for s in TCP_STATES} | tab["by_state"]
    for key, n in sorted(states.items()):
        proto, _, state = key.partition(" ")
        f.gauge(t, "ctscope_nf_conntrack_entries_by_state",
                "Listed entries by protocol state (TCP, SCTP, DCCP; every TCP state is always present).",
                n, protocol=proto, state=state)
    flags = tab.get("flags") or {}
    f.gauge(t, "ctscope_nf_conntrack_assured_entries",
            "Listed entries flagged [ASSURED] (immune to early drop).", flags.get("assured", 0))
    f.gauge(t, "ctscope_nf_conntrack_unreplied_entries",
            "Listed entries flagged [UNREPLIED] (no reply seen yet).", flags.get("unreplied", 0))
    _top(f, t, "ctscope_nf_conntrack_top_source_entries",
         "Listed entries by ORIGINAL source address: the top N and 'other'.", "source",
         tab["top_sources"], tab["total"])
    _top(f, t, "ctscope_nf_conntrack_top_destination_entries",
         "Listed entries by ORIGINAL destination address: the top N and 'other'.", "destination",
         tab["top_destinations"], tab["total"])
    ported = sum(n for p, n in tab["by_proto"].items() if p in ("tcp", "udp", "udplite", "sctp", "dccp"))
    _top(f, t, "ctscope_nf_conntrack_top_dport_entries",
         "Listed entries with ports by ORIGINAL destination port ('tcp/443'): the top N and 'other'.",
         "dport", tab["top_dports"], ported)


def snapshot_families(f: Families, t, snap: dict, table_full: int | None) -> None:
    """All conntrack metrics of one target's snapshot."""
    count, stat = snap.get("count"), snap.get("stat")
    f.gauge(t, "node_nf_conntrack_entries",
            "Number of currently allocated flow entries for connection tracking.", count)
    f.gauge(t, "node_nf_conntrack_entries_limit", "Maximum size of connection tracking table.",
            snap.get("max"))
    if stat is not None:
        for name, doc in NODE_HELP.items():
            f.gauge(t, f"node_nf_conntrack_stat_{name}", doc, stat.get(name, 0))
        for name in list(STAT_HELP) + sorted(set(stat) - set(STAT_HELP)):
            f.counter(t, f"ctscope_nf_conntrack_stat_{name}",
                      STAT_HELP.get(name, f"Kernel conntrack statistic '{name}', summed over CPUs."),
                      stat.get(name, 0))
    f.gauge(t, "ctscope_nf_conntrack_buckets", "Hash table buckets (nf_conntrack_buckets; global).",
            snap.get("buckets"))
    if count is not None:
        per = snap.get("slab_objsize") or DEFAULT_ENTRY_BYTES
        f.gauge(t, "ctscope_nf_conntrack_memory_estimate_bytes",
                "Kernel memory estimate: entries x nf_conntrack slab object size (320 B if unknown) "
                "+ buckets x 8 B of hash heads (the hash table is shared by all namespaces).",
                count * per + (snap.get("buckets") or 0) * BUCKET_BYTES)
    if snap.get("table") is not None:
        table_families(f, t, snap["table"])
    f.counter(t, "ctscope_nf_conntrack_table_full_log_lines",
              "Kernel log lines 'nf_conntrack: table full[ in netns N], dropping packet' seen by this "
              "exporter (rate limited by the kernel: drops are at least this many).", table_full)


def exporter_families(f: Families, t, now: float) -> None:
    """Health of the background reads of one target."""
    snap = t.snapshot
    f.gauge(t, "ctscope_exporter_up", "1 if the last background read of this namespace succeeded.",
            1 if t.up else 0)
    f.counter(t, "ctscope_exporter_reads", "Background reads attempted.", t.reads)
    f.counter(t, "ctscope_exporter_read_errors", "Background reads that failed (old data kept).", t.errors)
    if snap is not None:
        f.gauge(t, "ctscope_exporter_snapshot_age_seconds",
                "Seconds since the served snapshot was read (scrapes never read the kernel).",
                max(0.0, now - snap["monotonic"]))
        f.gauge(t, "ctscope_exporter_read_duration_seconds",
                "Wall time of the read that produced the served snapshot.", snap["read_duration"])


class ConntrackCollector:
    """prometheus-client collector over the targets' snapshots (cheap: no kernel reads)."""

    def __init__(self, targets, kmsg=None):
        self.targets = targets
        self.kmsg = kmsg
        self.labelled = any(t.label is not None for t in targets)

    def _table_full(self, t) -> int | None:
        if self.kmsg is None or not self.kmsg.available or t.snapshot is None:
            return None
        inode = t.snapshot.get("netns_inode")
        initial = self.kmsg.is_initial(inode)
        return self.kmsg.lines_for(inode, t.label is None if initial is None else initial)

    def _missing(self, t) -> list[dict]:
        out = list((t.snapshot or {}).get("missing", []))
        if self.kmsg is not None and not self.kmsg.available:
            out.append({"source": self.kmsg.path, "reason": self.kmsg.error,
                        "metrics": "ctscope_nf_conntrack_table_full_log_lines_total"})
        return out

    def collect(self):
        f = Families(self.labelled)
        now = time.monotonic()
        for t in self.targets:
            exporter_families(f, t, now)
            if t.snapshot is not None:
                snapshot_families(f, t, t.snapshot, self._table_full(t))
            for m in self._missing(t):
                f.info(t, "ctscope_exporter_missing",
                       "What this exporter cannot read here, why, and which metrics are absent.",
                       {k: str(v) for k, v in m.items()})
        yield from f.fams.values()
