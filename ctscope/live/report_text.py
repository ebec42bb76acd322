"""``ctscope doctor``'s text report (the same content as ``--json``)."""
from __future__ import annotations

from .doctor import STAT_MEANING

def _pct(n: int, total: int) -> str:
    return f"{n / total:6.1%}" if total else "     -"


def render(rep: dict, top: int = 10) -> list[str]:
    out: list[str] = []
    where = f"netns {rep['netns']}" if rep["netns"] else "this network namespace"
    out.append(f"ctscope doctor -- {where} ({rep['source']})")
    if rep["usage"] is not None:
        bar = int(rep["usage"] * 40 + 0.5)
        out.append(f"usage    [{'#' * min(bar, 40)}{'.' * (40 - min(bar, 40))}] {rep['usage']:.1%}  "
                   f"{rep['count']:,} / {rep['max']:,}  level {rep['level'].upper()}  "
                   f"(buckets {rep['buckets'] or '?':,})" if rep["buckets"] else
                   f"usage    {rep['usage']:.1%}  {rep['count']:,} / {rep['max']:,}  level {rep['level'].upper()}")
    elif rep["count"] is not None:
        out.append(f"entries  {rep['count']:,}  (max unknown)")
    if rep["table_note"]:
        out.append(f"         {rep['table_note']}")
    total = rep["entries_listed"] or 0
    if total:
        out.append("by protocol: " + ", ".join(f"{k} {v:,}" for k, v in rep["by_protocol"].items()))
        for proto, st in rep["by_state"].items():
            out.append(f"  {proto:<6} " + ", ".join(f"{s} {n:,}" for s, n in sorted(st.items(), key=lambda x: -x[1])))
        f = rep["flags"]
        out.append(f"  flags  assured {f.get('assured', 0):,}, unreplied {f.get('unreplied', 0):,}"
                   + (f", offload {f.get('offload', 0) + f.get('hw_offload', 0):,}" if f.get("offload") or f.get("hw_offload") else ""))
        t = rep["top"]
        for title, key, fmt in (("top sources", "sources", lambda x: x["src"]),
                                ("top destinations", "destinations", lambda x: x["dst"]),
                                ("top destination ports", "dports", lambda x: f"{x['proto']}/{x['dport']}"),
                                ("top (source, port) pairs", "pairs",
                                 lambda x: f"{x['src']} -> {x['proto']}/{x['dport'] if x['dport'] is not None else '-'}")):
            out.append(f"{title}:")
            for x in t[key][:top]:
                out.append(f"  {x['count']:>10,} {_pct(x['count'], total)}  {fmt(x)}")
            if t["other"].get(key):
                out.append(f"  {t['other'][key]:>10,} {_pct(t['other'][key], total)}  other")
    c = rep["churn"]
    if c.get("new_per_s") is not None:
        out.append(f"churn: {c['new_per_s']}/s new, {c['destroy_per_s']}/s destroyed over {c['seconds']} s ({c['source']})")
    elif c.get("why"):
        out.append(f"churn: not measured ({c['why']})")
    if rep["stats"]:
        out.append("counters (conntrack -S, summed over CPUs):")
        for k, v in rep["stats"].items():
            if k in STAT_MEANING and (v or k in ("drop", "early_drop", "insert_failed", "invalid")):
                out.append(f"  {k:<15}{v:>12,}  {STAT_MEANING[k]}")
    if rep["log_events"]:
        out.append(f"kernel log: {len(rep['log_events'])} 'table full' lines "
                   f"({sum(e['this_netns'] for e in rep['log_events'])} for this namespace)")
        for e in rep["log_events"][-5:]:
            out.append(f"  {e['time'] or '?'}  {e['message']}")
        if rep["log_suppressed"]:
            out.append("  rate limited: " + ", ".join(f"{k} {v} callbacks suppressed" for k, v in rep["log_suppressed"].items()))
    r = rep["rules"]
    if r["conntrack_users"] or r["notrack"]:
        out.append(f"rules: {len(r['conntrack_users'])} need conntrack, {len(r['notrack'])} NOTRACK")
        for line in r["notrack"][:5]:
            out.append(f"  notrack: {line}")
        for line in r["conntrack_users"][:5]:
            out.append(f"  uses conntrack: {line}")
    out.append(f"nf_conntrack: {rep['module']}")
    out.append("")
    out.append("diagnosis:")
    out += [f"  {d}" for d in rep["diagnosis"]]
    if rep["remedies"]:
        out.append("")
        out.append("remedies (ranked):")
        for rem in rep["remedies"]:
            out.append(f"  {rem['rank']}. {rem['title']}")
            out += [f"       {c}" for c in rem["commands"]]
            out.append(f"       test first: {rem['plan']}")
            out.append(f"       caveat: {rem['caveat']}")
    if rep["problems"]:
        out.append("")
        out.append("could not read:")
        out += [f"  {p['what']}: {p['why']}" for p in rep["problems"]]
    return out
