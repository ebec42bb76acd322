"""RST rules of nf_conntrack_tcp_packet() (kernel-conntrack.md 6.7; kernel lab
tcpwin.py, rstclose.py, reopen.py, tcp1.py)."""
import pytest

from ctscope.engine.settings import NS

from tcp_harness import Conn, Talk, established, settings

A1, B1 = 1001, 5001


@pytest.mark.parametrize("side,flags", [("r", "RA"), ("o", "R"), ("r", "R")])
def test_rst_before_any_reply_deletes(side, flags):
    c = Conn()
    c.send("o", "S", 1000)
    assert c.send(side, flags, 5000 if side == "r" else 1001, 1001) == "DELETE"
    assert not c.exists


def test_rst_on_picked_up_flow_without_reply_deletes():
    c = Conn()
    c.send("o", "A", A1, B1)
    assert c.send("o", "R", A1) == "DELETE"


def test_rst_exact_sequence_closes():
    c = established()
    assert c.send("o", "R", A1) == "ACCEPT"                 # seq == server's td_maxack
    assert (c.state, c.timeout) == ("CLOSE", 10 * NS)
    c = established()
    assert c.send("o", "RA", A1, B1) == "ACCEPT" and c.state == "CLOSE"


def test_rst_in_window_but_inexact_keeps_established_with_close_timeout():
    c = established()
    assert c.send("o", "R", A1 + 100) == "ACCEPT"
    assert (c.state, c.timeout) == ("ESTABLISHED", 10 * NS)


def test_rst_below_peer_maxack_is_invalid_unless_ignore_invalid_rst():
    c = established()
    assert c.send("o", "R", A1 - 10) == "INVALID"
    assert c.state == "ESTABLISHED" and c.remaining == 432000
    c = established(settings(tcp_ignore_invalid_rst=1))
    assert c.send("o", "R", A1 - 10) == "ACCEPT"
    assert (c.state, c.timeout) == ("ESTABLISHED", 10 * NS)


def test_rst_out_of_window_invalid_but_not_in_closing_states():
    """kernel lab rstclose.py: 900000 beyond the window is INVALID in ESTABLISHED,
    CLOSE from FIN_WAIT (closing states skip all checks)."""
    c = established()
    assert c.send("o", "R", A1 + 900000) == "INVALID" and c.state == "ESTABLISHED"
    for closing in ("FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE"):
        c = established()
        steps = {"FIN_WAIT": [("o", "FA")], "CLOSE_WAIT": [("o", "FA"), ("r", "A")],
                 "LAST_ACK": [("o", "FA"), ("r", "A"), ("r", "FA")],
                 "TIME_WAIT": [("o", "FA"), ("r", "A"), ("r", "FA"), ("o", "A")],
                 "CLOSE": [("o", "R")]}[closing]
        talk = Talk(c)
        talk.nxt, talk.synced = {"o": A1, "r": B1}, {"o": True, "r": True}
        talk.run(steps)
        assert c.state == closing
        assert c.send("o", "R", A1 + 900000) == "ACCEPT" and c.state == "CLOSE"


def test_rst_ending_a_data_train_closes():
    c = established()
    c.send("r", "PA", B1, A1, datalen=19)                   # server data, last packet
    assert c.send("r", "R", B1 + 19) == "ACCEPT" and c.state == "CLOSE"
    c = established()
    c.send("r", "PA", B1, A1, datalen=19)
    c.send("o", "A", A1, B1)                                # client spoke last, acked nothing
    assert c.send("r", "R", B1 + 19) == "ACCEPT" and c.state == "ESTABLISHED"


def test_rst_answering_an_ignored_syn_skips_window_check():
    c = established()
    assert c.send("o", "S", 90000) == "IGNORE"
    assert c.send("r", "RA", 0x40000000, 90001) == "ACCEPT"  # seq far outside, ack = SYN end
    assert c.state == "CLOSE"
    c = established()
    c.send("o", "S", 90000)
    assert c.send("r", "RA", 0x40000000, 90002) == "INVALID"


def test_rst_answering_a_challenge_ack_in_syn_sent():
    c = Conn()
    c.send("o", "S", 1000)
    assert c.send("r", "A", 7000, 0x50000000) == "IGNORE"   # challenge ACK: ack recorded
    assert not c.unreplied
    assert c.send("o", "R", 0x50000000) == "ACCEPT"         # replied already: no delete
    assert (c.state, c.timeout) == ("CLOSE", 10 * NS)
    c = Conn()
    c.send("o", "S", 1000)
    c.send("r", "A", 7000, 0x50000000)
    assert c.send("o", "R", 0x50000001) == "INVALID"


def test_rst_seq_zero_only_skips_the_rst_check_when_not_established():
    """seq 0 on a not-established (not ASSURED) entry goes straight to the window
    check (an answer to a SYN we let through); on an established one it is below
    the peer's td_maxack: invalid rst."""
    c = established()
    assert c.send("r", "R", 0) == "INVALID"
    c = established()
    c.r["status"] = int(c.r["status"]) & ~0x4               # clear ASSURED
    assert c.send("r", "R", 0) == "ACCEPT" and c.state == "CLOSE"


def test_rst_from_the_syn_direction_gets_no_skip():
    """'do not force CLOSE on invalid-seq RST without direction check' (netfilter
    fix, May 2026, Cc stable): the RST must come from the other side than the
    ignored SYN."""
    c = established()
    c.send("o", "S", 90000)
    assert c.send("o", "RA", 0x40000000, 90001) == "INVALID" and c.state == "ESTABLISHED"
