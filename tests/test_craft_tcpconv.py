"""TcpConversation keeps sequence numbers, ACKs, windows and scaling consistent."""
from __future__ import annotations

import dpkt
import pytest

from ctscope.craft import TcpConversation


def dec(item):
    side, frame = item
    t = dpkt.ethernet.Ethernet(frame).data.data
    return side, t, dict(dpkt.tcp.parse_opts(t.opts))


def test_handshake_data_and_close_sequence_space():
    c = TcpConversation("10.0.0.1", "10.0.0.2", 40000, 80, isn_c=100, isn_s=9000)
    hs = [dec(x) for x in c.handshake()]
    (s0, syn, o0), (s1, sa, o1), (s2, ack, _) = hs
    assert (s0, s1, s2) == ("c", "s", "c")
    assert syn.flags == dpkt.tcp.TH_SYN and syn.seq == 100 and dpkt.tcp.TCP_OPT_WSCALE in o0
    assert sa.seq == 9000 and sa.ack == 101 and dpkt.tcp.TCP_OPT_SACKOK in o1
    assert ack.seq == 101 and ack.ack == 9001
    _, d, _ = dec(c.send("c", 100))
    assert d.seq == 101 and len(d.data) == 100 and d.flags & dpkt.tcp.TH_PUSH
    _, a, _ = dec(c.ack("s"))
    assert a.ack == 201 and not a.data
    fin, ack1, fin2, ack2 = (dec(x)[1] for x in c.close("c"))
    assert fin.seq == 201 and fin.flags & dpkt.tcp.TH_FIN
    assert ack1.ack == 202 and fin2.seq == 9001 and ack2.ack == 9002 and ack2.seq == 202


def test_window_field_is_scaled_after_the_handshake():
    c = TcpConversation("10.0.0.1", "10.0.0.2", 1, 2, win_c=1 << 20, wscale_c=7, wscale_s=7)
    _, syn, _ = dec(c.syn())
    assert syn.win == 0xFFFF                       # SYN windows are never scaled
    c.syn_ack()
    _, ack, _ = dec(c.ack("c"))
    assert ack.win == (1 << 20) >> 7


def test_no_window_scaling_unless_both_sides_offer_it():
    c = TcpConversation("10.0.0.1", "10.0.0.2", 1, 2, wscale_c=None, wscale_s=7, win_s=200000)
    _, _, o = dec(c.syn())
    _, _, o2 = dec(c.syn_ack())
    assert dpkt.tcp.TCP_OPT_WSCALE not in o and dpkt.tcp.TCP_OPT_WSCALE not in o2
    _, a, _ = dec(c.ack("s"))
    assert a.win == 0xFFFF                         # unscaled, capped


def test_retransmit_and_out_of_window():
    c = TcpConversation("10.0.0.1", "10.0.0.2", 1, 2)
    c.handshake()
    _, first, _ = dec(c.send("c", b"abc"))
    _, again, _ = dec(c.retransmit("c"))
    assert (again.seq, again.data) == (first.seq, first.data)
    _, nxt, _ = dec(c.send("c", b"def"))
    assert nxt.seq == first.seq + 3                # retransmit did not advance
    _, oow, _ = dec(c.out_of_window("c"))
    assert (oow.seq - nxt.seq) % (1 << 32) > 2 * 65160
    with pytest.raises(ValueError):
        TcpConversation("10.0.0.1", "10.0.0.2", 1, 2).retransmit("s")


def test_timestamps_echo_the_peer():
    c = TcpConversation("10.0.0.1", "10.0.0.2", 1, 2, timestamps=True)
    _, _, o1 = dec(c.syn())
    _, _, o2 = dec(c.syn_ack())
    import struct
    v1, e1 = struct.unpack("!II", o1[dpkt.tcp.TCP_OPT_TIMESTAMP])
    v2, e2 = struct.unpack("!II", o2[dpkt.tcp.TCP_OPT_TIMESTAMP])
    assert e1 == 0 and e2 == v1


def test_rst_and_sack_blocks():
    c = TcpConversation("10.0.0.1", "10.0.0.2", 1, 2)
    c.handshake()
    _, r, _ = dec(c.rst("s"))
    assert r.flags == dpkt.tcp.TH_RST | dpkt.tcp.TH_ACK
    _, a, o = dec(c.ack("c", sack=[(5, 10)]))
    assert dpkt.tcp.TCP_OPT_SACK in o


@pytest.mark.parametrize("client,server", [("10.0.0.1", "10.0.0.2"), ("2001:db8::1", "2001:db8::2")])
def test_precomputed_fast_path_equals_the_general_builders(client, server):
    fast = TcpConversation(client, server, 1, 2, timestamps=True)
    slow = TcpConversation(client, server, 1, 2, timestamps=True)
    plan = [("c", "S", b""), ("s", "SA", b""), ("c", "A", b""), ("c", "PA", b"x" * 33), ("s", "FA", b"")]
    for side, flags, payload in plan:
        a = fast.segment(side, flags, payload)
        b = slow.segment(side, flags, payload, ttl=64)     # any IP keyword takes the general path
        assert a == b
