"""``ctscope doctor``'s analysis: from a snapshot dict (live, ``--netns``, or a saved
file) to the report -- usage against thresholds, who fills the table, counters with
their meaning, table-full log lines, rules, settings that will not survive a reboot,
kube-proxy, then a diagnosis in plain words and ranked remedies with exact commands.

``diagnose()`` returns the ``--json`` object (documented in ``commands/doctor.py``);
the conclusion is drawn in ``remedies.py``; ``render()`` (``report_text.py``) prints
it for people.
"""
from __future__ import annotations

import ipaddress

from .kmsg import boot_time, wallclock

THRESHOLDS = (0.50, 0.75, 0.90)
INIT_NETNS_INODE = 4026531833          # PROC_NET_INIT_INO: the initial namespace
BYTES_PER_ENTRY = 380                   # kernel reference (ctscope size)
STAT_MEANING = {
    "drop": "packets dropped because no entry could be created (table full) -- the symptom",
    "early_drop": "unassured entries evicted to make room (the table was full)",
    "insert_failed": "entries that lost a race at confirmation (NAT/UDP clash): packet dropped",
    "invalid": "packets conntrack could not track (bad TCP state/window, no L4 header ...)",
    "error": "ICMP errors that matched no entry or were malformed",
    "clash_resolve": "races at confirmation that were resolved (harmless)",
    "chaintoolong": "hash chain too long at insert: packet dropped (hash attack or tiny buckets)",
    "search_restart": "lookups restarted because the hash changed underneath (resizes)",
    "found": "tuples found taken while choosing a NAT port",
    "insert": "entries created through ctnetlink (conntrack -I)",
}
def level(usage: float | None) -> str:
    if usage is None:
        return "unknown"
    return ("critical" if usage >= THRESHOLDS[2] else "warning" if usage >= THRESHOLDS[1]
            else "notice" if usage >= THRESHOLDS[0] else "ok")


def _split_dport(text: str) -> tuple[str, int | None]:
    proto, _, port = text.partition("/")
    return proto, int(port) if port.isdigit() else None


def _canon(addr: str) -> str:
    try:
        return str(ipaddress.ip_address(addr))
    except ValueError:
        return addr


def _problems(snap: dict) -> list[dict]:
    out: list[dict] = []

    def add(items):
        for p in items or []:
            if p not in out:
                out.append(p)
    for key in ("sysctl", "table", "kernel_log", "slab", "module", "config", "rules"):
        part = snap.get(key)
        if key == "module" and isinstance(part, dict) and part.get("kind", "unknown") != "unknown":
            continue      # evidence files that do not exist once the answer is known
        if isinstance(part, dict):
            add(part.get("problems"))
    add(snap.get("stat_problems"))
    return out


def _top(table: dict) -> dict:
    s = table.get("summary") or {}
    total = s.get("total", 0)
    top = {"sources": [{"src": _canon(a), "count": n} for a, n in s.get("top_sources", [])],
           "destinations": [{"dst": _canon(a), "count": n} for a, n in s.get("top_destinations", [])],
           "dports": [], "pairs": []}
    for text, n in s.get("top_dports", []):
        proto, port = _split_dport(text)
        top["dports"].append({"dport": port, "proto": proto, "count": n})
    for p in table.get("top_source_ports", []):
        top["pairs"].append({"src": _canon(p["src"]), "dport": p["dport"], "proto": p["proto"],
                             "count": p["count"]})
    top["other"] = {k: max(0, total - sum(x["count"] for x in top[k])) for k in
                    ("sources", "destinations", "dports", "pairs")}
    return top


def _by_state(summary: dict) -> dict:
    out: dict = {}
    for key, n in (summary.get("by_state") or {}).items():
        proto, _, state = key.partition(" ")
        out.setdefault(proto, {})[state] = n
    return out


def _persistence(snap: dict, values: dict) -> list[str]:
    """Settings live now that will not come back after a reboot (and why)."""
    out: list[str] = []
    module = (snap.get("module") or {}).get("kind", "unknown")
    config = snap.get("config") or {}
    findings = config.get("findings") or []
    effective = config.get("effective") or {}
    sysctl_keys = [f for f in findings if f["kind"] == "sysctl" and f["key"].startswith("net.netfilter.")]
    loads = [f for f in findings if f["kind"] == "modules-load" and f["key"].replace("-", "_") == "nf_conntrack"]
    if module.startswith("module") and sysctl_keys and not loads:
        out.append(f"{sysctl_keys[0]['path']} sets net.netfilter.* keys but nothing loads nf_conntrack "
                   "before systemd-sysctl runs: the keys do not exist yet and are skipped at boot "
                   "(add 'nf_conntrack' to /etc/modules-load.d/nf_conntrack.conf)")
    mx = values.get("nf_conntrack_max")
    conf_max = effective.get("net.netfilter.nf_conntrack_max") or effective.get("net.nf_conntrack_max")
    kube = snap.get("kube_proxy") or {}
    if isinstance(mx, int) and conf_max is not None and conf_max.strip().isdigit() and int(conf_max) != mx \
            and not kube.get("found"):
        out.append(f"nf_conntrack_max is {mx:,} now but the sysctl.d files set {int(conf_max):,}: "
                   "the running value was changed by hand and is lost at reboot")
    default = _default_table()
    if isinstance(mx, int) and conf_max is None and default and mx != default[1] and not kube.get("found"):
        out.append(f"nf_conntrack_max is {mx:,} (kernel default here {default[1]:,}) and no sysctl.d "
                   "file sets it: it is lost at reboot")
    buckets = values.get("nf_conntrack_buckets")
    hs_conf = [f for f in findings if f["kind"] == "modprobe-options" and f["key"] == "hashsize"]
    cmdline = [o for o in (snap.get("module") or {}).get("cmdline_options", []) if "hashsize=" in o]
    if isinstance(buckets, int) and default and buckets != default[0]:
        if module == "builtin" and not cmdline:
            out.append(f"nf_conntrack_buckets is {buckets:,} (default {default[0]:,}) but nf_conntrack is "
                       "built in and the kernel command line has no nf_conntrack.hashsize=: lost at reboot")
        elif module.startswith("module") and not hs_conf and not cmdline:
            out.append(f"nf_conntrack_buckets is {buckets:,} (default {default[0]:,}) but no "
                       "'options nf_conntrack hashsize=' in /etc/modprobe.d: lost at reboot")
    if module == "builtin" and hs_conf:
        out.append(f"{hs_conf[0]['path']}: 'options nf_conntrack hashsize=' is ignored because "
                   "nf_conntrack is built in (use nf_conntrack.hashsize= on the kernel command line)")
    return out


_DEFAULT_CACHE: list = []


def _default_table() -> tuple[int, int] | None:
    if not _DEFAULT_CACHE:
        try:
            from ..engine.settings import host_ram, ram_defaults
            _DEFAULT_CACHE.append(ram_defaults(host_ram()))
        except Exception:     # no /proc/meminfo (offline analysis elsewhere)
            _DEFAULT_CACHE.append(None)
    return _DEFAULT_CACHE[0]


def _log_events(snap: dict, own: str, drops: int | None) -> list[dict]:
    """Table-full lines with wall-clock times; ``this_netns`` marks this namespace's.

    Namespace inode numbers are reused: a line naming our inode can come from an
    earlier namespace.  Every table-full line of a namespace also counted a ``drop``
    in that namespace's own statistics, so with ``drop == 0`` none of them is ours."""
    log = snap.get("kernel_log") or {}
    bt = boot_time() if snap.get("kind") != "table-file" else None
    bt = snap.get("boot_time", bt)
    ours_possible = own == "init" or drops is None or drops > 0
    return [{"time": wallclock(e.get("usec"), bt), "netns": e.get("netns"), "message": e.get("message"),
             "this_netns": e.get("netns") == own and ours_possible} for e in log.get("events", [])]


def churn_between(older: dict, newer: dict) -> dict:
    """Churn from two snapshots holding the table text: entries that appeared and went."""
    from .digest import digest
    t0, t1 = older.get("time"), newer.get("time")
    a, b = older.get("table_text"), newer.get("table_text")
    if a is None or b is None or not t0 or not t1 or t1 <= t0:
        return {"source": "unavailable", "why": "both snapshots need the table and times, newer second"}
    k0 = digest(a.encode(), keys=True).keys
    k1 = digest(b.encode(), keys=True).keys
    dt = t1 - t0
    new, gone = len(k1 - k0), len(k0 - k1)
    return {"source": "two snapshots", "seconds": round(dt, 3), "new": new, "update": None,
            "destroy": gone, "new_per_s": round(new / dt, 1), "destroy_per_s": round(gone / dt, 1),
            "top_new_dports": [], "note": "entries that came and went between the two are not seen"}


def diagnose(snap: dict, netns: str = "", churn: dict | None = None, max_override: int | None = None,
             rules: dict | None = None) -> dict:
    """The doctor's report (the ``--json`` object) of one snapshot dict; ``rules``: an
    ``analyse_rules()`` result computed beforehand (else the snapshot's dumps are analysed)."""
    values = (snap.get("sysctl") or {}).get("values") or {}
    table = snap.get("table") or {}
    summary = table.get("summary") or {}
    count = values.get("nf_conntrack_count")
    if not isinstance(count, int):
        count = summary.get("total") if summary else None
    mx = max_override or values.get("nf_conntrack_max")
    mx = mx if isinstance(mx, int) else None
    buckets = values.get("nf_conntrack_buckets") if isinstance(values.get("nf_conntrack_buckets"), int) else None
    usage = (count / mx) if (count is not None and mx) else None
    stat = snap.get("stat") or {}
    stats = dict(stat.get("totals") or {})
    inode = snap.get("netns_inode")
    own = "init" if inode in (None, INIT_NETNS_INODE) else str(inode)
    events = _log_events(snap, own, stats.get("drop") if stats else None)
    if rules is None and snap.get("rules"):
        from .ruleset import analyse_rules
        rules = analyse_rules(snap["rules"])
    rules = rules or {"conntrack_users": [], "notrack": [], "problems": []}
    rep = {
        "netns": netns, "netns_inode": inode, "source": snap.get("source", "live"),
        "count": count, "max": mx, "buckets": buckets,
        "usage": round(usage, 4) if usage is not None else None, "level": level(usage),
        "thresholds": list(THRESHOLDS),
        "entries_listed": summary.get("total"), "table_note": table.get("note", ""),
        "by_protocol": dict(summary.get("by_proto") or {}), "by_state": _by_state(summary),
        "flags": dict(summary.get("flags") or {}),
        "top": _top(table) if summary else {"sources": [], "destinations": [], "dports": [], "pairs": [],
                                             "other": {}},
        "churn": churn or {"source": "not measured"},
        "stats": stats, "stats_meaning": {k: STAT_MEANING[k] for k in stats if k in STAT_MEANING},
        "log_events": events,
        "log_suppressed": (snap.get("kernel_log") or {}).get("suppressed", {}),
        "rules": rules, "module": (snap.get("module") or {}).get("kind", "unknown"),
        "persistence": _persistence(snap, values) if snap.get("kind") != "table-file" else [],
        "kube_proxy": snap.get("kube_proxy") or {"found": False},
        "problems": _problems(snap),
    }
    from .remedies import conclude
    rep["diagnosis"], rep["remedies"] = conclude(rep, values)
    return rep


def render(rep: dict, top: int = 10) -> list[str]:
    """The report for people (``report_text.render``)."""
    from .report_text import render as _render
    return _render(rep, top)


