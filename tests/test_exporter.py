"""ctscope exporter: metric families from snapshots, the reader on fake proc files,
the CLI, and a real HTTP scrape of this namespace (no root needed)."""
from __future__ import annotations

import os
import time
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ctscope.cli import main as cli_main
from ctscope.errors import InputError
from ctscope.exporter import reader
from ctscope.exporter.kmsglog import TableFullLog
from ctscope.exporter.metrics import NODE_HELP, TCP_STATES, ConntrackCollector
from ctscope.exporter.server import Exporter, parse_listen
from ctscope.exporter.targets import Target, local_target, netns_target
from ctscope.formats.stats import PROC_HEADER

TABLE = (
    "ipv4     2 tcp      6 431999 ESTABLISHED src=10.0.0.1 dst=10.9.0.1 sport=40000 dport=443 "
    "src=10.9.0.1 dst=10.0.0.1 sport=443 dport=40000 [ASSURED] mark=0 zone=0 use=2\n"
    "ipv4     2 tcp      6 431999 ESTABLISHED src=10.0.0.1 dst=10.9.0.2 sport=40001 dport=443 "
    "src=10.9.0.2 dst=10.0.0.1 sport=443 dport=40001 [ASSURED] mark=0 zone=0 use=2\n"
    "ipv4     2 tcp      6 119 SYN_SENT src=10.0.0.2 dst=10.9.0.1 sport=40002 dport=80 [UNREPLIED] "
    "src=10.9.0.1 dst=10.0.0.2 sport=80 dport=40002 mark=0 zone=0 use=2\n"
    "ipv4     2 udp      17 29 src=10.0.0.3 dst=10.9.0.3 sport=5000 dport=53 [UNREPLIED] "
    "src=10.9.0.3 dst=10.0.0.3 sport=53 dport=5000 mark=0 zone=0 use=2\n"
    "ipv4     2 udp      17 29 src=10.0.0.4 dst=10.9.0.3 sport=5001 dport=53 [UNREPLIED] "
    "src=10.9.0.3 dst=10.0.0.4 sport=53 dport=5001 mark=0 zone=0 use=2\n"
    "ipv4     2 icmp     1 29 src=10.0.0.1 dst=10.9.0.1 type=8 code=0 id=7 src=10.9.0.1 dst=10.0.0.1 "
    "type=0 code=0 id=7 mark=0 zone=0 use=2\n"
)


def fake_proc(tmp_path, table: str | None = TABLE, stat: bool = True, count: int = 6):
    """A fake /proc/thread-self/net and /proc/sys/net/netfilter under tmp_path."""
    net = tmp_path / "net"
    (net / "stat").mkdir(parents=True)
    sysdir = tmp_path / "sys"
    sysdir.mkdir()
    for name, value in (("count", count), ("max", 1000), ("buckets", 512)):
        (sysdir / f"nf_conntrack_{name}").write_text(f"{value}\n")
    if stat:
        cols = PROC_HEADER.split()
        rows = []
        for cpu in range(2):
            vals = {"entries": count, "drop": 3 + cpu, "insert_failed": 2, "clashres": 5 * (cpu + 1),
                    "chainlength": 1, "invalid": 7, "icmp_error": 4, "search_restart": 9}
            rows.append(" ".join(f"{vals.get(c, 0):08x}" for c in cols))
        (net / "stat" / "nf_conntrack").write_text(PROC_HEADER + "\n" + "\n".join(rows) + "\n")
    if table is not None:
        (net / "nf_conntrack").write_text(table)
    return str(net), str(sysdir)


@pytest.fixture
def fake(tmp_path, monkeypatch):
    def make(**kw):
        net, sysdir = fake_proc(tmp_path, **kw)
        monkeypatch.setattr(reader, "PROC_NET", net)
        monkeypatch.setattr(reader, "SYSCTL_DIR", sysdir)
        return reader.snapshot(top=2, source="proc")
    return make


def render(targets, kmsg=None) -> dict:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(ConntrackCollector(targets, kmsg))
    text = generate_latest(reg).decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def samples(fams, name, **labels) -> list:
    return [s for s in fams[name].samples if all(s.labels.get(k) == v for k, v in labels.items())]


def value(fams, name, **labels) -> float:
    found = samples(fams, name, **labels)
    assert len(found) == 1, (name, labels, fams.get(name))
    return found[0].value


def target_with(snap, label=None) -> Target:
    t = Target(label=label)
    t.snapshot = dict(snap, monotonic=time.monotonic(), read_duration=0.01)
    t.up, t.reads = True, 1
    return t


def test_reader_reads_proc_files(fake):
    snap = fake()
    assert (snap["count"], snap["max"], snap["buckets"]) == (6, 1000, 512)
    assert snap["stat"]["drop"] == 7 and snap["stat"]["clash_resolve"] == 15
    assert snap["stat"]["chaintoolong"] == 2 and snap["stat"]["error"] == 8
    tab = snap["table"]
    assert tab["total"] == 6 and tab["by_proto"] == {"tcp": 3, "udp": 2, "icmp": 1}
    assert tab["by_state"] == {"tcp ESTABLISHED": 2, "tcp SYN_SENT": 1}
    assert tab["flags"]["assured"] == 2 and tab["flags"]["unreplied"] == 3
    assert snap["missing"] == [] or all("slab" in m["source"] for m in snap["missing"])


def test_reader_says_what_is_missing(fake):
    snap = fake(table=None, stat=False)
    assert snap["table"] is None and snap["stat"] is None and snap["count"] == 6
    sources = {m["source"].rsplit("/", 1)[-1]: m for m in snap["missing"]}
    assert "does not exist" in sources["nf_conntrack"]["reason"]
    assert "ctscope_nf_conntrack_top_" in sources["nf_conntrack"]["metrics"]
    fams = render([target_with(snap)])
    info = samples(fams, "ctscope_exporter_missing_info")
    assert {s.labels["source"].rsplit("/", 1)[-1] for s in info} >= {"nf_conntrack"}
    assert "ctscope_nf_conntrack_entries_by_state" not in fams
    assert "node_nf_conntrack_stat_drop" not in fams
    assert value(fams, "node_nf_conntrack_entries") == 6


def test_node_exporter_names_help_and_types(fake):
    fams = render([target_with(fake())])
    assert fams["node_nf_conntrack_entries"].documentation == \
        "Number of currently allocated flow entries for connection tracking."
    assert fams["node_nf_conntrack_entries_limit"].documentation == "Maximum size of connection tracking table."
    for name, doc in NODE_HELP.items():
        fam = fams[f"node_nf_conntrack_stat_{name}"]
        assert (fam.type, fam.documentation) == ("gauge", doc)
    assert value(fams, "node_nf_conntrack_stat_drop") == 7
    assert value(fams, "node_nf_conntrack_entries_limit") == 1000


def test_counters_for_every_stat(fake):
    fams = render([target_with(fake())])
    for name, want in (("drop", 7), ("insert_failed", 4), ("clash_resolve", 15), ("chaintoolong", 2),
                       ("error", 8), ("invalid", 14), ("search_restart", 18), ("early_drop", 0)):
        fam = fams[f"ctscope_nf_conntrack_stat_{name}"]
        assert fam.type == "counter"
        assert fam.samples[0].name == f"ctscope_nf_conntrack_stat_{name}_total"
        assert fam.samples[0].value == want, name


def test_table_families_and_bounded_top(fake):
    fams = render([target_with(fake())])
    assert value(fams, "ctscope_nf_conntrack_entries_by_protocol", protocol="tcp") == 3
    assert value(fams, "ctscope_nf_conntrack_entries_by_protocol", protocol="icmpv6") == 0
    states = {s.labels["state"] for s in samples(fams, "ctscope_nf_conntrack_entries_by_state", protocol="tcp")}
    assert states == set(TCP_STATES)
    assert value(fams, "ctscope_nf_conntrack_entries_by_state", protocol="tcp", state="SYN_SENT") == 1
    assert value(fams, "ctscope_nf_conntrack_assured_entries") == 2
    assert value(fams, "ctscope_nf_conntrack_unreplied_entries") == 3
    src = {s.labels["source"]: s.value for s in fams["ctscope_nf_conntrack_top_source_entries"].samples}
    assert len(src) == 3 and src["10.0.0.1"] == 3 and src["other"] == 2      # top 2 + other
    dst = {s.labels["destination"]: s.value for s in fams["ctscope_nf_conntrack_top_destination_entries"].samples}
    assert dst == {"10.9.0.1": 3, "10.9.0.3": 2, "other": 1}
    ports = {s.labels["dport"]: s.value for s in fams["ctscope_nf_conntrack_top_dport_entries"].samples}
    assert ports == {"tcp/443": 2, "udp/53": 2, "other": 1}           # icmp has no port
    assert value(fams, "ctscope_nf_conntrack_memory_estimate_bytes") > 512 * 8


def test_netns_label_on_every_series(fake):
    snap = fake()
    fams = render([target_with(snap, "blue"), target_with(snap, "red")])
    for fam in fams.values():
        for s in fam.samples:
            assert s.labels.get("netns") in ("blue", "red"), s
    assert value(fams, "node_nf_conntrack_entries", netns="red") == 6
    unlabelled = render([target_with(snap)])
    assert all("netns" not in s.labels for f in unlabelled.values() for s in f.samples)


def test_snapshot_age_and_stale_target(fake):
    t = target_with(fake())
    t.snapshot["monotonic"] -= 42
    t.up, t.errors = False, 3
    fams = render([t])
    assert value(fams, "ctscope_exporter_snapshot_age_seconds") >= 42
    assert value(fams, "ctscope_exporter_up") == 0
    assert value(fams, "ctscope_exporter_read_errors") == 3


def test_table_full_lines_by_namespace(fake, tmp_path):
    snap = fake()
    log = TableFullLog(str(tmp_path / "absent"))
    assert not log.available and "does not exist" in log.error
    log._fd = -1        # pretend open: only counts are used below
    log.counts.update({"init": 2, str(snap["netns_inode"]): 5, "12345": 9})
    log.init_inode = snap["netns_inode"]
    assert value(render([target_with(snap)], log), "ctscope_nf_conntrack_table_full_log_lines") == 7
    log.init_inode = 1
    assert value(render([target_with(snap, "x")], log), "ctscope_nf_conntrack_table_full_log_lines") == 5
    log._fd = None


def test_parse_listen_and_targets():
    assert parse_listen("127.0.0.1:9465") == ("127.0.0.1", 9465)
    assert parse_listen("[::1]:80") == ("::1", 80)
    assert parse_listen(":9465") == ("0.0.0.0", 9465)
    for bad in ("9465", "host:", "h:99999"):
        with pytest.raises(InputError):
            parse_listen(bad)
    with pytest.raises(InputError):
        netns_target("../etc")
    with pytest.raises(InputError):
        netns_target("ctsc-exp-no-such-namespace")


def test_cli_help_and_bad_options(capsys):
    with pytest.raises(SystemExit):
        cli_main(["exporter", "--help"])
    out = capsys.readouterr().out
    for word in ("--netns", "--netns-pid", "CAP_NET_ADMIN", "CAP_SYS_ADMIN", "node_nf_conntrack_entries"):
        assert word in out
    assert cli_main(["exporter", "--top", "500"]) == 2
    assert "--top" in capsys.readouterr().err
    assert cli_main(["exporter", "--netns", "no-such-ns-ctscope"]) == 2


def test_scrape_over_http_matches_proc():
    """A running exporter of this namespace, scraped over loopback."""
    with Exporter([local_target(top=3)], refresh=3600, listen="127.0.0.1:0", kmsg=None) as exp:
        exp.refresh_once()            # the start made the first read; the thread waits an hour
        exp.refresh_once()
        with urllib.request.urlopen(exp.url, timeout=10) as r:
            assert r.status == 200
            body = r.read().decode()
    fams = {f.name: f for f in text_string_to_metric_families(body)}
    with open("/proc/sys/net/netfilter/nf_conntrack_max") as fh:
        assert value(fams, "node_nf_conntrack_entries_limit") == int(fh.read())
    with open("/proc/sys/net/netfilter/nf_conntrack_buckets") as fh:
        assert value(fams, "ctscope_nf_conntrack_buckets") == int(fh.read())
    assert value(fams, "ctscope_exporter_up") == 1
    assert value(fams, "ctscope_exporter_reads") == 3
    assert value(fams, "ctscope_exporter_snapshot_age_seconds") >= 0
    assert "process_resident_memory_bytes" in fams


def test_reader_child_is_restarted_after_it_dies():
    t = local_target()
    try:
        assert t.refresh()
        first = t.child_pid
        os.kill(first, 9)           # our own child, by PID
        time.sleep(0.1)
        t.refresh()                 # may fail once (dead pipe), never raises
        assert t.refresh() and t.child_pid != first and t.up
    finally:
        t.stop()
