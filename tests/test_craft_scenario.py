"""Scenario bookkeeping, pcap writing, and build speed."""
from __future__ import annotations

import time

import dpkt

from ctscope.craft import Scenario, TcpConversation, eth, ipv4, read_pcap, udp, write_pcap


def test_extend_times_and_duration():
    sc = Scenario("x", settings={"nf_conntrack_udp_timeout": 10}, rules_nft="udp dport 53 notrack")
    f = eth(ipv4("10.0.0.1", "10.0.0.2", udp(1, 2)))
    sc.extend([("c", f), ("s", f)], t=1.0, dt=0.5).extend([("c", f)], dt=2.0)
    assert [t for t, _, _ in sc] == [1.0, 1.5, 3.5]
    assert len(sc) == 3 and sc.duration == 2.5 and sc.frames[1][1] == "s"


def test_write_pcap_nanosecond_timestamps_roundtrip(tmp_path):
    conv = TcpConversation("10.0.0.1", "10.0.0.2", 1000, 80)
    sc = Scenario("tcp").extend(conv.handshake(), t=0.0, dt=0.000000123)
    path = tmp_path / "x.pcap"
    assert write_pcap(sc, str(path)) == 3
    back = read_pcap(str(path))
    base = sc.base_time * 1_000_000_000
    assert [ts - base for ts, _ in back] == [0, 123, 246]
    assert [fr for _, fr in back] == [fr for _, _, fr in sc]
    with open(path, "rb") as fh:               # an independent reader agrees
        rd = dpkt.pcap.Reader(fh)
        assert rd.datalink() == dpkt.pcap.DLT_EN10MB
        assert [bytes(buf) for _, buf in rd] == [fr for _, _, fr in sc]


def test_building_many_frames_is_fast():
    t = time.process_time()             # CPU time: other load on the machine does not count
    n = 0
    for i in range(5000):
        conv = TcpConversation(f"10.0.{i >> 8}.{i & 255}", "10.9.0.1", 10000 + i, 80)
        conv.handshake()
        conv.send("c", 100)
        conv.ack("s")
        conv.close("c")
        n += 9
    rate = n / (time.process_time() - t)
    assert rate > 80_000, f"{rate:.0f} frames/s: 800k frames would take more than 10 s"
