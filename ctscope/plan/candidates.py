"""Candidate remedies built from what the capture did to the table.

Inputs: the baseline scenario, the *demand* run (the same capture with an unbounded
table: how many entries the traffic needs when nothing is dropped), its state mix and
composition at its peak.  Each builder returns ``Scenario`` objects or nothing:

* ``stop_tracking`` -- the seed's first remedy: every packet untracked (as if the
  module were unloaded); lists the rules that force conntrack and would have to go;
* ``size_table`` -- max/buckets that hold the demand with ``headroom``; ``kube_proxy``
  -- what kube-proxy would set (max(32768 x CPUs, 131072), hashsize max/4 if larger);
* ``notrack`` -- NOTRACK for the ports, or the addresses, that hold most entries at the
  peak (with mirrored rules for the replies and the untracked-accept rules);
* ``timeouts`` -- shorter timeouts for the states that hold >= 5 % of the entries.
"""
from __future__ import annotations

from ..rules import NotrackMatch
from .scenario import Scenario, derive_settings

KUBE_PER_CORE = 32768
KUBE_MIN = 131072
SHARE_MIN = 0.05          # a port/address/state must hold this share of the peak to matter
COVER_TARGET = 0.90       # NOTRACK: stop adding keys once this share is covered
MAX_KEYS = 8

# state (as Tracker.state_mix names it) -> [(sysctl, proposed value, why)]
TIMEOUTS = {
    "tcp TIME_WAIT": [("nf_conntrack_tcp_timeout_time_wait", 30,
                       "closed connections linger 120 s in TIME_WAIT; 30 s still covers late segments")],
    "tcp SYN_SENT": [("nf_conntrack_tcp_timeout_syn_sent", 30, "unanswered SYNs (scans, floods, dead peers)")],
    "tcp SYN_RECV": [("nf_conntrack_tcp_timeout_syn_recv", 30, "half-open handshakes")],
    "tcp ESTABLISHED": [("nf_conntrack_tcp_timeout_established", 86400,
                         "idle or vanished peers stay 5 days; kube-proxy uses 24 h")],
    "tcp FIN_WAIT": [("nf_conntrack_tcp_timeout_fin_wait", 30, "half-closed connections")],
    "tcp CLOSE_WAIT": [("nf_conntrack_tcp_timeout_close_wait", 30, "half-closed connections")],
    "tcp LAST_ACK": [("nf_conntrack_tcp_timeout_last_ack", 10, "closing connections")],
    "tcp CLOSE": [("nf_conntrack_tcp_timeout_close", 5, "reset connections")],
    "udp": [("nf_conntrack_udp_timeout", 10, "one-shot datagrams (DNS, probes) stay 30 s"),
            ("nf_conntrack_udp_timeout_stream", 60, "UDP streams stay 120 s after their last packet")],
    "udplite": [("nf_conntrack_udp_timeout", 10, "one-shot datagrams stay 30 s")],
    "icmp": [("nf_conntrack_icmp_timeout", 10, "echo requests stay 30 s")],
    "icmpv6": [("nf_conntrack_icmpv6_timeout", 10, "echo requests stay 30 s")],
    "gre": [("nf_conntrack_gre_timeout", 10, "GRE flows"), ("nf_conntrack_gre_timeout_stream", 60, "GRE streams")],
    "unknown": [("nf_conntrack_generic_timeout", 120, "other protocols stay 600 s")],
}


def round_up(n: int, step: int = 512) -> int:
    return max(step, -(-int(n) // step) * step)


def stop_tracking(base: Scenario, loader, users) -> Scenario:
    users = list(users)
    notes = []
    if users:
        notes.append(f"{len(users)} rule(s) force conntrack and would have to go: "
                     + "; ".join(str(u) for u in users[:5]) + (" ..." if len(users) > 5 else ""))
        if any("nat" in u.reason.lower() or "NAT" in u.reason for u in users):
            notes.append("the ruleset uses NAT, which cannot work without conntrack: not applicable")
    else:
        notes.append("no ruleset given (or none needs conntrack): pass --rules/--rules6 or --from-host "
                     "to list the rules that force conntrack")
    notes.append("loses stateful filtering (ct state / -m state) and NAT for all traffic")
    return Scenario("stop-tracking", "stop-tracking", "unload nf_conntrack (the seed's remedy 1)",
                    derive_settings(base.settings, {}), loader.load([NotrackMatch()]),
                    why=["every packet untracked, as with the module unloaded"], notes=notes,
                    emittable=False)


def size_table(base: Scenario, demand_peak: int, headroom: float) -> Scenario:
    want = round_up(demand_peak * (1 + headroom))
    cur = base.settings.get("nf_conntrack_max")
    why = [f"the traffic needs {demand_peak:,} entries at its peak (count incl. expired entries "
           f"not yet reaped); +{headroom:.0%} headroom = {want:,}",
           "buckets = max (the >= 5.15 default ratio: ~2 entries per chain, each entry hashed twice)"]
    if want <= cur:
        why[1:] = [f"the current max {cur:,} already holds this traffic with the headroom: keep it"]
        return Scenario("size-table", "size", f"keep nf_conntrack_max {cur:,} (enough with +{headroom:.0%})",
                        derive_settings(base.settings, {}), base.rules, why=why)
    sysctl = {"nf_conntrack_max": want, "nf_conntrack_buckets": want}
    return Scenario("size-table", "size", f"nf_conntrack_max = buckets = {want:,} (+{headroom:.0%})",
                    derive_settings(base.settings, sysctl), base.rules, sysctl=sysctl, why=why)


def kube_proxy(base: Scenario, cpus: int) -> Scenario:
    mx = max(KUBE_PER_CORE * cpus, KUBE_MIN)
    cur_max, cur_b = base.settings.get("nf_conntrack_max"), base.settings.get("nf_conntrack_buckets")
    mx = max(mx, cur_max)                  # kube-proxy only ever raises
    buckets = max(cur_b, mx // 4)
    sysctl = {"nf_conntrack_max": mx, "nf_conntrack_buckets": buckets}
    why = [f"kube-proxy: max(--conntrack-max-per-core {KUBE_PER_CORE} x {cpus} CPUs, --conntrack-min "
           f"{KUBE_MIN}) = {mx:,}; hashsize max/4 = {mx // 4:,} if larger than the current {cur_b:,}"]
    return Scenario("kube-proxy", "kube-proxy", f"kube-proxy's value: max {mx:,}, buckets {buckets:,}",
                    derive_settings(base.settings, sysctl), base.rules, sysctl=sysctl, why=why)


def _pick(items, total: int):
    chosen, covered = [], 0
    for it in items:
        if it["entries"] < SHARE_MIN * total or len(chosen) >= MAX_KEYS:
            break
        chosen.append(it)
        covered += it["entries"]
        if covered >= COVER_TARGET * total:
            break
    return chosen, covered


def _ranges(ports: list[int]) -> tuple:
    out = []
    for p in sorted(set(ports)):
        if out and out[-1][1] == p - 1:
            out[-1] = (out[-1][0], p)
        else:
            out.append((p, p))
    return tuple(out)


def _port_matches(items) -> tuple[list, list[str]]:
    """One NotrackMatch per protocol (its ports merged into ranges) and labels."""
    by_proto: dict = {}
    labels = []
    for it in items:
        by_proto.setdefault((it["protonum"], it["proto"]), []).append(it["port"])
    matches = []
    for (num, name), ports in by_proto.items():
        if None in ports:
            matches.append(NotrackMatch(proto=num))
            labels.append(name)
            continue
        rng = _ranges(ports)
        matches.append(NotrackMatch(proto=num, dports=rng))
        labels.append(f"{name}/" + ",".join(str(a) if a == b else f"{a}-{b}" for a, b in rng))
    return matches, labels


def notrack(base: Scenario, loader, comp: dict, nat: bool) -> list[Scenario]:
    total = comp.get("total", 0)
    if not total:
        return []
    out = []
    ports, pcov = _pick(comp.get("ports", []), total)
    matches, labels = _port_matches(ports)
    notes = ["untracked packets skip stateful filtering: the emitted files accept them explicitly "
             "(ct state untracked accept / -m state --state UNTRACKED -j ACCEPT)"]
    if nat:
        notes.append("the ruleset uses NAT: NOTRACKed flows cannot be NATed")
    if matches and pcov >= 0.5 * total:
        why = [f"{', '.join(labels)} hold {pcov:,} of the {total:,} entries at the peak "
               f"({100 * pcov / total:.0f} %)", "each rule is mirrored (source port) for the replies"]
        out.append(Scenario("notrack-ports", "notrack", "NOTRACK " + ", ".join(labels),
                            derive_settings(base.settings, {}), loader.load(matches), notrack=matches,
                            why=why, notes=list(notes)))
    best = None
    for side, field in (("daddr", "daddrs"), ("saddr", "saddrs")):
        chosen, cov = _pick(comp.get(field, []), total)
        if chosen and cov >= 0.5 * total and (best is None or cov > best[2]):
            best = (side, chosen, cov)
    if best and (best[2] >= pcov + 0.10 * total or (best[2] >= pcov and len(best[1]) < len(ports))):
        side, chosen, cov = best
        matches = []
        for fam in (4, 6):
            addrs = tuple(it["addr"] for it in chosen if (":" in it["addr"]) == (fam == 6))
            if addrs:
                matches.append(NotrackMatch(**{side: addrs}))
        labels = [f"{'to' if side == 'daddr' else 'from'} {it['addr']}" for it in chosen]
        why = [f"traffic {', '.join(labels)} holds {cov:,} of the {total:,} entries at the peak "
               f"({100 * cov / total:.0f} %)", "each rule is mirrored for the replies"]
        out.append(Scenario("notrack-addrs", "notrack", "NOTRACK " + ", ".join(labels),
                            derive_settings(base.settings, {}), loader.load(matches), notrack=matches,
                            why=why, notes=list(notes)))
    return out


def timeouts(base: Scenario, mix: dict) -> Scenario | None:
    total = sum(mix.values())
    if not total:
        return None
    sysctl, why = {}, []
    for state, n in mix.items():
        if n < SHARE_MIN * total:
            continue
        for name, value, reason in TIMEOUTS.get(state, []):
            cur = base.settings.get(name)
            if value < cur:
                sysctl[name] = value
                why.append(f"{name} {cur} -> {value}: {state} holds {100 * n / total:.0f} % of the "
                           f"entries at the peak ({reason})")
    if not sysctl:
        return None
    title = "timeouts " + ", ".join(f"{k.replace('nf_conntrack_', '').replace('_timeout', '')}={v}"
                                    for k, v in sysctl.items())
    notes = ["shorter timeouts forget quiet flows sooner: their next packet may be INVALID or "
             "start a new entry (tcp_loose)"]
    return Scenario("timeouts", "timeouts", title, derive_settings(base.settings, sysctl), base.rules,
                    sysctl=sysctl, why=why, notes=notes)
