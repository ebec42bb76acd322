"""Re-open, ignore/resync, SYN retransmits, RFC 5961 challenge ACK, simultaneous
open, ASSURED and CLOSE_INIT (kernel-conntrack.md 6.3-6.6; kernel lab reopen.py,
tcpwin.py)."""
from ctscope.engine.layout import TF_BE_LIBERAL, TF_CLOSE_INIT, TF_SIMULTANEOUS_OPEN
from ctscope.engine.settings import NS

from tcp_harness import HANDSHAKE, Conn, Talk, established

A1, B1 = 1001, 5001
CLOSE_BY_FIN = [("o", "FA"), ("r", "A"), ("r", "FA"), ("o", "A")]


def _time_wait():
    c = Conn()
    Talk(c).run(HANDSHAKE + CLOSE_BY_FIN)
    assert c.state == "TIME_WAIT"
    return c


def test_fin_marks_close_init_on_the_sender_only():
    c = established()
    c.send("o", "FA", A1, B1)
    assert c.side_flags("o") & TF_CLOSE_INIT and not c.side_flags("r") & TF_CLOSE_INIT


def test_syn_on_time_wait_reopens_as_new_entry():
    c = _time_wait()
    assert c.send("o", "S", 90000) == "REPEAT:ACCEPT"
    assert (c.state, c.unreplied, c.assured, c.orig) == ("SYN_SENT", True, False, "o")
    assert c.side("o", "end") == 90001 and c.timeout == 120 * NS


def test_reply_side_syn_on_time_wait_reopens_with_roles_swapped():
    c = _time_wait()
    assert c.send("r", "S", 70000) == "REPEAT:ACCEPT"
    assert (c.state, c.orig) == ("SYN_SENT", "r")
    assert c.send("o", "SA", 90000, 70001) == "ACCEPT" and c.state == "SYN_RECV"


def test_syn_on_close_reopens_only_after_own_rst():
    """kernel lab reopen.py cases 1 and 2."""
    c = established()
    c.send("o", "R", A1)
    assert c.send("o", "S", 90000) == "REPEAT:ACCEPT" and c.state == "SYN_SENT"
    c = established()
    c.send("r", "R", B1)
    assert c.send("o", "S", 90000) == "IGNORE" and c.state == "CLOSE"


def test_resync_after_ignored_syn():
    """kernel lab reopen.py case 1: server RST, client SYN ignored, server SYN/ACK
    acknowledging it -> SYN_RECV on the same entry, client ACK -> ESTABLISHED,
    ASSURED kept."""
    c = established()
    c.send("r", "R", B1)
    c.send("o", "S", 90000, win=4000, wscale=3, sackperm=True)
    assert c.send("r", "SA", 70000, 90001) == "ACCEPT"
    assert (c.state, c.orig, c.assured) == ("SYN_RECV", "o", True)
    assert (c.side("o", "end"), c.side("o", "maxwin")) == (90001, 4000)
    assert c.side("r", "end") == 70001                  # re-initialised from the SYN/ACK
    assert c.send("o", "A", 90001, 70001) == "ACCEPT" and c.state == "ESTABLISHED"
    assert c.assured and c.timeout == 432000 * NS


def test_synack_not_matching_the_ignored_syn_is_ignored():
    c = established()
    c.send("r", "R", B1)
    c.send("o", "S", 90000)
    assert c.send("r", "SA", 70000, 12345) == "IGNORE" and c.state == "CLOSE"


def test_reply_syn_on_close_is_invalid():
    c = established()
    c.send("r", "R", B1)
    assert c.send("r", "S", 70000) == "INVALID"


def test_syn_retransmit_in_syn_sent_does_not_refresh():
    """since 6.2 (e15d4cdf27cb), kernel lab reopen.py case 4."""
    c = Conn()
    c.send("o", "S", 1000)
    c.advance(2.1)
    assert c.send("o", "S", 1000) == "IGNORE"
    assert (c.state, c.remaining) == ("SYN_SENT", 117.9)


def test_ignored_packets_do_not_change_state_or_refresh():
    c = established()
    c.advance(5)
    for side, flags, seq, ack in [("o", "S", 90000, 0), ("r", "SA", 7, 8)]:
        assert c.send(side, flags, seq, ack) == "IGNORE"
        assert (c.state, c.remaining) == ("ESTABLISHED", 431995)


def test_challenge_ack_in_last_ack_is_ignored():
    c = Conn()
    Talk(c).run(HANDSHAKE + [("o", "FA"), ("r", "A"), ("r", "FA")])
    assert c.state == "LAST_ACK"
    assert c.send("o", "S", 90000) == "IGNORE"            # new SYN: a challenge ACK may follow
    assert c.send("r", "A", B1 + 1, A1 + 1) == "IGNORE"   # ... it is not the last ACK
    assert c.state == "LAST_ACK"
    assert c.send("r", "A", B1 + 1, A1 + 1) == "ACCEPT" and c.state == "TIME_WAIT"


def test_last_ack_without_syn_goes_to_time_wait():
    c = Conn()
    Talk(c).run(HANDSHAKE + [("o", "FA"), ("r", "A"), ("r", "FA")])
    assert c.send("o", "A", A1 + 1, B1 + 1) == "ACCEPT" and c.state == "TIME_WAIT"


def test_simultaneous_open():
    c = Conn()
    c.send("o", "S", 1000)
    assert c.send("r", "S", 5000) == "IGNORE" and c.state == "SYN_SENT2"
    assert c.r["last_flags"] & TF_SIMULTANEOUS_OPEN
    assert c.send("o", "SA", 1000, 5001) == "ACCEPT" and c.state == "SYN_RECV"
    assert c.send("r", "SA", 5000, 1001) == "IGNORE"
    assert c.send("r", "A", 5001, 1001) == "ACCEPT"
    assert c.state == "ESTABLISHED" and c.assured       # reply ACK in SYN_RECV: straight on


def test_reply_ack_in_syn_recv_without_simultaneous_open_stays():
    c = Conn()
    Talk(c).run([("o", "S"), ("r", "SA")])
    assert c.send("r", "A", B1, A1) == "ACCEPT" and c.state == "SYN_RECV"


def test_assured_on_third_handshake_packet_only():
    c = Conn()
    t = Talk(c)
    t.send("o", "S")
    t.send("r", "SA")
    assert not c.assured and c.state == "SYN_RECV"
    t.send("o", "A")
    assert c.assured
    c.send("o", "R", A1)
    assert c.state == "CLOSE" and c.assured              # never cleared


def test_pickup_assured_after_reply_and_a_following_packet():
    """kernel lab tcpwin.py: pickup ESTABLISHED 300 [UNREPLIED]; reply: 300, not
    assured; next packet: ASSURED, 432000."""
    c = Conn()
    c.send("o", "A", A1, B1)
    assert (c.state, c.timeout // NS, c.unreplied, c.assured) == ("ESTABLISHED", 300, True, False)
    assert c.side_flags("o") & TF_BE_LIBERAL and c.side_flags("r") & TF_BE_LIBERAL
    c.send("r", "A", B1, A1)
    assert (c.timeout // NS, c.unreplied, c.assured) == (300, False, False)
    c.send("o", "A", A1, B1)
    assert (c.timeout // NS, c.assured) == (432000, True)
