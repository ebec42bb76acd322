"""More reference facts (kernel-conntrack.md §10, kernel-oracle.md (a)) through the harness."""
from __future__ import annotations

import pytest

from ctscope.craft import TcpConversation, eth, icmp, ipv4, udp
from ctscope.kernel import KernelHarness

pytestmark = pytest.mark.kernel
C4, S4 = "198.18.0.1", "198.19.0.1"


def test_rst_in_reply_to_syn_deletes_the_entry():
    conv = TcpConversation(C4, S4, 40200, 80)
    items = [conv.syn(), conv.rst("s")]
    with KernelHarness() as h:
        r = h.run([(0, s, f) for s, f in items], step=True)
    assert r.ctinfos() == ["NEW", "ESTABLISHED_REPLY"]
    assert r.frames[0].entry["state"] == "SYN_SENT" and r.frames[1].entry is None
    assert r.count == 0 and r.table == []


def test_syn_retransmit_is_new_again_and_not_accounted():
    conv = TcpConversation(C4, S4, 40201, 80)
    items = [conv.syn(), conv.retransmit("c"), conv.syn_ack(), conv.ack("c")]
    with KernelHarness() as h:
        r = h.run([(0, s, f) for s, f in items])
    assert r.ctinfos() == ["NEW", "NEW", "ESTABLISHED_REPLY", "ESTABLISHED"]
    assert r.table[0]["orig"]["packets"] == 2            # S, S, SA, A -> orig packets=2


def test_mid_stream_pickup_needs_a_reply_and_one_more_packet_for_assured():
    conv = TcpConversation(C4, S4, 40202, 80)
    conv.handshake()                                     # not sent: the firewall joins late
    items = [conv.send("c", 10), conv.ack("s"), conv.send("c", 10)]
    with KernelHarness() as h:
        r = h.run([(0, s, f) for s, f in items], step=True)
    e = [f.entry for f in r.frames]
    assert r.ctinfos() == ["NEW", "ESTABLISHED_REPLY", "ESTABLISHED"]
    assert (e[0]["state"], e[0]["flags"]) == ("ESTABLISHED", ["UNREPLIED"]) and 298 <= e[0]["timeout"] <= 300
    assert e[1]["flags"] == []                           # SEEN_REPLY, but not ASSURED yet
    assert e[2]["flags"] == ["ASSURED"]


def test_unknown_icmp_type_and_bad_udp_checksum_are_invalid():
    frames = [(0, "c", eth(ipv4(C4, S4, icmp(9, 0)))),
              (0, "c", eth(ipv4(C4, S4, udp(5020, 53, b"q", bad_csum=True))))]
    with KernelHarness() as h:
        r = h.run(frames)
    assert r.ctinfos() == ["INVALID", "INVALID"] and r.stats_delta["invalid"] == 2
    assert r.count == 0
