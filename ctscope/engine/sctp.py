"""SCTP (net/netfilter/nf_conntrack_proto_sctp.c, Linux 6.12+ / 6.18: no HEARTBEAT_ACKED).

Theory of operation
-------------------
Every chunk of a packet moves the entry's state through ``sctp_conntracks[dir][chunk
index][state]`` (a port of the kernel's table; DATA, SACK and other chunk types leave the
state alone).  A new entry is only created by INIT, INIT_ACK, SHUTDOWN, SHUTDOWN_ACK,
ERROR, COOKIE_ECHO, HEARTBEAT or HEARTBEAT_ACK alone (``sctp_new()``); ABORT,
SHUTDOWN_COMPLETE and COOKIE_ACK out of the blue are INVALID.  Verification tags are
learnt from INIT / INIT_ACK (init_tag), from HEARTBEAT(_ACK) and from an OOTB
SHUTDOWN_ACK, and checked on every packet (RFC 9260 sec. 8.5, 8.5.1).  Entering
ESTABLISHED sets ASSURED.  A refreshed entry gets the timeout of its new state;
INIT retransmitted in CLOSED and a HEARTBEAT with a new vtag (multihoming: a second
path) are accepted without refresh (V_IGNORE).

Private data: like the kernel's ``union nf_conntrack_proto`` (SCTP never uses TCP's
fields), ``struct ip_ct_sctp`` lives in the entry's TCP fields:

=================================  ==================================
kernel ``ct->proto.sctp``          ENTRY_DTYPE field
=================================  ==================================
``state``                          ``state`` (SCTP_* of layout.py)
``vtag[IP_CT_DIR_ORIGINAL]``       ``td_end0``
``vtag[IP_CT_DIR_REPLY]``          ``td_end1``
``init[IP_CT_DIR_ORIGINAL]``       ``tflags0`` (0/1)
``init[IP_CT_DIR_REPLY]``          ``tflags1`` (0/1)
``last_dir``                       ``last_dir``
``flags`` (HEARTBEAT_VTAG_FAILED)  ``last_flags``
=================================  ==================================

Vtags are kept in the byte order the record holds them (host order); the kernel only
ever compares them for equality and against zero, so the order does not matter.

Approximation (the packet record carries a chunk-type *bitmap*, not the chunk list):
the kernel walks the chunks in packet order, once per chunk; the model walks the chunk
types present once each, in ascending order of type.  Consequences:

* bundles of several state-changing chunk types are applied in type order, not wire
  order (real stacks rarely bundle control chunks, and INIT, INIT_ACK,
  SHUTDOWN_COMPLETE, COOKIE_ECHO and COOKIE_ACK must come alone or first anyway);
* ``do_basic_checks()`` is decided from the bitmap plus the first chunk's type: a
  repeated chunk of the same type (INIT, INIT) or a chunk type >= 32 after the first
  chunk goes unseen;
* the T flag is known for the first chunk only (``sctp_cflags``); an ABORT that is
  not the first chunk is checked as if its T flag were clear;
* a truncated INIT / INIT_ACK body (``skb_header_pointer()`` failing on the inithdr)
  is not detected: ``sctp_itag`` is taken as read.
"""
import numpy as np
from ..jit import hot

from ..packets.record import PF_CSUM_BAD, PF_L4_MALFORMED, PF_L4_OK
from . import settings as K
from .layout import (
    IPS_ASSURED, IPS_CONFIRMED, SCTP_CLOSED, SCTP_COOKIE_ECHOED, SCTP_COOKIE_WAIT,
    SCTP_ESTABLISHED, SCTP_HEARTBEAT_SENT, SCTP_NONE, SCTP_SHUTDOWN_ACK_SENT,
    SCTP_SHUTDOWN_RECD, SCTP_SHUTDOWN_SENT, V_ACCEPT, V_IGNORE, V_INVALID,
)

# --- chunk types (include/linux/sctp.h, enum sctp_cid) ----------------------------
SCTP_CID_DATA = 0
SCTP_CID_INIT = 1
SCTP_CID_INIT_ACK = 2
SCTP_CID_SACK = 3
SCTP_CID_HEARTBEAT = 4
SCTP_CID_HEARTBEAT_ACK = 5
SCTP_CID_ABORT = 6
SCTP_CID_SHUTDOWN = 7
SCTP_CID_SHUTDOWN_ACK = 8
SCTP_CID_ERROR = 9
SCTP_CID_COOKIE_ECHO = 10
SCTP_CID_COOKIE_ACK = 11
SCTP_CID_ECN_ECNE = 12
SCTP_CID_ECN_CWR = 13
SCTP_CID_SHUTDOWN_COMPLETE = 14

SCTP_CHUNK_FLAG_T = 0x01                 # include/linux/sctp.h
SCTP_FLAG_HEARTBEAT_VTAG_FAILED = 1      # nf_conntrack_proto_sctp.c

SCTP_CONNTRACK_MAX = 9
SCTP_CHUNK_BITS = 32                     # the record's bitmap holds types 0..31

# state names as the kernel's table spells them
sNO, sCL, sCW, sCE, sES = SCTP_NONE, SCTP_CLOSED, SCTP_COOKIE_WAIT, SCTP_COOKIE_ECHOED, SCTP_ESTABLISHED
sSS, sSR, sSA, sHS = SCTP_SHUTDOWN_SENT, SCTP_SHUTDOWN_RECD, SCTP_SHUTDOWN_ACK_SENT, SCTP_HEARTBEAT_SENT
sIV = SCTP_CONNTRACK_MAX

# sctp_conntracks[dir][chunk index][state]: nf_conntrack_proto_sctp.c, verbatim
sctp_conntracks = np.array([
    [
        # ORIGINAL
        #  sNO, sCL, sCW, sCE, sES, sSS, sSR, sSA, sHS
        [sCL, sCL, sCW, sCE, sES, sCL, sCL, sSA, sCW],  # init
        [sCL, sCL, sCW, sCE, sES, sSS, sSR, sSA, sCL],  # init_ack
        [sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL],  # abort
        [sCL, sCL, sCW, sCE, sSS, sSS, sSR, sSA, sCL],  # shutdown
        [sSA, sCL, sCW, sCE, sES, sSA, sSA, sSA, sSA],  # shutdown_ack
        [sCL, sCL, sCW, sCE, sES, sSS, sSR, sSA, sCL],  # error
        [sCL, sCL, sCE, sCE, sES, sSS, sSR, sSA, sCL],  # cookie_echo
        [sCL, sCL, sCW, sES, sES, sSS, sSR, sSA, sCL],  # cookie_ack
        [sCL, sCL, sCW, sCE, sES, sSS, sSR, sCL, sCL],  # shutdown_comp
        [sHS, sCL, sCW, sCE, sES, sSS, sSR, sSA, sHS],  # heartbeat
        [sCL, sCL, sCW, sCE, sES, sSS, sSR, sSA, sHS],  # heartbeat_ack
    ],
    [
        # REPLY
        #  sNO, sCL, sCW, sCE, sES, sSS, sSR, sSA, sHS
        [sIV, sCL, sCW, sCE, sES, sSS, sSR, sSA, sIV],  # init
        [sIV, sCW, sCW, sCE, sES, sSS, sSR, sSA, sIV],  # init_ack
        [sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sIV],  # abort
        [sIV, sCL, sCW, sCE, sSR, sSS, sSR, sSA, sIV],  # shutdown
        [sIV, sCL, sCW, sCE, sES, sSA, sSA, sSA, sIV],  # shutdown_ack
        [sIV, sCL, sCW, sCL, sES, sSS, sSR, sSA, sIV],  # error
        [sIV, sCL, sCE, sCE, sES, sSS, sSR, sSA, sIV],  # cookie_echo
        [sIV, sCL, sCW, sES, sES, sSS, sSR, sSA, sIV],  # cookie_ack
        [sIV, sCL, sCW, sCE, sES, sSS, sSR, sCL, sIV],  # shutdown_comp
        [sIV, sCL, sCW, sCE, sES, sSS, sSR, sSA, sHS],  # heartbeat
        [sIV, sCL, sCW, sCE, sES, sSS, sSR, sSA, sES],  # heartbeat_ack
    ],
], dtype=np.uint8)

# chunk types exempt from the general vtag check (nf_conntrack_sctp_packet(), sec. 8.5)
_VTAG_EXEMPT = ((1 << SCTP_CID_INIT) | (1 << SCTP_CID_SHUTDOWN_COMPLETE) | (1 << SCTP_CID_COOKIE_ECHO)
                | (1 << SCTP_CID_ABORT) | (1 << SCTP_CID_SHUTDOWN_ACK) | (1 << SCTP_CID_HEARTBEAT)
                | (1 << SCTP_CID_HEARTBEAT_ACK))
# chunks that must be alone (do_basic_checks(): "flag") / first (COOKIE_ECHO, COOKIE_ACK)
_ALONE = (1 << SCTP_CID_INIT) | (1 << SCTP_CID_INIT_ACK) | (1 << SCTP_CID_SHUTDOWN_COMPLETE)
_FIRST = (1 << SCTP_CID_COOKIE_ECHO) | (1 << SCTP_CID_COOKIE_ACK)
# OOTB chunks that never create an entry (nf_conntrack_sctp_packet(), sec. 8.4)
_OOTB_DISCARD = (1 << SCTP_CID_ABORT) | (1 << SCTP_CID_SHUTDOWN_COMPLETE) | (1 << SCTP_CID_COOKIE_ACK)

# the SCTP timeout sysctls are consecutive in state order (CLOSED .. HEARTBEAT_SENT)
assert [K.K_T_SCTP_CLOSED + s - SCTP_CLOSED for s in range(SCTP_CLOSED, SCTP_CONNTRACK_MAX)] == [
    K.K_T_SCTP_CLOSED, K.K_T_SCTP_COOKIE_WAIT, K.K_T_SCTP_COOKIE_ECHOED, K.K_T_SCTP_ESTABLISHED,
    K.K_T_SCTP_SHUTDOWN_SENT, K.K_T_SCTP_SHUTDOWN_RECD, K.K_T_SCTP_SHUTDOWN_ACK_SENT,
    K.K_T_SCTP_HEARTBEAT_SENT]


@hot
def sctp_timeout(S, state):
    """timeouts[state]; nf_conntrack_sctp_init_net(): timeouts[NONE] = timeouts[CLOSED]."""
    if state <= SCTP_CLOSED or state >= SCTP_CONNTRACK_MAX:
        return S[K.K_T_SCTP_CLOSED]
    return S[K.K_T_SCTP_CLOSED + state - SCTP_CLOSED]


@hot
def _bit(chunks, t):
    return ((np.int64(chunks) >> t) & 1) != 0


@hot
def _popcount(x):
    n = 0
    x = np.int64(x)
    while x != 0:
        x &= x - 1
        n += 1
    return n


@hot
def _vtag(r, d):
    if d == 0:
        return np.int64(r["td_end0"])
    return np.int64(r["td_end1"])


@hot
def _set_vtag(r, d, v):
    if d == 0:
        r["td_end0"] = v
    else:
        r["td_end1"] = v


@hot
def _init(r, d):
    if d == 0:
        return r["tflags0"] != 0
    return r["tflags1"] != 0


@hot
def _set_init(r, d, v):
    if d == 0:
        r["tflags0"] = v
    else:
        r["tflags1"] = v


@hot
def sctp_error(pk, S, check_csum):
    """sctp_error(): shorter than the common header ("short packet"), or a bad CRC32c
    verified at PRE_ROUTING with nf_conntrack_checksum=1 ("bad CRC")."""
    if (pk["pflags"] & PF_L4_OK) == 0:
        return True
    if check_csum and (pk["pflags"] & PF_CSUM_BAD) != 0:
        return True
    return False


@hot
def do_basic_checks(pk):
    """do_basic_checks(): True = invalid.  No chunk at all, a zero-length chunk
    (decoder: PF_L4_MALFORMED), COOKIE_ECHO/COOKIE_ACK not the first chunk,
    INIT/INIT_ACK/SHUTDOWN_COMPLETE not the only chunk (from the bitmap, see above)."""
    chunks = np.int64(pk["chunks"])
    first = np.int64(pk["sctp_first"])
    if (pk["pflags"] & PF_L4_MALFORMED) != 0:
        return True
    if chunks == 0 and first < SCTP_CHUNK_BITS:
        return True                                  # "return count == 0"
    if (chunks & _FIRST) != 0:
        # a COOKIE chunk that is not the first one (or both kinds present)
        if first >= SCTP_CHUNK_BITS or (chunks & _FIRST) != (np.int64(1) << first):
            return True
    if (chunks & _ALONE) != 0:
        # flag set by the first INIT/INIT_ACK/SHUTDOWN_COMPLETE; any chunk after it fails
        if first >= SCTP_CHUNK_BITS or ((np.int64(1) << first) & _ALONE) == 0:
            return True
        if _popcount(chunks) > 1:
            return True
    return False


@hot
def sctp_new_state(d, cur_state, chunk_type):
    """sctp_new_state(): the table cell, or cur_state for chunks without a row."""
    if chunk_type == SCTP_CID_INIT:
        i = 0
    elif chunk_type == SCTP_CID_INIT_ACK:
        i = 1
    elif chunk_type == SCTP_CID_ABORT:
        i = 2
    elif chunk_type == SCTP_CID_SHUTDOWN:
        i = 3
    elif chunk_type == SCTP_CID_SHUTDOWN_ACK:
        i = 4
    elif chunk_type == SCTP_CID_ERROR:
        i = 5
    elif chunk_type == SCTP_CID_COOKIE_ECHO:
        i = 6
    elif chunk_type == SCTP_CID_COOKIE_ACK:
        i = 7
    elif chunk_type == SCTP_CID_SHUTDOWN_COMPLETE:
        i = 8
    elif chunk_type == SCTP_CID_HEARTBEAT:
        i = 9
    elif chunk_type == SCTP_CID_HEARTBEAT_ACK:
        i = 10
    else:
        return cur_state         # DATA, SACK ... do not change the state
    return np.int64(sctp_conntracks[d][i][cur_state])


@hot
def sctp_new(r, pk):
    """sctp_new(): False = refuse to create the entry."""
    # memset(&ct->proto.sctp, 0, sizeof(ct->proto.sctp))
    r["state"] = SCTP_NONE
    r["td_end0"] = 0
    r["td_end1"] = 0
    r["tflags0"] = 0
    r["tflags1"] = 0
    r["last_dir"] = 0
    r["last_flags"] = 0
    chunks = np.int64(pk["chunks"])
    if np.int64(pk["sctp_first"]) >= SCTP_CHUNK_BITS:
        return False             # unknown chunk type: sctp_new_state() -> NONE
    for t in range(SCTP_CHUNK_BITS):
        if not _bit(chunks, t):
            continue
        new_state = sctp_new_state(0, SCTP_NONE, t)
        # Invalid: delete conntrack
        if new_state == SCTP_NONE or new_state == SCTP_CONNTRACK_MAX:
            return False
        if t == SCTP_CID_INIT:
            # Sec 8.5.1 (A)
            if pk["vtag"] != 0:
                return False
            r["td_end1"] = pk["sctp_itag"]          # vtag[REPLY] = ih->init_tag
        elif t == SCTP_CID_HEARTBEAT:
            r["td_end0"] = pk["vtag"]               # vtag[ORIGINAL] = sh->vtag
        elif t == SCTP_CID_SHUTDOWN_ACK:
            # OOTB shutdown ack: expect a SHUTDOWN_COMPLETE (or ABORT) back, sec. 8.4 (5), (8)
            r["td_end1"] = pk["vtag"]               # vtag[REPLY] = sh->vtag
        r["state"] = SCTP_NONE
    return True


@hot
def sctp_packet(tbl, e, d, pk, now, S, sctp):
    """nf_conntrack_sctp_packet() (sctp_error() is run before by the core).
    ``sctp`` is unused.  Returns (verdict, timeout_ns)."""
    r = tbl[e]
    chunks = np.int64(pk["chunks"])
    vtag = np.int64(pk["vtag"])
    confirmed = (r["status"] & IPS_CONFIRMED) != 0
    ignore = False

    if do_basic_checks(pk):
        return V_INVALID, 0

    if not confirmed:
        # If an OOTB packet has any of these chunks discard (Sec 8.4)
        if (chunks & _OOTB_DISCARD) != 0:
            return V_INVALID, 0
        if not sctp_new(r, pk):
            return V_INVALID, 0

    # Check the verification tag (Sec 8.5)
    if (chunks & _VTAG_EXEMPT) == 0 and vtag != _vtag(r, d):
        return V_INVALID, 0

    first = np.int64(pk["sctp_first"])
    for t in range(SCTP_CHUNK_BITS):
        if not _bit(chunks, t):
            continue
        # chunk flags are known for the first chunk only
        cflags = np.int64(pk["sctp_cflags"]) if t == first else 0
        # Special cases of Verification tag check (Sec 8.5.1)
        if t == SCTP_CID_INIT:
            # (A) vtag MUST be zero
            if vtag != 0:
                return V_INVALID, 0
        elif t == SCTP_CID_ABORT or t == SCTP_CID_SHUTDOWN_COMPLETE:
            # (B) ABORT / (C) SHUTDOWN_COMPLETE: vtag MUST match own vtag if the T flag
            # is unset OR MUST match peer's vtag if the T flag is set
            if (cflags & SCTP_CHUNK_FLAG_T) == 0:
                if vtag != _vtag(r, d):
                    return V_INVALID, 0
            elif vtag != _vtag(r, 1 - d):
                return V_INVALID, 0
        elif t == SCTP_CID_COOKIE_ECHO:
            # (D) vtag must be same as init_vtag as found in INIT_ACK
            if vtag != _vtag(r, d):
                return V_INVALID, 0
        elif t == SCTP_CID_COOKIE_ACK:
            _set_init(r, d, 0)
            _set_init(r, 1 - d, 0)
        elif t == SCTP_CID_HEARTBEAT:
            if _vtag(r, d) == 0:
                _set_vtag(r, d, vtag)
            elif vtag != _vtag(r, d):
                if _bit(chunks, SCTP_CID_DATA) or ignore:
                    return V_INVALID, 0
                # a HEARTBEAT on another path: accept, do not refresh
                r["last_flags"] = r["last_flags"] | SCTP_FLAG_HEARTBEAT_VTAG_FAILED
                r["last_dir"] = d
                ignore = True
                continue
            elif (r["last_flags"] & SCTP_FLAG_HEARTBEAT_VTAG_FAILED) != 0:
                r["last_flags"] = r["last_flags"] ^ SCTP_FLAG_HEARTBEAT_VTAG_FAILED
        elif t == SCTP_CID_HEARTBEAT_ACK:
            if _vtag(r, d) == 0:
                _set_vtag(r, d, vtag)
            elif vtag != _vtag(r, d):
                if _bit(chunks, SCTP_CID_DATA) or ignore:
                    return V_INVALID, 0
                if (r["last_flags"] & SCTP_FLAG_HEARTBEAT_VTAG_FAILED) == 0 or r["last_dir"] == d:
                    return V_INVALID, 0
                # the answer to a HEARTBEAT with a new vtag: the association was replaced
                r["last_flags"] = r["last_flags"] ^ SCTP_FLAG_HEARTBEAT_VTAG_FAILED
                _set_vtag(r, d, vtag)
                _set_vtag(r, 1 - d, 0)
            elif (r["last_flags"] & SCTP_FLAG_HEARTBEAT_VTAG_FAILED) != 0:
                r["last_flags"] = r["last_flags"] ^ SCTP_FLAG_HEARTBEAT_VTAG_FAILED

        old_state = np.int64(r["state"])
        new_state = sctp_new_state(d, old_state, t)
        # Invalid
        if new_state == SCTP_CONNTRACK_MAX:
            return V_INVALID, 0

        itag = np.int64(pk["sctp_itag"])
        # If it is an INIT or an INIT ACK note down the vtag
        if t == SCTP_CID_INIT:
            # Do not record INIT matching peer vtag (stale or retransmitted INIT):
            # commit 576a5d2bad48 (2026, backported to stable; observed on 6.18.44)
            if old_state == SCTP_NONE or _vtag(r, 1 - d) != itag:
                if _init(r, d) and _init(r, 1 - d):
                    _set_init(r, 1 - d, 0)
                _set_init(r, d, 1)
            _set_vtag(r, 1 - d, itag)
            # don't renew timeout on init retransmit so port reuse by client or NAT
            # middlebox cannot keep entry alive indefinitely (incl. nat info)
            if new_state == SCTP_CLOSED and old_state == SCTP_CLOSED and confirmed:
                ignore = True
        elif t == SCTP_CID_INIT_ACK:
            peer = _vtag(r, 1 - d)
            if not _init(r, 1 - d) and peer != 0 and peer != itag:
                return V_INVALID, 0
            # collision
            if _init(r, d) and _init(r, 1 - d) and peer != itag:
                return V_INVALID, 0
            _set_vtag(r, 1 - d, itag)

        r["state"] = new_state
        if old_state != new_state and new_state == SCTP_ESTABLISHED:
            # nf_conntrack_sctp_packet(): test_and_set_bit(IPS_ASSURED_BIT)
            r["status"] = r["status"] | IPS_ASSURED

    # allow but do not refresh timeout
    if ignore:
        return V_IGNORE, 0
    return V_ACCEPT, sctp_timeout(S, np.int64(r["state"]))


__all__ = ["sctp_error", "sctp_packet", "sctp_conntracks", "do_basic_checks", "sctp_new_state",
           "sctp_timeout"]
