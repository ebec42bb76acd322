"""Timeout choice of nf_conntrack_tcp_packet(): state timeouts from the settings
vector, SYN_SENT2 constant, retrans / RST / unacknowledged / zero-window caps and
their order, and nf_tcp_handle_invalid() lowering (kernel-conntrack.md 6.3, 6.9)."""
import pytest

from ctscope.engine import tcp
from ctscope.engine.layout import IPS_ASSURED, IPS_FIXED_TIMEOUT
from ctscope.engine.settings import K_T_SYN_SENT, NS

from tcp_harness import Conn, Talk, established, settings

A1, B1 = 1001, 5001


def test_each_state_uses_its_sysctl():
    S = settings(tcp_timeout_syn_sent=50, tcp_timeout_syn_recv=40, tcp_timeout_established=1000,
                 tcp_timeout_fin_wait=70, tcp_timeout_close_wait=33, tcp_timeout_last_ack=22,
                 tcp_timeout_time_wait=11)
    c = Conn(S)
    talk = Talk(c)
    seen = []
    for side, kind in [("o", "S"), ("r", "SA"), ("o", "A"), ("o", "FA"), ("r", "A"), ("r", "FA"), ("o", "A")]:
        talk.send(side, kind)
        seen.append((c.state, c.timeout // NS))
    assert seen == [("SYN_SENT", 50), ("SYN_RECV", 40), ("ESTABLISHED", 1000), ("FIN_WAIT", 70),
                    ("CLOSE_WAIT", 33), ("LAST_ACK", 22), ("TIME_WAIT", 11)]


def test_rst_uses_close_sysctl():
    c = established(settings(tcp_timeout_close=5))
    c.send("o", "R", A1)
    assert (c.state, c.timeout) == ("CLOSE", 5 * NS)


def test_none_uses_syn_sent_and_syn_sent2_is_a_constant():
    S = settings(tcp_timeout_syn_sent=50)
    assert tcp.state_timeout(S, 0) == S[K_T_SYN_SENT]
    c = Conn(S)
    c.send("o", "S", 1000)
    assert c.send("r", "S", 5000) == "IGNORE" and c.state == "SYN_SENT2"   # no reply yet: no refresh
    assert c.send("o", "S", 1000) == "ACCEPT"
    assert (c.state, c.timeout) == ("SYN_SENT2", 120 * NS)                 # not the 50 s sysctl


def test_retransmitted_acks_cap_at_max_retrans_timeout():
    """kernel lab: the 3rd ACK identical to the handshake ACK switches to 300 s."""
    c = established()
    got = []
    for _ in range(4):
        c.send("o", "A", A1, B1)
        got.append(c.timeout // NS)
    assert got == [432000, 432000, 300, 300]
    c.send("o", "A", A1, B1, win=1000)          # different window: count restarts
    assert c.timeout // NS == 432000 and c.r["retrans"] == 0


def test_retrans_sysctls():
    c = established(settings(tcp_max_retrans=1, tcp_timeout_max_retrans=200))
    c.send("o", "A", A1, B1)
    assert c.timeout == 200 * NS


def test_retrans_cap_only_lowers():
    c = established()
    c.send("o", "FA", A1, B1)
    c.send("r", "A", B1, A1 + 1)               # CLOSE_WAIT, 60 s
    for _ in range(4):
        c.send("r", "A", B1, A1 + 1)
    assert (c.state, c.timeout, c.r["retrans"]) == ("CLOSE_WAIT", 60 * NS, 4)


def test_unacknowledged_data():
    c = established(settings(tcp_timeout_unacknowledged=250))
    c.send("o", "PA", A1, B1, datalen=100)
    assert c.timeout == 250 * NS
    c.send("r", "A", B1, A1 + 100)
    assert c.timeout == 432000 * NS


def test_unacknowledged_cap_only_lowers():
    c = established()
    c.send("o", "FA", A1, B1)                   # the FIN is unacknowledged data too
    assert (c.state, c.timeout) == ("FIN_WAIT", 120 * NS)


def test_zero_window():
    c = established()
    c.send("r", "A", B1, A1, win=0)
    assert c.timeout == 300 * NS
    c.send("o", "A", A1, B1)
    assert c.timeout == 432000 * NS


def test_cap_order_retrans_before_unack():
    c = established(settings(tcp_timeout_max_retrans=200, tcp_timeout_unacknowledged=250))
    c.send("o", "PA", A1, B1, datalen=100)
    assert c.timeout == 250 * NS
    for _ in range(4):
        c.send("r", "A", B1, A1)                # not acking the data: identical ACKs
    assert c.timeout == 200 * NS


def test_rst_beats_unack_but_not_retrans():
    S = settings(tcp_timeout_max_retrans=5, tcp_timeout_close=10, tcp_timeout_unacknowledged=250)
    c = established(S)
    c.send("o", "PA", A1, B1, datalen=100)
    c.send("o", "R", A1 + 100)
    assert c.timeout == 10 * NS
    c = established(S)
    for _ in range(3):
        c.send("o", "A", A1, B1)
    c.send("o", "R", A1)                        # retrans >= 3 and CLOSE (10) > 5: retrans wins
    assert c.timeout == 5 * NS


# ---- nf_tcp_handle_invalid() -------------------------------------------------------
def test_invalid_rst_after_peer_invalid_rst_lowers_to_unack():
    """kernel lab reopen.py case 8: ESTABLISHED 432000 -> 300."""
    c = established()
    assert c.send("r", "R", B1 + 900000) == "INVALID"
    assert c.remaining == 432000
    assert c.send("o", "R", A1 + 900000) == "INVALID"
    assert c.remaining == 300 and c.state == "ESTABLISHED"


def test_invalid_fin_after_peer_fin():
    c = established(settings(tcp_timeout_fin_wait=1000))
    c.send("o", "FA", A1, B1)                   # in window: last = FIN from the client
    assert c.send("r", "FA", B1 + 900000, A1 + 1) == "INVALID"
    assert c.remaining == 300


def test_no_lowering_below_120s_or_to_a_higher_value():
    c = established()
    c.send("o", "FA", A1, B1)                   # FIN_WAIT, 120 s left: not > 300
    assert c.send("r", "FA", B1 + 900000, A1 + 1) == "INVALID"
    assert c.remaining == 120
    c = established()
    c.send("r", "R", B1 + 900000)
    c.r["expires"] = c.now + 100 * NS           # < 120 s remaining
    c.send("o", "R", A1 + 900000)
    assert c.remaining == 100


@pytest.mark.parametrize("status_change", ["unassured", "fixed"])
def test_no_lowering_unassured_or_fixed(status_change):
    c = established()
    if status_change == "unassured":
        c.r["status"] = int(c.r["status"]) & ~IPS_ASSURED
    else:
        c.r["status"] |= IPS_FIXED_TIMEOUT
    c.send("r", "R", B1 + 900000)
    c.send("o", "R", A1 + 900000)
    assert c.remaining == 432000


def test_same_direction_invalid_rst_only_remembered():
    c = established()
    c.send("o", "R", A1 + 900000)
    c.send("o", "R", A1 + 900000)
    assert c.remaining == 432000
    assert (c.r["last_index"], c.r["last_dir"]) == (tcp.TCP_RST_SET, 0)


def test_invalid_ack_does_not_lower():
    c = established()
    c.send("r", "R", B1 + 900000)
    assert c.send("o", "A", A1 + 900000, B1) == "INVALID"
    assert c.remaining == 432000
