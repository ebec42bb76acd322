"""ctscope.verify without a kernel: the engine side, the comparison, the capture reader."""
from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from ctscope.craft import Scenario, TcpConversation, eth, ipv4, udp, write_pcap
from ctscope.engine.layout import (CT_ESTABLISHED, CT_INVALID, CT_NEW, CT_NOT_SEEN, FATE_FORWARDED,
                                   FATE_ROUTING_DROP)
from ctscope.errors import InputError
from ctscope.kernel.result import FrameVerdict, KernelResult
from ctscope.verify.capture import read_frames
from ctscope.verify.compare import Comparison, compare_frames, compare_stats, compare_tables, entry_dict
from ctscope.verify.engine import BASE_NS, engine_settings, run_engine
from ctscope.verify.pcapng import write_pcapng

LIMITS = {"nf_conntrack_max": 65536, "nf_conntrack_buckets": 65536}
C, S = "198.18.0.1", "198.19.0.1"


def _engine(items, step=False, sysctls=None):
    frames = [f for _s, f in items]
    t = BASE_NS + np.arange(len(frames), dtype=np.int64) * 1_000_000
    return run_engine(frames, t, [s for s, _f in items], engine_settings(sysctls or {}, LIMITS), step=step)


def test_engine_side_uses_the_harness_settings_and_interfaces():
    cv = TcpConversation(C, S, 40000, 80)
    run = _engine(cv.handshake() + [cv.send("c", 10)])
    assert list(run.ct) == [CT_NEW, 3, CT_ESTABLISHED, CT_ESTABLISHED]
    assert run.ifnames == {1: "c0", 2: "s0"} and list(run.batch["ifindex"]) == [1, 2, 1, 1]
    assert list(run.batch["ts"] - BASE_NS) == [0, 1_000_000, 2_000_000, 3_000_000]
    s = run.tracker.settings
    assert s.get("nf_conntrack_acct") == 1 and s.get("nf_conntrack_max") == 65536   # harness pins acct=1
    e = entry_dict(next(run.tracker.entries()))
    assert e["state"] == "ESTABLISHED" and e["flags"] == ["ASSURED"] and e["zone"] == 0
    assert e["orig"] == {"src": C, "dst": S, "sport": 40000, "dport": 80, "packets": 3, "bytes": 142}
    assert e["reply"]["packets"] == 1 and 299 <= e["timeout"] <= 300     # unacknowledged data


def test_engine_step_mode_gives_the_entry_before_and_after_each_frame():
    cv = TcpConversation(C, S, 40001, 80)
    run = _engine([cv.syn(), cv.syn_ack(), cv.rst("c")], step=True)
    assert run.before[0] is None and run.after[0].state == "SYN_SENT"
    assert run.before[1].state == "SYN_SENT" and run.after[1].state == "SYN_RECV"
    assert run.after[2] is None or run.after[2].state == "CLOSE"


def _entry(timeout=100, flags=("ASSURED",), packets=1):
    return {"family": "ipv4", "proto": "udp", "protonum": 17, "timeout": timeout, "state": None,
            "flags": sorted(flags), "mark": 0, "zone": 0,
            "orig": {"src": C, "dst": S, "sport": 1, "dport": 2, "packets": packets, "bytes": 30},
            "reply": {"src": S, "dst": C, "sport": 2, "dport": 1, "packets": 0, "bytes": 0}}


@pytest.mark.parametrize("engine,ok", [(_entry(), True), (_entry(timeout=98), True), (_entry(timeout=97), False),
                                       (_entry(flags=()), False), (_entry(packets=2), False)])
def test_tables_compare_by_key_with_a_two_second_timeout_slack(engine, ok):
    out = Comparison()
    compare_tables([_entry()], [engine], out)
    assert (out.table_matched == 1) == ok and bool(out.table_diffs) != ok


def test_missing_entries_are_reported_on_the_right_side():
    out = Comparison()
    other = _entry()
    other["orig"] = dict(other["orig"], sport=9)
    compare_tables([_entry()], [other], out)
    assert sorted(d.split(":")[0] for d in out.table_diffs) == ["engine only", "kernel only"]
    assert any(d.startswith("engine only") and "sport=9" in d for d in out.table_diffs)
    compare_stats({"invalid": 2, "drop": 0}, {"invalid": 1, "drop": 0}, out)
    assert out.stats_diffs == {"invalid": (2, 1)} and not out.agree


class _Eng:
    def __init__(self, ct, fate):
        self.ct, self.fate = np.array(ct, np.uint8), np.array(fate, np.uint8)
        self.batch = np.zeros(len(ct), [("skip", np.uint8)])


def test_frames_compare_on_scorable_frames_and_known_routing_drops():
    k = KernelResult(frames=[FrameVerdict(0, "c", 0, 0, "forwarded", "NEW"),
                             FrameVerdict(1, "c", 0, 0, "forwarded", "INVALID"),
                             FrameVerdict(2, "c", 0, 0, "dropped", "unscorable", "TTL/hop limit <= 1: ..."),
                             FrameVerdict(3, "c", 0, 0, "dropped", "unscorable", "never left the firewall")])
    out = Comparison()
    compare_frames(k, _Eng([CT_NEW, CT_NEW, CT_NEW, CT_NOT_SEEN],
                           [FATE_FORWARDED, FATE_FORWARDED, FATE_FORWARDED, 0]), range(4), out)
    assert (out.frames, out.scorable, out.matched) == (4, 2, 1)
    assert [d.i for d in out.frame_diffs] == [1, 2]                 # INVALID vs NEW; TTL not a routing drop
    assert out.frame_diffs[0].kernel[0] == "INVALID" and out.frame_diffs[0].engine[0] == "NEW"
    out = Comparison()
    compare_frames(k, _Eng([CT_NEW, CT_INVALID, CT_NEW, 0], [1, 1, FATE_ROUTING_DROP, 0]), range(4), out)
    assert out.agree and out.unscorable == {"TTL/hop limit <= 1": 1, "never left the firewall": 1}


def _frames():
    return [(0.0, None, eth(ipv4(C, S, udp(1, 2, b"q")))), (0.25, None, eth(ipv4(S, C, udp(2, 1, b"r"))))]


def test_capture_reader_reads_pcap_gzip_and_pcapng(tmp_path):
    sc = Scenario("x", frames=_frames())
    write_pcap(sc, str(tmp_path / "a.pcap"))
    (tmp_path / "a.pcap.gz").write_bytes(gzip.compress((tmp_path / "a.pcap").read_bytes()))
    write_pcapng(str(tmp_path / "a.pcapng"), [f for _t, _s, f in sc.frames], [10**9, 10**9 + 250_000_000],
                 ["c", "s"])
    for name in ("a.pcap", "a.pcap.gz", "a.pcapng"):
        got = read_frames(str(tmp_path / name))
        assert [(round(t, 6), f) for t, _s, f in got] == [(0.0, sc.frames[0][2]), (0.25, sc.frames[1][2])], name


@pytest.mark.parametrize("content,msg", [(b"", "too short"), (b"hello world!", "not a pcap"),
                                         (struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101), "not Ethernet"),
                                         (struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1), "no frames")])
def test_capture_reader_rejects_what_the_harness_cannot_inject(tmp_path, content, msg):
    p = tmp_path / "bad.pcap"
    p.write_bytes(content)
    with pytest.raises(InputError, match=msg):
        read_frames(str(p))
