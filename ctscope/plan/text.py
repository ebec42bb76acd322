"""Terminal rendering of a plan: scenarios side by side, then the ranking."""
from __future__ import annotations


def _mib(n) -> str:
    return f"{n / 2**20:,.1f}M"


def _cell(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


ROWS = [
    ("nf_conntrack_max", lambda d: d["nf_conntrack_max"]),
    ("buckets", lambda d: d["nf_conntrack_buckets"]),
    ("peak entries", lambda d: d["peak_entries"]),
    ("peak % of max", lambda d: f"{d['peak_pct_of_max']:.0f} %" if d["peak_pct_of_max"] is not None else "-"),
    ("s above 75 %", lambda d: d["seconds_above_75pct"]),
    ("s above 90 %", lambda d: d["seconds_above_90pct"]),
    ("s at max", lambda d: d["seconds_at_max"]),
    ("table-full drops", lambda d: d["table_full_drops"]),
    ("early drops", lambda d: d["early_drops"]),
    ("untracked pkts", lambda d: d["untracked"]),
    ("memory at peak", lambda d: _mib(d["memory"]["at_peak"])),
    ("memory at max", lambda d: _mib(d["memory"]["at_max"])),
    ("rank", lambda d: d.get("rank", "-")),
]


def side_by_side(cols: list[dict], rows=ROWS, label: str = "") -> list[str]:
    names = [c["name"] for c in cols]
    cells = [[_cell(f(c)) for c in cols] for _, f in rows]
    w0 = max(len(label), *(len(r[0]) for r in rows))
    widths = [max(len(n), *(len(cells[i][j]) for i in range(len(rows)))) for j, n in enumerate(names)]
    out = [label.ljust(w0) + "  " + "  ".join(n.rjust(w) for n, w in zip(names, widths))]
    for (rl, _), row in zip(rows, cells):
        out.append(rl.ljust(w0) + "  " + "  ".join(c.rjust(w) for c, w in zip(row, widths)))
    return out


def format_plan(d: dict) -> str:
    lines = []
    add = lines.append
    b = d["baseline"]
    add(f"capture     {d['capture']}: {d['frames']:,} frames over {d['duration_s']:.1f} s")
    add(f"baseline    {'this host' if b['from_host'] else 'settings given'}; RAM {b['ram_bytes'] / 2**30:.2f} GiB; "
        f"nf_conntrack_max {b['nf_conntrack_max']:,}, buckets {b['nf_conntrack_buckets']:,}"
        + (("; " + ", ".join(f"{k}={v}" for k, v in sorted(b["changed"].items()))) if b["changed"] else ""))
    add(f"demand      the traffic needs {d['demand_peak']:,} entries at its peak (replayed with no limit)")
    add(f"memory      {d['entry_bytes']} B per entry ({d['entry_bytes_source']}) + 8 B per bucket")
    add("")
    lines += side_by_side(d["scenarios"], label="scenario")
    add("")
    add("state mix at the peak")
    for sc in d["scenarios"]:
        mix = sc["state_mix_at_peak"]
        tot = sum(mix.values()) or 1
        add(f"  {sc['name']:<16} " + (", ".join(f"{k} {100 * v / tot:.0f} %" for k, v in list(mix.items())[:5])
                                      or "(empty)"))
    add("")
    add("scenarios")
    for sc in d["scenarios"]:
        add(f"  {sc['name']:<16} {sc['title']}")
        for w in sc["why"]:
            add(f"  {'':<16}   {w}")
    add("")
    rec = d["recommendation"]
    if rec is None:
        add("ranking     the baseline neither drops packets nor evicts entries early: no remedy needed; "
            "remedies ranked for reference")
    add("ranking")
    for r in d["ranking"]:
        mark = "fixes" if r["fixes"] else "falls short"
        add(f"  {r['rank']}. {r['name']} ({mark}{'' if r['emittable'] else ', not emittable'}): {r['title']}")
        for why in r["reasons"]:
            add(f"       - {why}")
    if rec:
        add("")
        add(f"recommended {rec['name']}: {rec['title']}")
    for n in d["notes"]:
        add(f"note        {n}")
    return "\n".join(lines)
