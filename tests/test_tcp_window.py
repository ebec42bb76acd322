"""tcp_in_window(): the four bounds, overshoot, be_liberal, window scaling, SACK.

After the lab handshake (client ISN 1000, server ISN 5000, windows 65535, no
options) the kernel state is: client td_end 1001 td_maxend 66536 td_maxwin 65535;
server td_end 5001 td_maxend 70536 td_maxwin 65535 (worked out from the
tcp_in_window() update rules; checked in test_handshake_window_state).
"""
import pytest

from ctscope.engine import tcp
from ctscope.engine.layout import TF_BE_LIBERAL, TF_DATA_UNACKNOWLEDGED, TF_MAXACK_SET, TF_SACK_PERM

from tcp_harness import Conn, established, settings

A1, B1 = 1001, 5001           # next sequence numbers of client and server


def test_handshake_window_state():
    c = established()
    assert [c.side("o", f) for f in ("end", "maxend", "maxwin", "maxack")] == [1001, 66536, 65535, 5001]
    assert [c.side("r", f) for f in ("end", "maxend", "maxwin", "maxack")] == [5001, 70536, 65535, 1001]
    assert c.side_flags("o") & TF_MAXACK_SET and c.side_flags("r") & TF_MAXACK_SET


def _frozen(c):
    return bytes(c.tbl.tobytes())


# (name, packet from the client, verdict); kernel lab tcpwin.py for 1, 3, 4
BOUNDS = [
    ("I   seq over td_maxend (past the overshoot allowance)", dict(seq=A1 + 200000, ack=B1), "INVALID"),
    ("III ack over receiver td_end", dict(seq=A1, ack=B1 + 5000), "INVALID"),
    ("II  seq under td_end - receiver td_maxwin", None, "IGNORE"),
    ("IV  ack under receiver td_end - MAXACKWINDOW", dict(seq=A1, ack=B1 - 200000), "IGNORE"),
]


def _bound_case(c, pk):
    if pk is None:              # old retransmission: 1000 bytes sent and acked, resend far below
        assert c.send("o", "PA", A1, B1, datalen=1000) == "ACCEPT"
        assert c.send("r", "A", B1, A1 + 1000) == "ACCEPT"
        pk = dict(seq=A1 - 70000, ack=B1)
    return pk


@pytest.mark.parametrize("name,pk,verdict", BOUNDS, ids=[b[0][:3].strip() for b in BOUNDS])
def test_four_bounds(name, pk, verdict):
    c = established()
    pk = _bound_case(c, pk)
    before = _frozen(c)
    assert c.send("o", "A", **pk) == verdict
    assert _frozen(c) == before          # INVALID/IGNORE touch nothing (no refresh either)
    assert c.state == "ESTABLISHED"


@pytest.mark.parametrize("name,pk,verdict", BOUNDS, ids=[b[0][:3].strip() for b in BOUNDS])
def test_be_liberal_sysctl_accepts_all_four(name, pk, verdict):
    c = established(settings(tcp_be_liberal=1))
    pk = _bound_case(c, pk)
    assert c.send("o", "A", **pk) == "ACCEPT"


def test_per_side_liberal_flag_only_covers_that_sender():
    c = established()
    c.r["tflags0"] |= TF_BE_LIBERAL            # client side liberal only
    assert c.send("o", "A", A1 + 200000, B1) == "ACCEPT"
    assert c.send("r", "A", B1 + 200000, A1) == "INVALID"


def test_pickup_is_liberal_lab():
    """kernel lab: picked-up flow accepts seq + 3 000 000 even once ASSURED."""
    c = Conn()
    c.send("o", "A", A1, B1)
    c.send("r", "A", B1, A1)
    assert c.send("o", "A", A1, B1) == "ACCEPT" and c.assured
    assert c.send("o", "A", A1 + 3000000, B1) == "ACCEPT"
    n = established()
    assert n.send("o", "A", A1 + 3000000, B1) == "INVALID"


def test_overshoot_is_ignored_but_advances_td_end():
    """6.12+ source: data past td_maxend but within the receiver window is IGNORE
    (6.1 returned ACCEPT); td_end still advances so the peer's ACK passes III."""
    c = established()
    exp = c.remaining
    assert c.send("o", "PA", 66537, B1, datalen=100) == "IGNORE"
    assert c.side("o", "end") == 66637 and c.side_flags("o") & TF_DATA_UNACKNOWLEDGED
    assert c.remaining == exp
    assert c.send("r", "A", B1, 66637) == "ACCEPT"


def test_overshoot_beyond_receiver_maxwin_is_invalid():
    c = established()
    assert c.send("o", "PA", 66537 + 65535, B1, datalen=10) == "INVALID"
    assert c.side("o", "end") == 1001


def test_receiver_maxwin_grows_when_end_passes_maxend():
    c = established()
    assert c.send("o", "PA", 66000, B1, datalen=1000) == "ACCEPT"   # end 67000 > maxend 66536
    assert c.side("r", "maxwin") == 65535 + 464
    assert c.side("o", "end") == 67000


def test_zero_window_moves_maxend_one_past():
    c = Conn()
    c.send("o", "S", 1000, 0, win=0)
    assert c.side("o", "maxwin") == 1 and c.side("r", "maxend") == 1   # ack 0 + win 0 + 1


def _scaled(client_ws, server_ws):
    c = Conn()
    c.send("o", "S", 1000, 0, win=64240, wscale=client_ws)
    c.send("r", "SA", 5000, 1001, win=1000, wscale=server_ws)
    c.send("o", "A", 1001, 5001, win=502)
    c.send("r", "A", 5001, 1001, win=1000)       # 1000 << 7 = 128000 if scaling is on
    return c


@pytest.mark.parametrize("cws,sws,scale,verdict", [
    (7, 7, 7, "ACCEPT"), (7, -1, 0, "INVALID"), (-1, 7, 0, "INVALID"), (-1, -1, 0, "INVALID")])
def test_window_scaling_needs_both_syns(cws, sws, scale, verdict):
    c = _scaled(cws, sws)
    assert c.side("o", "scale") == scale and c.side("r", "scale") == scale
    assert c.send("o", "PA", 100000, 5001, datalen=100) == verdict


def test_window_scale_is_capped_at_14():
    c = Conn()
    c.send("o", "S", 1000, 0, wscale=15)
    assert c.side("o", "scale") == 14


def test_syn_window_is_not_scaled():
    c = _scaled(7, 7)
    assert c.side("r", "maxwin") == 128000        # SYN/ACK's 1000 unscaled, then 1000 << 7
    assert c.side("o", "maxend") == 1001 + 128000


def _sack_conn(client_sackperm):
    c = Conn()
    c.send("o", "S", 1000, 0, sackperm=client_sackperm)
    c.send("r", "SA", 5000, 1001, sackperm=True)
    c.send("o", "A", 1001, 5001)
    assert c.send("o", "PA", 1001, 5001, datalen=1000) == "ACCEPT"    # client td_end 2001
    return c


def test_sack_edge_counts_as_ack():
    c = _sack_conn(True)
    assert c.side_flags("o") & TF_SACK_PERM
    assert c.send("r", "A", 5001, 1001, sack=2001) == "ACCEPT"
    assert c.side("r", "maxwin") == 65535 + 1000         # swin = win + (sack - ack)
    assert c.side("o", "maxend") == 2001 + 65535         # receiver maxend = sack + win
    assert c.send("r", "A", 5001, 1001, sack=3001) == "INVALID"   # III on the SACK edge


def test_sack_ignored_unless_receiver_permitted_it():
    c = _sack_conn(False)
    assert c.send("r", "A", 5001, 1001, sack=3001) == "ACCEPT"


def test_syn_with_higher_seq_reinitialises_sender_in_syn_sent():
    c = Conn()
    c.send("o", "S", 1000, 0)
    assert c.send("o", "S", 3000, 0, wscale=5, win=1234) == "IGNORE"   # no refresh
    assert (c.side("o", "end"), c.side("o", "maxend"), c.side("o", "maxwin")) == (3001, 3001, 1234)
    assert c.side("o", "scale") == 5
    c.send("o", "S", 2000, 0, wscale=2)                                 # lower: no re-init
    assert c.side("o", "end") == 3001 and c.side("o", "scale") == 5


def _far_isn():
    c = Conn()
    c.send("o", "S", 1000, 0)
    c.send("r", "SA", 0x70000000, 1001)
    c.send("o", "A", 1001, 0x70000001)
    assert c.state == "ESTABLISHED"
    return c


def test_packet_without_ack_pretends_receiver_end():
    assert _far_isn().send("o", "A", 1001, 0) == "IGNORE"     # ack 0 is under bound IV
    assert _far_isn().send("o", "R", 1001, 0) == "ACCEPT"     # no ACK flag: ack := receiver td_end
    assert _far_isn().send("o", "RA", 1001, 0) == "ACCEPT"    # RST|ACK with ack 0: broken stacks


def test_sequence_numbers_wrap():
    c = Conn()
    c.send("o", "S", 0xFFFFFF00, 0)
    c.send("r", "SA", 5000, 0xFFFFFF01)
    c.send("o", "A", 0xFFFFFF01, 5001)
    assert c.state == "ESTABLISHED"
    assert c.send("o", "PA", 0xFFFFFF01, 5001, datalen=0x200) == "ACCEPT"
    assert c.side("o", "end") == 0x101
    assert c.send("r", "A", 5001, 0x101) == "ACCEPT"


def test_before_after_helpers():
    assert tcp.before(1, 2) and not tcp.before(2, 1) and tcp.before(0xFFFFFFFF, 0)
    assert tcp.after(0, 0xFFFFFFFF) and not tcp.after(5, 5)


def _forgotten(reply_known):
    """A confirmed ESTABLISHED entry whose window data was forgotten (td_maxwin 0,
    as nf_ct_tcp_fixup() leaves it when the hooks get registered)."""
    c = Conn()
    c._create("o")
    c.r["state"] = 3
    c.r["status"] = 0x8 | 0x2 | 0x4          # CONFIRMED | SEEN_REPLY | ASSURED
    c.r["last_win"] = 1
    if reply_known:
        c.r["td_end1"], c.r["td_maxend1"], c.r["td_maxwin1"] = B1, B1 + 65535, 65535
    return c


def test_midstream_sender_init_sets_receiver_end_from_ack():
    c = _forgotten(False)
    assert c.send("o", "A", A1, B1, win=1000) == "ACCEPT"
    assert (c.side("o", "end"), c.side("o", "maxend"), c.side("o", "maxwin")) == (A1, A1 + 1000, 1000)
    assert c.side("r", "end") == B1                       # so that III passes


def test_midstream_reply_to_keepalive_bumps_receiver_end():
    c = _forgotten(True)
    assert c.send("o", "A", A1, B1 + 1) == "ACCEPT"       # acks one byte past: keepalive reply
    assert c.side("r", "end") == B1 + 1
    c = _forgotten(True)
    assert c.send("o", "A", A1, B1 + 2) == "INVALID"      # anything further is over bound III
