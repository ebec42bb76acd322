"""The benchmark's capture specs (--sizes), its flows captures and the report (no timing here)."""
import json

import pytest

from bench import report, suite
from bench.measure import Run


def test_mix_specs_keep_their_old_names():
    assert [suite.parse_spec(s) for s in ("100k", "1M", "5M", "2500", "mix5M", " 1.5M ")] == [
        suite.Spec("mix", n) for n in (100_000, 1_000_000, 5_000_000, 2500, 5_000_000, 1_500_000)]
    assert [suite.parse_spec(s).label for s in ("100k", "1M", "5M", "mix5M")] == ["100k", "1M", "5M", "5M"]
    assert suite.parse_spec("5M").synth_args() == ["mix", "--packets", "5000000"]
    assert suite.parse_spec("5M").replay_args() == []


@pytest.mark.parametrize("text,n,label", [("flows1M", 1_000_000, "flows1M"), ("flows100k", 100_000, "flows100k"),
                                          ("FLOWS250k", 250_000, "flows250k"), ("flows2500", 2500, "flows2500")])
def test_flows_specs(text, n, label):
    spec = suite.parse_spec(text)
    assert spec == suite.Spec("flows", n) and spec.label == label
    assert spec.synth_args() == ["flows", "--flows", str(n)]


def test_flows_table_holds_every_flow():
    assert suite.parse_spec("flows1M").replay_args() == [
        "--set", "nf_conntrack_max=2097152", "--set", "nf_conntrack_buckets=2097152"]
    for n in (1000, 100_000, 300_000, 1_000_000, 5_000_000):
        mx = suite.Spec("flows", n).table_max()
        assert mx >= 2 * n and mx & (mx - 1) == 0 and mx >= 262_144


def test_spec_lists():
    assert [s.label for s in suite.parse_specs(suite.DEFAULT_SPECS)] == ["100k", "1M", "5M", "flows1M"]
    assert [s.label for s in suite.parse_specs("100k,flows100k,,100k")] == ["100k", "flows100k"]
    for bad in ("", "flows", "1x", "flow1M", "flows0", "-5"):
        with pytest.raises(ValueError):
            suite.parse_specs(bad)
    with pytest.raises(ValueError):
        suite.parse_size("flows1M")


def test_bad_sizes_are_a_usage_error(capsys):
    from bench.__main__ import main
    with pytest.raises(SystemExit) as exc:
        main(["--sizes", "flows1Q", "--out", "-"])
    assert exc.value.code == 2 and "--sizes" in capsys.readouterr().err


def test_peer_commands():
    peers = {p.name: p for p in suite.PEERS}
    flows = suite.parse_spec("flows1M")
    cmd = peers["ctscope"].cmd("/x.pcap", flows)
    assert cmd[-1] == "/x.pcap" and "--json" in cmd and "nf_conntrack_max=2097152" in cmd
    assert "--set" not in peers["ctscope"].cmd("/x.pcap", suite.parse_spec("5M"))
    assert peers["dpkt"].cmd("/x.pcap", flows)[-1] == "/x.pcap"


def test_peer_facts():
    peers = {p.name: p for p in suite.PEERS}
    assert peers["numba-floor"].facts("flows=12 packets=60\n") == {"flows": 12, "packets": 60}
    out = json.dumps({"frames": 60, "peak_entries": 10, "invalid": 0, "dropped": 0, "table_bytes_per_entry": 127.0,
                      "settings": {"nf_conntrack_max": 262144, "nf_conntrack_buckets": 262144}})
    facts = peers["ctscope"].facts(out)
    assert facts["peak_entries"] == 10 and facts["table_bytes"] == 1270 and facts["nf_conntrack_max"] == 262144
    assert peers["ctscope"].facts("not json") == {}


def test_flows_capture_is_generated_counted_and_cached(tmp_path):
    spec = suite.parse_spec("flows2k")
    cap = suite.capture(tmp_path, spec, 1)
    assert cap.synth_wall is not None and cap.spec == spec
    assert 9000 < cap.packets < 12000
    assert suite._count_frames(suite.Path(cap.path)) == cap.packets
    again = suite.capture(tmp_path, spec, 1)
    assert again.synth_wall is None and again.packets == cap.packets and again.path == cap.path
    from bench.peers import dpkt_tracker, numba_floor
    assert numba_floor.run(cap.path) == (2000, cap.packets)
    tracked = dpkt_tracker.track(cap.path)
    assert tracked["flows"] == 2000 and tracked["expired"] == 0 and tracked["active"] == 2000


def _run(wall, rss, out=""):
    return Run(wall, rss, rss, 0, out, "")


def test_report_shows_captures_flows_and_the_streaming_target():
    peers = {p.name: p for p in suite.PEERS}
    spec = suite.parse_spec("flows1M")
    cap = suite.Capture(5_120_470, "/x.pcap", 1_267_175_891, 30.0, spec)
    ct = suite.Result(peers["ctscope"], [_run(20.0, 419 << 20)],
                      facts={"peak_entries": 1_000_000, "table_bytes_per_entry": 127.0, "table_bytes": 127_000_000,
                             "invalid": 0, "dropped": 0, "nf_conntrack_max": 2_097_152,
                             "nf_conntrack_buckets": 2_097_152})
    floor = suite.Result(peers["numba-floor"], [_run(10.0, 300 << 20)], facts={"flows": 1_000_000})
    mix = suite.Capture(100_000, "/m.pcap", 75_000_000, None, suite.parse_spec("100k"))
    text = report.page({"cpu": "x"}, 0.0, 1, {"flows1M": cap, "100k": mix},
                       {"flows1M": [ct, floor], "100k": [suite.Result(peers["ctscope"])]}, None,
                       [peers["ctscope"], peers["numba-floor"]])
    assert "| flows1M | flows | 5,120,470 | 1,267,175,891 | 247 | 1,000,000 | 1,000,000 | 30.0 |" in text
    assert "| 100k | mix | 100,000 | 75,000,000 | 750 | - | ~2,000 (nominal) | cached |" in text
    assert "### flows1M: 1,000,000 concurrent flows, 5,120,470 packets" in text
    assert "nf_conntrack_max=2097152" in text and "nf_conntrack_buckets" in text
    assert "1,000,000 entries x 127.0 B = 121 MB" in text
    assert "300 MB + table = 421 MB: **met**" in text
    ct.runs = [_run(20.0, 500 << 20)]
    assert "**NOT met**" in report.page({}, 0.0, 1, {"flows1M": cap}, {"flows1M": [ct]}, None, [peers["ctscope"]])


def test_peak_rss_is_the_peers_own_not_the_bench_process():
    """Linux hands a forked child's maxrss the parent's high-water mark at exec: a bench
    that grew to 400 MB made every peer report >= 400 MB.  measure.run must not."""
    import sys

    from bench import measure
    ballast = bytearray(256 << 20)
    ballast[::4096] = b"x" * len(ballast[::4096])          # touch: 256 MB resident here
    small = measure.run(["true"], 30)
    big = measure.run([sys.executable, "-c", "x = bytearray(128 << 20); x[::4096] = b'x' * len(x[::4096])"], 60)
    del ballast
    assert small.rc == 0 and big.rc == 0
    assert 0 < small.maxrss < 64 << 20
    assert 128 << 20 < big.maxrss < 256 << 20


def test_a_peer_that_runs_too_long_is_stopped():
    from bench import measure
    r = measure.run(["sleep", "30"], 0.5)
    assert r.rc != 0 and r.wall < 10
