"""The doctor's analysis on constructed snapshots: thresholds, who fills the table,
log lines of this namespace vs others, persistence checks (module vs built in),
kube-proxy, remedies; and the readers added for it (kube-proxy, kmsg retention)."""
from __future__ import annotations

import json


from ctscope.formats import format_proc, parse_line
from ctscope.live.doctor import INIT_NETNS_INODE, diagnose, level, render
from ctscope.live.inputs import table_reading
from ctscope.live.kmsg import MAX_EVENTS, parse_dmesg_line, scan
from ctscope.live.kube import find_kube_proxy, parse_config

TCP = ("ipv4     2 tcp      6 {t} TIME_WAIT src=10.0.{a}.{b} dst=192.0.2.1 sport={s} dport=443 "
       "src=192.0.2.1 dst=10.0.{a}.{b} sport=443 dport={s} [ASSURED] mark=0 zone=0 use=2")
DNS = ("ipv4     2 udp      17 20 src=10.1.0.{b} dst=192.0.2.53 sport={s} dport=53 [UNREPLIED] "
       "src=192.0.2.53 dst=10.1.0.{b} sport=53 dport={s} mark=0 zone=0 use=2")
REQUIRED = {"netns", "count", "max", "buckets", "usage", "by_protocol", "by_state", "top", "stats",
            "log_events", "diagnosis", "remedies"}


def table(n_tcp: int, n_dns: int) -> str:
    lines = [TCP.format(t=100, a=i // 250, b=i % 250, s=20000 + i) for i in range(n_tcp)]
    lines += [DNS.format(b=i % 3, s=30000 + i) for i in range(n_dns)]
    return "\n".join(lines) + "\n"


def snapshot(text: str, mx: int, module: str = "builtin", drops: int = 0, log=None, inode=INIT_NETNS_INODE,
             config=None, kube=None, values=None) -> dict:
    t = table_reading(text.encode(), "t")
    count = t["lines"]
    return {"kind": "ctscope-snapshot", "netns_inode": inode,
            "sysctl": {"values": {"nf_conntrack_count": count, "nf_conntrack_max": mx,
                                  "nf_conntrack_buckets": mx, **(values or {})}},
            "stat": {"totals": {"drop": drops, "early_drop": 0, "insert_failed": 0, "invalid": 0}},
            "table": t, "kernel_log": scan(map(parse_dmesg_line, log or [])).as_dict(),
            "module": {"kind": module, "cmdline_options": []},
            "config": config or {"findings": [], "effective": {}}, "kube_proxy": kube or {"found": False}}


def test_levels_at_the_thresholds():
    assert [level(u) for u in (0.0, 0.49, 0.5, 0.75, 0.9, 1.0, None)] == [
        "ok", "ok", "notice", "warning", "critical", "critical", "unknown"]


def test_full_table_is_explained_and_json_has_the_documented_keys():
    log = ["[ 10.000000] nf_conntrack: nf_conntrack: table full, dropping packet",
           "[ 11.000000] nf_conntrack: nf_conntrack: table full in netns 4026532999, dropping packet"]
    rep = diagnose(snapshot(table(900, 100), 1000, drops=17, log=log), netns="")
    assert REQUIRED <= rep.keys() and json.loads(json.dumps(rep)) == rep
    assert (rep["count"], rep["max"], rep["usage"], rep["level"]) == (1000, 1000, 1.0, "critical")
    assert rep["by_protocol"] == {"tcp": 900, "udp": 100} and rep["by_state"] == {"tcp": {"TIME_WAIT": 900}}
    assert rep["top"]["dports"][0] == {"dport": 443, "proto": "tcp", "count": 900}
    assert rep["top"]["pairs"][0]["dport"] == 53 and rep["top"]["pairs"][0]["proto"] == "udp"
    assert rep["top"]["other"]["sources"] == 1000 - sum(s["count"] for s in rep["top"]["sources"])
    assert [e["this_netns"] for e in rep["log_events"]] == [True, False]
    assert rep["log_events"][1]["netns"] == "4026532999"
    text = " ".join(rep["diagnosis"])
    assert "17 packets were dropped" in text and "tcp/443 fills the table" in text
    titles = [r["title"] for r in rep["remedies"]]
    assert "tcp/443" in titles[0] and any("time_wait" in t for t in titles) and any("nf_conntrack_max" in t for t in titles)
    assert [r["rank"] for r in rep["remedies"]] == list(range(1, len(titles) + 1))
    tw = next(r for r in rep["remedies"] if "time_wait" in r["title"])
    assert "sysctl -w net.netfilter.nf_conntrack_tcp_timeout_time_wait=30" in tw["commands"]
    assert tw["plan"].startswith("ctscope plan --from-host --set nf_conntrack_tcp_timeout_time_wait=30")
    out = "\n".join(render(rep))
    assert "level CRITICAL" in out and "other" in out and "remedies (ranked)" in out


def test_quiet_table_has_no_remedy():
    rep = diagnose(snapshot(table(10, 5), 1000))
    assert rep["level"] == "ok" and rep["remedies"] == []
    assert any("Nothing to fix" in d for d in rep["diagnosis"])


def test_other_namespace_log_lines_do_not_count_as_ours():
    log = ["[ 1.000000] nf_conntrack: nf_conntrack: table full, dropping packet"]
    rep = diagnose(snapshot(table(10, 0), 1000, log=log, inode=4026532111), netns="blue")
    assert rep["netns"] == "blue" and not rep["log_events"][0]["this_netns"]
    assert any("other namespaces" in d for d in rep["diagnosis"])


def test_reused_namespace_inode_is_not_blamed():
    """Inode numbers of deleted namespaces are reused: without a drop of its own, a
    namespace cannot have logged 'table full'."""
    log = ["[ 1.000000] nf_conntrack: nf_conntrack: table full in netns 4026532111, dropping packet"]
    clean = diagnose(snapshot(table(10, 0), 1000, log=log, inode=4026532111, drops=0))
    assert not clean["log_events"][0]["this_netns"]
    dropped = diagnose(snapshot(table(10, 0), 1000, log=log, inode=4026532111, drops=3))
    assert dropped["log_events"][0]["this_netns"]


CT_CONF = {"findings": [{"path": "/etc/sysctl.d/90-ct.conf", "lineno": 1, "kind": "sysctl",
                         "key": "net.netfilter.nf_conntrack_max", "value": "1000"}],
           "effective": {"net.netfilter.nf_conntrack_max": "1000"}}


def test_module_without_load_ordering_is_flagged_but_builtin_is_not():
    as_module = diagnose(snapshot(table(10, 0), 1000, module="module-loaded", config=CT_CONF))
    assert any("modules-load.d" in p for p in as_module["persistence"])
    builtin = diagnose(snapshot(table(10, 0), 1000, module="builtin", config=CT_CONF))
    assert not any("modules-load" in p for p in builtin["persistence"])
    loaded = dict(CT_CONF, findings=CT_CONF["findings"] + [
        {"path": "/etc/modules-load.d/ct.conf", "lineno": 1, "kind": "modules-load", "key": "nf_conntrack", "value": ""}])
    assert not any("modules-load" in p for p in diagnose(snapshot(table(10, 0), 1000, module="module-loaded",
                                                                   config=loaded))["persistence"])


def test_hand_set_max_and_ignored_modprobe_option():
    conf = {"findings": CT_CONF["findings"] + [{"path": "/etc/modprobe.d/ct.conf", "lineno": 1,
                                                "kind": "modprobe-options", "key": "hashsize", "value": "4096"}],
            "effective": CT_CONF["effective"]}
    rep = diagnose(snapshot(table(10, 0), 2000, module="builtin", config=conf))
    assert any("changed by hand" in p for p in rep["persistence"])
    assert any("ignored because nf_conntrack is built in" in p for p in rep["persistence"])


def test_kube_proxy_override_is_named(tmp_path):
    kube = {"found": True, "pid": 42, "implied_max": 131072, "max_per_core": None, "min": None}
    rep = diagnose(snapshot(table(900, 0), 1000, kube=kube))
    assert any("kube-proxy (pid 42)" in d for d in rep["diagnosis"])
    assert "kube-proxy overrides it" in next(r for r in rep["remedies"] if "nf_conntrack_max" in r["title"])["caveat"]


def test_find_kube_proxy_in_a_fake_proc(tmp_path):
    conf = tmp_path / "kp.yaml"
    conf.write_text("kind: KubeProxyConfiguration\nconntrack:\n  maxPerCore: 0\n  min: 65536\n")
    (tmp_path / "proc" / "77").mkdir(parents=True)
    argv = ["/usr/local/bin/kube-proxy", f"--config={conf}", "--conntrack-min", "262144"]
    (tmp_path / "proc" / "77" / "cmdline").write_bytes(b"\x00".join(a.encode() for a in argv) + b"\x00")
    (tmp_path / "proc" / "self").mkdir()
    kp = find_kube_proxy(str(tmp_path / "proc"), cpus=4)
    assert kp.found and kp.pid == 77 and kp.max_per_core == 0 and kp.min == 262144 and kp.implied_max is None
    assert parse_config("  maxPerCore: 32768\n  min: 131072\n") == {"max_per_core": 32768, "min": 131072}
    (tmp_path / "proc" / "77" / "cmdline").write_bytes(b"kube-proxy\x00--conntrack-max-per-core=1000\x00")
    assert find_kube_proxy(str(tmp_path / "proc"), cpus=4).implied_max == 131072
    assert not find_kube_proxy(str(tmp_path / "nothing")).found


def test_kernel_log_keeps_the_last_lines_of_every_namespace():
    lines = [f"[ {i}.000000] nf_conntrack: nf_conntrack: table full in netns 1, dropping packet" for i in range(200)]
    lines.append("[ 999.000000] nf_conntrack: nf_conntrack: table full in netns 2, dropping packet")
    rep = scan(map(parse_dmesg_line, lines))
    mine = [e for e in rep.events if e["netns"] == "1"]
    assert len(mine) == MAX_EVENTS and mine[-1]["usec"] == 199_000_000
    assert [e["netns"] for e in rep.events].count("2") == 1 and rep.by_netns == {"1": 200, "2": 1}


def test_offline_table_has_no_settings(tmp_path):
    text = table(5, 5)
    snap = {"kind": "table-file", "table": table_reading(text.encode(), "t"), "sysctl": {"values": {}}}
    rep = diagnose(snap)
    assert rep["count"] == 10 and rep["max"] is None and rep["usage"] is None and rep["level"] == "unknown"
    rep = diagnose(snap, max_override=10)
    assert rep["usage"] == 1.0
    entry = parse_line(text.splitlines()[0])
    assert format_proc(entry) == text.splitlines()[0]
