"""Rank replayed remedies and say why.

Order: fewest table-full drops first; then no early drops; then never above 90 % of
max; then the cheaper kind of remedy (NOTRACK, the seed's recommendation, before a
bigger table, kube-proxy's value, shorter timeouts, and stopping tracking, which
loses stateful filtering and NAT); then less kernel memory at max.
"""
from __future__ import annotations

HASH_HEAD = 8   # bytes per bucket head on 64-bit


def memory(max_: int, buckets: int, peak: int, entry_bytes: int, unloaded: bool = False) -> dict:
    """Kernel memory of the table at its peak and when full (none with the module unloaded)."""
    if unloaded:
        return {"at_peak": 0, "at_max": 0, "entry_bytes": entry_bytes}
    return {"at_peak": peak * entry_bytes + buckets * HASH_HEAD,
            "at_max": max_ * entry_bytes + buckets * HASH_HEAD, "entry_bytes": entry_bytes}


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


def reasons(sc, res, base_res, mem: dict, base_mem: dict) -> list[str]:
    out = []
    bd = base_res.drops
    if res.drops == 0:
        out.append(f"removes all {bd:,} table-full drops" if bd else "no table-full drops")
    else:
        out.append(f"still drops {res.drops:,} packets ({100 * res.drops / bd:.0f} % of the baseline's)"
                   if bd else f"drops {res.drops:,} packets")
    pct = 100 * res.peak / res.max if res.max else 0
    out.append(f"peak {res.peak:,} entries = {pct:.0f} % of max {res.max:,}")
    if res.early_drops:
        out.append(f"{res.early_drops:,} early drops (unreplied entries evicted)")
    t90 = res.summary.get("seconds_above_90", 0.0)
    if t90:
        out.append(f"{t90:.0f} s above 90 % of max: little headroom")
    delta = mem["at_max"] - base_mem["at_max"]
    out.append(f"kernel memory {_mib(mem['at_max'])} at max ({'+' if delta >= 0 else ''}{_mib(delta)} "
               f"vs baseline)")
    if sc.kind == "notrack":
        out.append("NOTRACK is the seed's recommended remedy: exempted flows cost no entries")
    if sc.kind == "stop-tracking":
        out.append("last resort: no stateful filtering, no NAT")
    return out + list(sc.notes)


def rank(scenarios, results: dict, entry_bytes: int) -> list[dict]:
    """[{name, rank, fixes, key, reasons, memory}] for every scenario but the baseline,
    best first."""
    base = next(s for s in scenarios if s.kind == "baseline")
    base_res = results[base.name]
    base_mem = memory(base_res.max, base_res.buckets, base_res.peak, entry_bytes)
    rows = []
    for sc in scenarios:
        if sc is base:
            continue
        r = results[sc.name]
        mem = memory(r.max, r.buckets, r.peak, entry_bytes, sc.kind == "stop-tracking")
        t90 = r.summary.get("seconds_above_90", 0.0)
        key = (r.drops, 1 if r.early_drops else 0, 1 if t90 > 0 else 0, sc.cost, mem["at_max"])
        rows.append({"name": sc.name, "kind": sc.kind, "title": sc.title, "fixes": r.drops == 0,
                     "emittable": sc.emittable, "key": key,
                     "reasons": reasons(sc, r, base_res, mem, base_mem), "memory": mem})
    rows.sort(key=lambda x: x["key"])
    for i, row in enumerate(rows, 1):
        row["rank"] = i
        row["key"] = list(row["key"])
    return rows
