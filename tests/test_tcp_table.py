"""The TCP transition table, packet classification and first-packet rules.

Expected values are written out from the behaviour specification
(/work/shared/reference/kernel-conntrack.md section 6.2, verified cell by cell on
6.18.44) and from the kernel lab output tcp_transition_results_6.18.44.txt -- not
derived from the module's array.
"""
import pytest

from ctscope.engine import tcp
from ctscope.engine.layout import (IPS_ASSURED, IPS_CONFIRMED, IPS_SEEN_REPLY, TF_BE_LIBERAL,
                                   TF_SACK_PERM, V_INVALID)
from ctscope.engine.settings import NS
from ctscope.packets.record import PF_CSUM_BAD, PF_L4_MALFORMED, PF_L4_OK

from tcp_harness import Conn, Talk, packet, settings

STATES = ["NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT",
          "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"]
KINDS = ["SYN", "SYNACK", "FIN", "ACK", "RST", "NONE"]
FLAGS_OF = {"SYN": "S", "SYNACK": "SA", "FIN": "FA", "ACK": "A", "RST": "R", "NONE": ""}

# section 6.2, columns NONE SYN_SENT SYN_RECV ESTABLISHED FIN_WAIT CLOSE_WAIT LAST_ACK
# TIME_WAIT CLOSE S2; '*' = re-open rule
SPEC_ORIGINAL = """
SYN    SYN_SENT SYN_SENT IG       IG          IG         IG         IG         SYN_SENT*  SYN_SENT*  S2
SYNACK IV       IV       SYN_RECV IV          IV         IV         IV         IV         IV         SYN_RECV
FIN    IV       IV       FIN_WAIT FIN_WAIT    LAST_ACK   LAST_ACK   LAST_ACK   TIME_WAIT  CLOSE      IV
ACK    ESTABLISHED IV    ESTABLISHED ESTABLISHED CLOSE_WAIT CLOSE_WAIT TIME_WAIT TIME_WAIT CLOSE    IV
RST    IV       CLOSE    CLOSE    CLOSE       CLOSE      CLOSE      CLOSE      CLOSE      CLOSE      CLOSE
NONE   IV       IV       IV       IV          IV         IV         IV         IV         IV         IV
"""
SPEC_REPLY = """
SYN    IV       S2       IV       IV          IV         IV         IV         SYN_SENT*  IV         S2
SYNACK IV       SYN_RECV IG       IG          IG         IG         IG         IG         IG         SYN_RECV
FIN    IV       IV       FIN_WAIT FIN_WAIT    LAST_ACK   LAST_ACK   LAST_ACK   TIME_WAIT  CLOSE      IV
ACK    IV       IG       SYN_RECV ESTABLISHED CLOSE_WAIT CLOSE_WAIT TIME_WAIT  TIME_WAIT  CLOSE      IG
RST    IV       CLOSE    CLOSE    CLOSE       CLOSE      CLOSE      CLOSE      CLOSE      CLOSE      CLOSE
NONE   IV       IV       IV       IV          IV         IV         IV         IV         IV         IV
"""
# section 5 defaults (seconds)
TIMEOUT_S = {"SYN_SENT": 120, "SYN_RECV": 60, "ESTABLISHED": 432000, "FIN_WAIT": 120,
             "CLOSE_WAIT": 60, "LAST_ACK": 30, "TIME_WAIT": 120, "CLOSE": 10, "SYN_SENT2": 120}


def parse_spec(text):
    out = {}
    for line in text.strip().splitlines():
        kind, *cells = line.split()
        assert len(cells) == 10
        for state, cell in zip(STATES, cells):
            out[(kind, state)] = cell.replace("S2", "SYN_SENT2")
    return out


SPEC = {0: parse_spec(SPEC_ORIGINAL), 1: parse_spec(SPEC_REPLY)}
CELLS = [(d, k, s) for d in (0, 1) for k in KINDS for s in STATES]


def cell_code(name):
    name = name.rstrip("*")
    return {"IV": tcp.sIV, "IG": tcp.sIG}.get(name, STATES.index(name) if name in STATES else -1)


@pytest.mark.parametrize("d,kind,state", CELLS)
def test_table_literal_matches_spec(d, kind, state):
    got = tcp.TCP_CONNTRACKS[d, KINDS.index(kind), STATES.index(state)]
    assert got == cell_code(SPEC[d][(kind, state)])


def test_table_shape_and_markers():
    assert tcp.TCP_CONNTRACKS.shape == (2, 6, 10)
    assert tcp.sIV == 10 and tcp.sIG == 11           # sIV = TCP_CONNTRACK_MAX


@pytest.mark.parametrize("flags,index", [
    ("S", "SYN"), ("SA", "SYNACK"), ("SAU", "SYNACK"), ("FA", "FIN"), ("A", "ACK"), ("AP", "ACK"),
    ("R", "RST"), ("RA", "RST"), ("SR", "RST"), ("SF", "SYN"), ("F", "FIN"), ("", "NONE"),
    ("P", "NONE"), ("U", "NONE")])
def test_get_conntrack_index(flags, index):
    bits = packet(flags)[0]["tcpflags"]
    assert tcp.get_conntrack_index(bits) == KINDS.index(index)


def _cell_entry(state, S):
    """A confirmed, replied, assured entry in ``state`` whose window checks always
    pass (both sides BE_LIBERAL), with no CLOSE_INIT and no remembered packet."""
    c = Conn(S)
    c._create("o")
    r = c.r
    r["state"] = STATES.index(state)
    r["status"] = IPS_CONFIRMED | IPS_SEEN_REPLY | IPS_ASSURED
    r["td_end0"], r["td_end1"] = 1001, 5001
    r["td_maxend0"], r["td_maxend1"] = 1001 + 65535, 5001 + 65535
    r["td_maxwin0"] = r["td_maxwin1"] = 65535
    r["tflags0"] = r["tflags1"] = TF_BE_LIBERAL
    r["last_index"] = 5                 # TCP_NONE_SET
    r["last_win"] = 65535
    r["expires"] = c.now + 7777 * NS
    return c


@pytest.mark.parametrize("d,kind,state", CELLS)
def test_every_cell_behaviour(d, kind, state):
    """Each cell of 6.2 drives the verdict and the new state: IV -> INVALID, IG ->
    IGNORE (also the re-open cells when no re-open condition holds), else ACCEPT
    with the new state and its timeout (RST: the CLOSE timeout)."""
    S = settings()
    c = _cell_entry(state, S)
    side = "o" if d == 0 else "r"
    seq = 1001 if d == 0 else 5001
    ack = 0 if kind in ("SYN", "RST") else (5001 if d == 0 else 1001)
    v = c.send(side, FLAGS_OF[kind], seq, ack)
    cell = SPEC[d][(kind, state)]
    if kind == "NONE":
        assert v == "INVALID"                # tcp_error(): no flags is not a valid combination
        r = c.r
        v2, _ = tcp.tcp_packet(c.tbl, 0, d, packet("")[0], c.now, S)   # the table itself
        assert v2 == V_INVALID and r["state"] == STATES.index(state)
        return
    if cell == "IV":
        assert (v, c.state, c.remaining) == ("INVALID", state, 7777)
    elif cell == "IG" or cell.endswith("*"):
        assert (v, c.state, c.remaining) == ("IGNORE", state, 7777)
    else:
        assert (v, c.state) == ("ACCEPT", cell)
        assert c.remaining == (10 if kind == "RST" else TIMEOUT_S[cell])


# ---- kernel lab replay (tcpfsm2.py, be_liberal 0; tcp_transition_results_6.18.44.txt) ----
PREFIX = {
    "SYN_SENT": [("o", "S")],
    "SYN_SENT2": [("o", "S"), ("r", "S")],
    "SYN_RECV": [("o", "S"), ("r", "SA")],
    "ESTABLISHED": [("o", "S"), ("r", "SA"), ("o", "A")],
    "FIN_WAIT": [("o", "S"), ("r", "SA"), ("o", "A"), ("o", "FA")],
    "CLOSE_WAIT": [("o", "S"), ("r", "SA"), ("o", "A"), ("o", "FA"), ("r", "A")],
    "LAST_ACK": [("o", "S"), ("r", "SA"), ("o", "A"), ("o", "FA"), ("r", "A"), ("r", "FA")],
    "TIME_WAIT": [("o", "S"), ("r", "SA"), ("o", "A"), ("o", "FA"), ("r", "A"), ("r", "FA"), ("o", "A")],
    "CLOSE": [("o", "S"), ("r", "SA"), ("o", "A"), ("o", "R")],
    "PICKUP_EST": [("o", "A")],
}
# "<prefix> <dir> <pkt>": result, state after, timeout before/after (s), refreshed, flags
LAB = """
SYN_SENT ORIG S ok SYN_SENT 119 117 noref U
SYN_SENT ORIG SA INVALID SYN_SENT 119 117 noref U
SYN_SENT ORIG FA INVALID SYN_SENT 119 117 noref U
SYN_SENT ORIG A INVALID SYN_SENT 119 117 noref U
SYN_SENT ORIG R DELETED
SYN_SENT ORIG P INVALID SYN_SENT 119 117 noref U
SYN_SENT REPL S ok SYN_SENT2 119 117 noref -
SYN_SENT REPL SA ok SYN_RECV 119 60 noref -
SYN_SENT REPL FA INVALID SYN_SENT 119 117 noref U
SYN_SENT REPL A ok SYN_SENT 119 117 noref -
SYN_SENT REPL R DELETED
SYN_SENT REPL P INVALID SYN_SENT 119 117 noref U
SYN_SENT2 ORIG S ok SYN_SENT2 119 120 REFRESH -
SYN_SENT2 ORIG SA ok SYN_RECV 119 60 noref -
SYN_SENT2 ORIG FA INVALID SYN_SENT2 119 117 noref -
SYN_SENT2 ORIG A INVALID SYN_SENT2 119 117 noref -
SYN_SENT2 ORIG R ok CLOSE 119 10 noref -
SYN_SENT2 ORIG P INVALID SYN_SENT2 119 117 noref -
SYN_SENT2 REPL S ok SYN_SENT2 119 120 REFRESH -
SYN_SENT2 REPL SA ok SYN_RECV 119 60 noref -
SYN_SENT2 REPL FA INVALID SYN_SENT2 119 117 noref -
SYN_SENT2 REPL A ok SYN_SENT2 119 117 noref -
SYN_SENT2 REPL R ok CLOSE 119 9 noref -
SYN_SENT2 REPL P INVALID SYN_SENT2 119 117 noref -
SYN_RECV ORIG S ok SYN_RECV 59 57 noref -
SYN_RECV ORIG SA ok SYN_RECV 59 60 REFRESH -
SYN_RECV ORIG FA ok FIN_WAIT 59 120 REFRESH -
SYN_RECV ORIG A ok ESTABLISHED 59 432000 REFRESH A
SYN_RECV ORIG R ok CLOSE 59 10 noref -
SYN_RECV ORIG P INVALID SYN_RECV 59 57 noref -
SYN_RECV REPL S INVALID SYN_RECV 59 57 noref -
SYN_RECV REPL SA ok SYN_RECV 59 57 noref -
SYN_RECV REPL FA ok FIN_WAIT 59 120 REFRESH -
SYN_RECV REPL A ok SYN_RECV 59 60 REFRESH -
SYN_RECV REPL R ok CLOSE 59 10 noref -
SYN_RECV REPL P INVALID SYN_RECV 59 57 noref -
ESTABLISHED ORIG S ok ESTABLISHED 431999 431997 noref A
ESTABLISHED ORIG SA INVALID ESTABLISHED 431999 431997 noref A
ESTABLISHED ORIG FA ok FIN_WAIT 431999 120 noref A
ESTABLISHED ORIG A ok ESTABLISHED 431999 432000 REFRESH A
ESTABLISHED ORIG R ok CLOSE 431999 10 noref A
ESTABLISHED ORIG P INVALID ESTABLISHED 431999 431997 noref A
ESTABLISHED REPL S INVALID ESTABLISHED 431999 431997 noref A
ESTABLISHED REPL SA ok ESTABLISHED 431999 431997 noref A
ESTABLISHED REPL FA ok FIN_WAIT 431999 120 noref A
ESTABLISHED REPL A ok ESTABLISHED 431999 432000 REFRESH A
ESTABLISHED REPL R ok CLOSE 431999 9 noref A
ESTABLISHED REPL P INVALID ESTABLISHED 431999 431997 noref A
FIN_WAIT ORIG S ok FIN_WAIT 119 117 noref A
FIN_WAIT ORIG SA INVALID FIN_WAIT 119 117 noref A
FIN_WAIT ORIG FA ok LAST_ACK 119 30 noref A
FIN_WAIT ORIG A ok CLOSE_WAIT 119 60 noref A
FIN_WAIT ORIG R ok CLOSE 119 10 noref A
FIN_WAIT ORIG P INVALID FIN_WAIT 119 117 noref A
FIN_WAIT REPL S INVALID FIN_WAIT 119 117 noref A
FIN_WAIT REPL SA ok FIN_WAIT 119 117 noref A
FIN_WAIT REPL FA ok LAST_ACK 119 30 noref A
FIN_WAIT REPL A ok CLOSE_WAIT 119 60 noref A
FIN_WAIT REPL R ok CLOSE 119 10 noref A
FIN_WAIT REPL P INVALID FIN_WAIT 119 117 noref A
CLOSE_WAIT ORIG S ok CLOSE_WAIT 59 57 noref A
CLOSE_WAIT ORIG SA INVALID CLOSE_WAIT 59 57 noref A
CLOSE_WAIT ORIG FA ok LAST_ACK 59 30 noref A
CLOSE_WAIT ORIG A ok CLOSE_WAIT 59 60 REFRESH A
CLOSE_WAIT ORIG R ok CLOSE 59 10 noref A
CLOSE_WAIT ORIG P INVALID CLOSE_WAIT 59 57 noref A
CLOSE_WAIT REPL S INVALID CLOSE_WAIT 59 57 noref A
CLOSE_WAIT REPL SA ok CLOSE_WAIT 59 57 noref A
CLOSE_WAIT REPL FA ok LAST_ACK 59 30 noref A
CLOSE_WAIT REPL A ok CLOSE_WAIT 59 60 REFRESH A
CLOSE_WAIT REPL R ok CLOSE 59 9 noref A
CLOSE_WAIT REPL P INVALID CLOSE_WAIT 59 57 noref A
LAST_ACK ORIG S ok LAST_ACK 29 27 noref A
LAST_ACK ORIG SA INVALID LAST_ACK 29 27 noref A
LAST_ACK ORIG FA ok LAST_ACK 29 30 REFRESH A
LAST_ACK ORIG A ok TIME_WAIT 29 120 REFRESH A
LAST_ACK ORIG R ok CLOSE 29 10 noref A
LAST_ACK ORIG P INVALID LAST_ACK 29 27 noref A
LAST_ACK REPL S INVALID LAST_ACK 29 27 noref A
LAST_ACK REPL SA ok LAST_ACK 29 27 noref A
LAST_ACK REPL FA ok LAST_ACK 29 30 REFRESH A
LAST_ACK REPL A ok TIME_WAIT 29 120 REFRESH A
LAST_ACK REPL R ok CLOSE 29 10 noref A
LAST_ACK REPL P INVALID LAST_ACK 29 27 noref A
TIME_WAIT ORIG S ok SYN_SENT 119 120 REFRESH U
TIME_WAIT ORIG SA INVALID TIME_WAIT 119 117 noref A
TIME_WAIT ORIG FA ok TIME_WAIT 119 120 REFRESH A
TIME_WAIT ORIG A ok TIME_WAIT 119 120 REFRESH A
TIME_WAIT ORIG R ok CLOSE 119 10 noref A
TIME_WAIT ORIG P INVALID TIME_WAIT 119 117 noref A
TIME_WAIT REPL S ok SYN_SENT 119 120 REFRESH U NEWDIR
TIME_WAIT REPL SA ok TIME_WAIT 119 117 noref A
TIME_WAIT REPL FA ok TIME_WAIT 119 120 REFRESH A
TIME_WAIT REPL A ok TIME_WAIT 119 120 REFRESH A
TIME_WAIT REPL R ok CLOSE 119 10 noref A
TIME_WAIT REPL P INVALID TIME_WAIT 119 117 noref A
CLOSE ORIG S ok SYN_SENT 9 120 REFRESH U
CLOSE ORIG SA INVALID CLOSE 9 7 noref A
CLOSE ORIG FA ok CLOSE 9 10 REFRESH A
CLOSE ORIG A ok CLOSE 9 10 REFRESH A
CLOSE ORIG R ok CLOSE 9 10 REFRESH A
CLOSE ORIG P INVALID CLOSE 9 7 noref A
CLOSE REPL S INVALID CLOSE 9 7 noref A
CLOSE REPL SA ok CLOSE 10 7 noref A
CLOSE REPL FA ok CLOSE 10 10 REFRESH A
CLOSE REPL A ok CLOSE 10 10 REFRESH A
CLOSE REPL R ok CLOSE 10 10 REFRESH A
CLOSE REPL P INVALID CLOSE 10 7 noref A
PICKUP_EST ORIG S ok ESTABLISHED 300 297 noref U
PICKUP_EST ORIG SA INVALID ESTABLISHED 300 297 noref U
PICKUP_EST ORIG FA ok FIN_WAIT 300 120 noref U
PICKUP_EST ORIG A ok ESTABLISHED 300 300 REFRESH U
PICKUP_EST ORIG R DELETED
PICKUP_EST ORIG P INVALID ESTABLISHED 300 297 noref U
PICKUP_EST REPL S INVALID ESTABLISHED 300 297 noref U
PICKUP_EST REPL SA ok ESTABLISHED 300 297 noref -
PICKUP_EST REPL FA ok FIN_WAIT 300 120 noref -
PICKUP_EST REPL A ok ESTABLISHED 300 300 REFRESH -
PICKUP_EST REPL R DELETED
PICKUP_EST REPL P INVALID ESTABLISHED 300 297 noref U
"""
LAB_ROWS = [line.split() for line in LAB.strip().splitlines()]


@pytest.mark.parametrize("row", LAB_ROWS, ids=[" ".join(r[:3]) for r in LAB_ROWS])
def test_kernel_lab_replay(row):
    """Replay the lab's exact packets (ISN 1000/5000, window 65535, no options) and
    compare with what 6.18.44 did: INVALID or not, deleted, state, whether the
    timeout was refreshed (and to what), UNREPLIED/ASSURED, re-open direction."""
    prefix, dname, kind, result = row[:4]
    c = Conn()
    talk = Talk(c).run(PREFIX[prefix])
    c.advance(2.3)                                  # the lab slept 2.3 s before the test packet
    before = c.remaining
    side = "o" if dname == "ORIG" else "r"
    v = talk.send(side, kind)
    if result == "DELETED":
        assert v == "DELETE" and not c.exists
        return
    state, _t_before, t_after, _ref, flags = row[4:9]
    assert c.exists and c.state == state
    assert (v == "INVALID") == (result == "INVALID")
    if v.endswith("ACCEPT"):                        # refreshed to t: /proc shows t or t-1
        assert int(t_after) in (c.timeout // NS, c.timeout // NS - 1)
        assert c.remaining * NS == c.timeout
    else:                                           # not refreshed: only time went by
        assert int(t_after) < int(_t_before) and c.remaining == before
    assert c.unreplied == ("U" in flags) and c.assured == ("A" in flags)
    assert (c.orig == "r") == ("NEWDIR" in row)


# ---- first packet: tcp_new() ---------------------------------------------------------
@pytest.mark.parametrize("flags,loose,expect,state", [
    ("S", 1, "ACCEPT", "SYN_SENT"), ("S", 0, "ACCEPT", "SYN_SENT"),
    ("A", 1, "ACCEPT", "ESTABLISHED"), ("A", 0, "INVALID", "DELETED"),
    ("SA", 1, "INVALID", "DELETED"), ("FA", 1, "INVALID", "DELETED"),
    ("R", 1, "INVALID", "DELETED"), ("RA", 1, "INVALID", "DELETED"),
    ("PA", 1, "ACCEPT", "ESTABLISHED")])
def test_first_packet(flags, loose, expect, state):
    c = Conn(settings(tcp_loose=loose))
    assert c.send("o", flags, 1000, 5000 if "A" in flags else 0) == expect
    assert c.state == state


def test_new_syn_initialises_original_side():
    c = Conn()
    c.send("o", "S", 1000, 0, win=29200, wscale=7, sackperm=True)
    assert (c.side("o", "end"), c.side("o", "maxend"), c.side("o", "maxwin")) == (1001, 1001, 29200)
    assert c.side("o", "scale") == 7
    assert c.side_flags("o") == tcp.TF_WINDOW_SCALE | TF_SACK_PERM
    assert c.side("r", "maxend") == 29200           # receiver maxend = ack(0) + win
    assert c.timeout == 120 * NS and c.unreplied


def test_pickup_marks_both_sides_liberal_and_sack():
    c = Conn()
    c.send("o", "A", 1001, 5001, win=1000)
    assert c.side_flags("o") == c.side_flags("r") == TF_SACK_PERM | TF_BE_LIBERAL
    assert (c.side("o", "end"), c.side("o", "maxend")) == (1001, 2001)
    assert c.timeout == 300 * NS                    # ESTABLISHED without reply: UNACK cap


# ---- tcp_error() -------------------------------------------------------------------
# section 6.1: valid combinations after masking PSH/ECE/CWR
VALID = {"S", "SU", "SA", "R", "RA", "FA", "FAU", "A", "AU"}


def _name(bits):
    return "".join(ch for ch in "SRFAU" if bits & {"S": 2, "R": 4, "F": 1, "A": 16, "U": 32}[ch])


@pytest.mark.parametrize("bits", range(256))
def test_flag_validation_all_bytes(bits):
    b = packet(bits)
    canonical = "".join(sorted(_name(bits)))
    valid = canonical in {"".join(sorted(v)) for v in VALID}
    assert tcp.tcp_error(b[0], settings(), True) == (not valid)


@pytest.mark.parametrize("pflags,check,csum_sysctl,invalid", [
    (PF_L4_OK, True, 1, False),
    (0, True, 1, True),                                  # truncated: no complete header
    (PF_L4_OK | PF_L4_MALFORMED, True, 1, True),         # bad data offset
    (PF_L4_OK | PF_CSUM_BAD, True, 1, True),             # PRE_ROUTING, checksum on
    (PF_L4_OK | PF_CSUM_BAD, False, 1, False),           # not PRE_ROUTING
    (PF_L4_OK | PF_CSUM_BAD, True, 0, False)])           # nf_conntrack_checksum=0
def test_tcp_error_header_and_checksum(pflags, check, csum_sysctl, invalid):
    b = packet("S", pflags=pflags)
    assert tcp.tcp_error(b[0], settings(checksum=csum_sysctl), check) == invalid


def test_invalid_first_packet_creates_no_entry_even_if_syn():
    c = Conn()
    assert c.send("o", "S", 1000, pflags=PF_L4_OK | PF_CSUM_BAD) == "INVALID"
    assert not c.exists
