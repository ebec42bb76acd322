"""The doctor's conclusion: a diagnosis in plain words and ranked remedies, each with
the exact commands, the ``ctscope plan`` line that tests it first, and its caveat.
Scores are the entries a remedy addresses (NOTRACK of the port that fills the table
first when the table is full; raising the max always offered then)."""
from __future__ import annotations

from .doctor import BYTES_PER_ENTRY, THRESHOLDS

TIMEOUT_FOR_STATE = {
    "tcp TIME_WAIT": ("nf_conntrack_tcp_timeout_time_wait", 120, 30),
    "tcp CLOSE_WAIT": ("nf_conntrack_tcp_timeout_close_wait", 60, 15),
    "tcp SYN_SENT": ("nf_conntrack_tcp_timeout_syn_sent", 120, 30),
    "tcp SYN_RECV": ("nf_conntrack_tcp_timeout_syn_recv", 60, 20),
    "tcp FIN_WAIT": ("nf_conntrack_tcp_timeout_fin_wait", 120, 30),
    "tcp ESTABLISHED": ("nf_conntrack_tcp_timeout_established", 432000, 86400),
}


def _next_size(n: int) -> int:
    size = 1
    while size < n:
        size <<= 1
    return size


def _dominant_port(rep: dict) -> dict | None:
    total = rep["entries_listed"] or 0
    ports = rep["top"]["dports"]
    if total and ports and ports[0]["count"] >= 0.3 * total and ports[0]["dport"] is not None:
        return ports[0]
    return None


def conclude(rep: dict, values: dict) -> tuple[list[str], list[dict]]:
    diag: list[str] = []
    remedies: list[dict] = []
    count, mx, usage = rep["count"], rep["max"], rep["usage"]
    drops = rep["stats"].get("drop", 0)
    own_lines = [e for e in rep["log_events"] if e["this_netns"]]
    total = rep["entries_listed"] or 0
    if usage is not None:
        what = {"critical": "FULL or nearly full", "warning": "filling up", "notice": "half full",
                "ok": "healthy"}[rep["level"]]
        diag.append(f"The table is {what}: {count:,} of {mx:,} entries ({usage:.0%}; alerts at "
                    "50/75/90 %).")
    elif count is not None:
        diag.append(f"{count:,} entries (nf_conntrack_max unknown for this input: give --max).")
    if drops:
        diag.append(f"{drops:,} packets were dropped because no entry could be created (stat 'drop'); "
                    "only new connections are hit, existing ones keep working.")
    if own_lines:
        last = own_lines[-1]
        diag.append(f"The kernel logged 'table full' {len(own_lines)} times for this namespace "
                    f"(last {last['time'] or 'at an unknown time'}); the log is rate limited, so there were "
                    "more drops than lines.")
    elif rep["log_events"]:
        diag.append(f"{len(rep['log_events'])} 'table full' lines in the kernel log are from other "
                    "namespaces (same global nf_conntrack_max).")
    if rep["stats"].get("early_drop"):
        diag.append(f"{rep['stats']['early_drop']:,} unassured entries were evicted (early_drop) to make room.")
    if rep["stats"].get("insert_failed"):
        diag.append(f"insert_failed={rep['stats']['insert_failed']:,}: confirmation races (typically "
                    "parallel UDP DNS queries through NAT) -- a different problem from a full table.")
    port = _dominant_port(rep)
    states = rep["by_state"]
    if port:
        name = f"{port['proto']}/{port['dport']}"
        share = port["count"] / total
        st = states.get(port["proto"], {})
        main_state = max(st, key=st.get) if st else None
        assured = rep["flags"].get("assured", 0)
        diag.append(f"{name} fills the table: {port['count']:,} entries ({share:.0%})"
                    + (f", mostly {main_state}" if main_state else "") + ".")
        if assured >= 0.9 * total and total:
            diag.append("Almost all entries are ASSURED: early drop cannot evict them, so new "
                        "connections are dropped instead.")
    srcs = rep["top"]["sources"]
    if srcs and total and srcs[0]["count"] >= 0.5 * total:
        diag.append(f"One source, {srcs[0]['src']}, holds {srcs[0]['count']:,} entries "
                    f"({srcs[0]['count'] / total:.0%}).")
    if rep["flags"].get("unreplied", 0) > 0.5 * total and total:
        diag.append(f"{rep['flags']['unreplied']:,} entries never saw a reply (UNREPLIED): scans, "
                    "floods, or a peer that does not answer.")
    churn = rep["churn"]
    if churn.get("new_per_s") is not None:
        diag.append(f"Churn: {churn['new_per_s']}/s new, {churn['destroy_per_s']}/s destroyed "
                    f"(over {churn['seconds']} s).")
    kube = rep["kube_proxy"]
    if kube.get("found") and kube.get("implied_max") and mx and kube["implied_max"] != mx:
        diag.append(f"kube-proxy (pid {kube['pid']}) writes nf_conntrack_max={kube['implied_max']:,} at its "
                    "next start, overriding sysctl.d.")
    diag += rep["persistence"]
    if rep["problems"]:
        diag.append("Not everything could be read (see 'could not read'); the rest is still valid.")

    full = bool(drops or own_lines or (usage is not None and usage >= THRESHOLDS[1]))
    if not full and usage is not None and usage < THRESHOLDS[0]:
        diag.append("Nothing to fix now; keep alerting at 75 % and on 'table full' log lines.")
        return diag, remedies
    plan_rate = ""
    if port:
        rate = (churn.get("top_new_dports") or [{}])[0]
        per_s = churn.get("new_per_s") if rate.get("dport") == f"{port['proto']}/{port['dport']}" else None
        plan_rate = (f" --rate {port['proto']}:{per_s or 'RATE'}/s,dport={port['dport']}")
        remedies.append(_notrack(port, rep, plan_rate, full))
    for key, (sysctl, default, suggest) in TIMEOUT_FOR_STATE.items():
        proto, _, state = key.partition(" ")
        n = states.get(proto, {}).get(state, 0)
        cur = values.get(sysctl, default)
        if total and n >= 0.25 * total and isinstance(cur, int) and cur > suggest:
            remedies.append({
                "title": f"shorten {sysctl} ({state} holds {n:,} entries, {n / total:.0%})",
                "score": n * 0.6, "frees_up_to": n,
                "commands": [f"sysctl -w net.netfilter.{sysctl}={suggest}",
                             f"echo 'net.netfilter.{sysctl} = {suggest}' > /etc/sysctl.d/90-conntrack.conf"],
                "plan": f"ctscope plan --from-host --set {sysctl}={suggest}{plan_rate}",
                "caveat": "per network namespace; applies to entries as they are next updated"})
    if (rep["flags"].get("unreplied", 0) > 0.5 * total and total
            and values.get("nf_conntrack_udp_timeout", 30) > 10 and rep["by_protocol"].get("udp", 0) > 0.3 * total):
        remedies.append({
            "title": "shorten nf_conntrack_udp_timeout (unreplied UDP holds most entries)",
            "score": rep["flags"]["unreplied"] * 0.5, "frees_up_to": rep["flags"]["unreplied"],
            "commands": ["sysctl -w net.netfilter.nf_conntrack_udp_timeout=10",
                         "echo 'net.netfilter.nf_conntrack_udp_timeout = 10' > /etc/sysctl.d/90-conntrack.conf"],
            "plan": f"ctscope plan --from-host --set nf_conntrack_udp_timeout=10{plan_rate}",
            "caveat": "per network namespace"})
    if full and mx:
        remedies.append(_raise_max(rep, mx, plan_rate))
    remedies.sort(key=lambda r: -r["score"])
    for rank, r in enumerate(remedies, 1):
        r["rank"] = rank
    return diag, remedies


def _notrack(port: dict, rep: dict, plan_rate: str, full: bool) -> dict:
    p, d = port["proto"], port["dport"]
    users = rep["rules"]["conntrack_users"]
    caveat = ("untracked packets match 'ct state untracked': the filter rules must accept the "
              "return traffic explicitly, and NAT cannot apply to them")
    if users:
        caveat += f"; {len(users)} rules use conntrack here (e.g. {users[0]}) -- check them first"
    return {
        "title": f"stop tracking {p}/{d} (NOTRACK in the raw table: its {port['count']:,} entries go away)",
        "score": port["count"] * (1.0 if full else 0.8), "frees_up_to": port["count"],
        "commands": [
            "nft add table inet ctscope_raw",
            "nft add chain inet ctscope_raw prerouting '{ type filter hook prerouting priority raw; }'",
            "nft add chain inet ctscope_raw output '{ type filter hook output priority raw; }'",
            f"nft add rule inet ctscope_raw prerouting {p} dport {d} notrack",
            f"nft add rule inet ctscope_raw prerouting {p} sport {d} notrack",
            f"nft add rule inet ctscope_raw output {p} sport {d} notrack",
            f"nft add rule inet ctscope_raw output {p} dport {d} notrack",
            f"# iptables: iptables -t raw -A PREROUTING -p {p} --dport {d} -j CT --notrack; "
            f"iptables -t raw -A OUTPUT -p {p} --sport {d} -j CT --notrack (and ip6tables)"],
        "plan": f"ctscope plan CAPTURE.pcap --from-host   # or: ctscope plan --from-host{plan_rate}",
        "caveat": caveat}


def _raise_max(rep: dict, mx: int, plan_rate: str) -> dict:
    new = _next_size(max(mx * 2, int((rep["count"] or 0) * 1.5)))
    builtin = rep["module"] == "builtin"
    hs = (["echo {n} > /sys/module/nf_conntrack/parameters/hashsize".format(n=new),
           f"# at boot (built in): add nf_conntrack.hashsize={new} to the kernel command line"]
          if builtin else
          [f"echo {new} > /sys/module/nf_conntrack/parameters/hashsize",
           f"echo 'options nf_conntrack hashsize={new}' > /etc/modprobe.d/nf_conntrack.conf",
           "echo nf_conntrack > /etc/modules-load.d/nf_conntrack.conf"])
    cmds = [f"sysctl -w net.netfilter.nf_conntrack_max={new}",
            f"echo 'net.netfilter.nf_conntrack_max = {new}' > /etc/sysctl.d/90-conntrack.conf", *hs]
    caveat = (f"costs up to ~{(new - mx) * BYTES_PER_ENTRY / 2**20:,.0f} MiB more kernel memory when full; "
              "global to all namespaces; hides the cause if the load keeps growing")
    kube = rep["kube_proxy"]
    if kube.get("found"):
        caveat += "; kube-proxy overrides it: set --conntrack-max-per-core / conntrack.maxPerCore instead"
    return {"title": f"raise nf_conntrack_max {mx:,} -> {new:,} (and the buckets with it)",
            "score": (rep["count"] or 0) * 0.7, "frees_up_to": new - mx, "commands": cmds,
            "plan": f"ctscope plan --from-host --set nf_conntrack_max={new} --set nf_conntrack_buckets={new}{plan_rate}",
            "caveat": caveat}


