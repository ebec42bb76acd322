"""TCP connection tracker: a port of Linux 6.18 ``net/netfilter/nf_conntrack_proto_tcp.c``.

Theory of operation
-------------------
The core resolves (or creates, unconfirmed) the entry for a packet, then calls
``tcp_conntrack()`` = ``tcp_error()`` + ``tcp_packet()``, exactly where the kernel's
``nf_conntrack_tcp_packet()`` runs (after the lookup, so a malformed packet on a new
tuple still allocates an entry first, as in 6.x).

``tcp_packet()`` follows ``nf_conntrack_tcp_packet()`` step by step:

1. first packet (entry not CONFIRMED): ``tcp_new()`` -- SYN -> SYN_SENT, ACK ->
   ESTABLISHED pickup when ``tcp_loose`` (both sides BE_LIBERAL), else INVALID;
2. ``new = TCP_CONNTRACKS[dir][index][old]``; special cases by ``new``: re-open
   (V_REPEAT), ignore + resync (V_IGNORE), invalid, RFC 5961 challenge ACK,
   simultaneous open, RST validation;
3. ``tcp_in_window()``: the four sequence/ack bounds (ACCEPT / IGNORE / INVALID;
   INVALID FIN/RST may lower ``expires`` via ``nf_tcp_handle_invalid()``);
4. state update, timeout choice (retrans, RST, unacked data, zero window caps),
   then the "no reply seen yet" rules (RST deletes, SYN retransmit does not
   refresh, pickup capped) and ASSURED.

The per-entry state is ``struct ip_ct_tcp`` flattened into ``ENTRY_DTYPE``:
``seen[d].x`` is ``<x>0``/``<x>1`` (td_end, td_maxend, td_maxwin, td_maxack,
td_scale, tflags), accessed through ``seen()``/``put()``.  All sequence arithmetic
is done in int64 and masked to 32 bits; ``before()``/``after()`` are the kernel's.

Verdicts (layout ``V_*``): ACCEPT (core sets ``expires = now + timeout`` and
accounts), IGNORE (no refresh, no accounting), INVALID, DELETE (RST before any
reply), REPEAT (kill the entry, process the packet again as new).

Source: net/netfilter/nf_conntrack_proto_tcp.c of a 6.12+ mainline tree (function
names are cited at each rule), plus the stable fix "netfilter: conntrack: tcp: do
not force CLOSE on invalid-seq RST without direction check" (May 2026).

Model decisions: no NAT sequence offsets, no synproxy, no per-entry timeout
policies.  A SYN is treated as carrying TCP options when the decoder saw a
window-scale, SACK-permitted or SACK option (``tcp_options()`` only resets the
side's scale/flags when the header has options).  Overshoot (data past
td_maxend but inside the receiver window) is IGNORE, as in the 6.12+ source.
"""
from __future__ import annotations

import numpy as np
from ..jit import hot

from ..packets.record import (PF_CSUM_BAD, PF_L4_MALFORMED, PF_L4_OK, PF_SACK, PF_TCP_OPTS,
                              PF_SACK_PERM, TH_ACK, TH_CWR, TH_ECE, TH_FIN, TH_PSH,
                              TH_RST, TH_SYN, TH_URG)
from .layout import (IPS_ASSURED, IPS_CONFIRMED, IPS_FIXED_TIMEOUT, IPS_SEEN_REPLY,
                     TCP_CLOSE, TCP_CLOSE_WAIT, TCP_ESTABLISHED, TCP_FIN_WAIT, TCP_IG,
                     TCP_IV, TCP_LAST_ACK, TCP_NONE, TCP_SYN_RECV, TCP_SYN_SENT,
                     TCP_SYN_SENT2, TCP_TIME_WAIT, TF_BE_LIBERAL, TF_CLOSE_INIT,
                     TF_DATA_UNACKNOWLEDGED, TF_EXP_CHALLENGE_ACK, TF_MAXACK_SET,
                     TF_SACK_PERM, TF_SIMULTANEOUS_OPEN, TF_WINDOW_SCALE, V_ACCEPT,
                     V_DELETE, V_IGNORE, V_INVALID, V_REPEAT)
from .settings import (K_CHECKSUM, K_T_CLOSE, K_T_CLOSE_WAIT, K_T_ESTABLISHED,
                       K_T_FIN_WAIT, K_T_LAST_ACK, K_T_MAX_RETRANS, K_T_SYN_RECV,
                       K_T_SYN_SENT, K_T_TIME_WAIT, K_T_UNACK, K_TCP_BE_LIBERAL,
                       K_TCP_IGNORE_INVALID_RST, K_TCP_LOOSE, K_TCP_MAX_RETRANS, NS)

# enum tcp_bit_set (get_conntrack_index())
TCP_SYN_SET, TCP_SYNACK_SET, TCP_FIN_SET, TCP_ACK_SET, TCP_RST_SET, TCP_NONE_SET = 0, 1, 2, 3, 4, 5
INDEX_NAMES = ("SYN", "SYNACK", "FIN", "ACK", "RST", "NONE")

MAXACKWINCONST = 66000          # MAXACKWINDOW(sender) = max(sender.td_maxwin, this)
TCP_MAX_WSCALE = 14             # tcp_options(): RFC 7323 cap
M32 = 0xFFFFFFFF
# tcp_timeouts[TCP_CONNTRACK_SYN_SENT2] = 2 MINS: no sysctl exists for it
# (nf_conntrack_standalone.c registers syn_sent .. close, max_retrans, unack only).
SYN_SENT2_TIMEOUT_NS = 120 * NS

# --- the transition table: tcp_conntracks[2][6][TCP_CONNTRACK_MAX] ---------------
sNO, sSS, sSR, sES, sFW = TCP_NONE, TCP_SYN_SENT, TCP_SYN_RECV, TCP_ESTABLISHED, TCP_FIN_WAIT
sCW, sLA, sTW, sCL, sS2 = TCP_CLOSE_WAIT, TCP_LAST_ACK, TCP_TIME_WAIT, TCP_CLOSE, TCP_SYN_SENT2
sIV, sIG = TCP_IV, TCP_IG

TCP_CONNTRACKS = np.array([
    [   # ORIGINAL
        #  sNO  sSS  sSR  sES  sFW  sCW  sLA  sTW  sCL  sS2
        [sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS, sS2],  # syn: sTW/sCL -> sSS re-open (RFC 1122)
        [sIV, sIV, sSR, sIV, sIV, sIV, sIV, sIV, sIV, sSR],  # synack: sS2 -> sSR simultaneous open
        [sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV],  # fin: sSS -> sIV wait for SYN/ACK first
        [sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL, sIV],  # ack: sNO -> sES assumed (pickup)
        [sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL],  # rst
        [sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV],  # none
    ],
    [   # REPLY
        #  sNO  sSS  sSR  sES  sFW  sCW  sLA  sTW  sCL  sS2
        [sIV, sS2, sIV, sIV, sIV, sIV, sIV, sSS, sIV, sS2],  # syn: sSS -> sS2 simultaneous open; sTW -> sSS role switch
        [sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR],  # synack: sSR.. -> sIG may answer an ignored SYN
        [sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV],  # fin
        [sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL, sIG],  # ack: sSS -> sIG might be a half-open connection
        [sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL],  # rst
        [sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV],  # none
    ],
], dtype=np.uint8)

# tcp_valid_flags[]: PSH, ECE and CWR are always valid (masked off before the lookup)
_VALID = (TH_SYN, TH_SYN | TH_URG, TH_SYN | TH_ACK, TH_RST, TH_RST | TH_ACK,
          TH_FIN | TH_ACK, TH_FIN | TH_ACK | TH_URG, TH_ACK, TH_ACK | TH_URG)
TCP_VALID_FLAGS = np.zeros(64, dtype=np.uint8)
for _f in _VALID:
    TCP_VALID_FLAGS[_f] = 1
TCP_FLAG_MASK = 0xFF & ~(TH_ECE | TH_CWR | TH_PSH)

# settings index of each state's timeout (NONE uses syn_sent: nf_conntrack_tcp_init_net())
TIMEOUT_KEY = np.array([K_T_SYN_SENT, K_T_SYN_SENT, K_T_SYN_RECV, K_T_ESTABLISHED, K_T_FIN_WAIT,
                        K_T_CLOSE_WAIT, K_T_LAST_ACK, K_T_TIME_WAIT, K_T_CLOSE, -1], dtype=np.int64)

# field codes for seen()/put(): struct ip_ct_tcp_state members
F_END, F_MAXEND, F_MAXWIN, F_MAXACK, F_SCALE, F_FLAGS = 0, 1, 2, 3, 4, 5


# --- small helpers ----------------------------------------------------------------
@hot
def before(a, b):
    """Kernel before(): (s32)(a - b) < 0."""
    x = (a - b) & M32
    return x >= 0x80000000


@hot
def after(a, b):
    return before(b, a)


@hot
def seen(r, d, f):
    """ct->proto.tcp.seen[d].<f> as int64."""
    if d == 0:
        if f == F_END:
            return np.int64(r['td_end0'])
        if f == F_MAXEND:
            return np.int64(r['td_maxend0'])
        if f == F_MAXWIN:
            return np.int64(r['td_maxwin0'])
        if f == F_MAXACK:
            return np.int64(r['td_maxack0'])
        if f == F_SCALE:
            return np.int64(r['td_scale0'])
        return np.int64(r['tflags0'])
    if f == F_END:
        return np.int64(r['td_end1'])
    if f == F_MAXEND:
        return np.int64(r['td_maxend1'])
    if f == F_MAXWIN:
        return np.int64(r['td_maxwin1'])
    if f == F_MAXACK:
        return np.int64(r['td_maxack1'])
    if f == F_SCALE:
        return np.int64(r['td_scale1'])
    return np.int64(r['tflags1'])


@hot
def put(r, d, f, v):
    """ct->proto.tcp.seen[d].<f> = v (masked to the field width)."""
    if f == F_SCALE or f == F_FLAGS:
        v8 = v & 0xFF
        if f == F_SCALE:
            if d == 0:
                r['td_scale0'] = v8
            else:
                r['td_scale1'] = v8
        elif d == 0:
            r['tflags0'] = v8
        else:
            r['tflags1'] = v8
        return
    v = v & M32
    if d == 0:
        if f == F_END:
            r['td_end0'] = v
        elif f == F_MAXEND:
            r['td_maxend0'] = v
        elif f == F_MAXWIN:
            r['td_maxwin0'] = v
        else:
            r['td_maxack0'] = v
    elif f == F_END:
        r['td_end1'] = v
    elif f == F_MAXEND:
        r['td_maxend1'] = v
    elif f == F_MAXWIN:
        r['td_maxwin1'] = v
    else:
        r['td_maxack1'] = v


@hot
def get_conntrack_index(tcpflags):
    """get_conntrack_index(): RST > SYN(/ACK) > FIN > ACK > NONE."""
    if tcpflags & TH_RST:
        return TCP_RST_SET
    if tcpflags & TH_SYN:
        return TCP_SYNACK_SET if tcpflags & TH_ACK else TCP_SYN_SET
    if tcpflags & TH_FIN:
        return TCP_FIN_SET
    if tcpflags & TH_ACK:
        return TCP_ACK_SET
    return TCP_NONE_SET


@hot
def segment_end(pk):
    """segment_seq_plus_len(): seq + payload + SYN + FIN."""
    fl = np.int64(pk['tcpflags'])
    end = np.int64(pk['seq']) + np.int64(pk['datalen'])
    if fl & TH_SYN:
        end += 1
    if fl & TH_FIN:
        end += 1
    return end & M32


@hot
def state_timeout(S, state):
    """tn->timeouts[state] in ns (SYN_SENT2: table constant, no sysctl)."""
    k = TIMEOUT_KEY[state]
    if k < 0:
        return np.int64(SYN_SENT2_TIMEOUT_NS)
    return np.int64(S[k])


@hot
def tcp_error(pk, S, check_csum):
    """tcp_error(): True = INVALID (truncated/malformed header, bad checksum at
    PRE_ROUTING with nf_conntrack_checksum=1, invalid flag combination).
    PF_CSUM_UNCHECKED (cut by the snaplen) counts as a good checksum."""
    pf = np.int64(pk['pflags'])
    if (pf & PF_L4_OK) == 0 or (pf & PF_L4_MALFORMED) != 0:
        return True
    if check_csum and S[K_CHECKSUM] != 0 and (pf & PF_CSUM_BAD) != 0:
        return True
    return TCP_VALID_FLAGS[np.int64(pk['tcpflags']) & TCP_FLAG_MASK] == 0


@hot
def _has_options(pk):
    """tcp_options() parses only when th->doff*4 > sizeof(struct tcphdr): the decoder
    sets PF_TCP_OPTS then; records built without it fall back to the options seen."""
    pf = np.int64(pk['pflags'])
    return (pf & PF_TCP_OPTS) != 0 or np.int64(pk['wscale']) != -1 or (pf & (PF_SACK_PERM | PF_SACK)) != 0


@hot
def _option_bits(pk):
    """(flags, scale) tcp_options() finds in the packet: SACK_PERM, WINDOW_SCALE
    (scale capped at TCP_MAX_WSCALE)."""
    flags = np.int64(0)
    scale = np.int64(0)
    if np.int64(pk['pflags']) & PF_SACK_PERM:
        flags |= TF_SACK_PERM
    ws = np.int64(pk['wscale'])
    if ws != -1:
        scale = min(ws & 0xFF, TCP_MAX_WSCALE)
        flags |= TF_WINDOW_SCALE
    return flags, scale


@hot
def _tcp_options(r, d, pk):
    """tcp_options() into seen[d]: scale = 0, flags &= BE_LIBERAL, then the options."""
    if not _has_options(pk):
        return
    flags, scale = _option_bits(pk)
    put(r, d, F_FLAGS, (seen(r, d, F_FLAGS) & TF_BE_LIBERAL) | flags)
    put(r, d, F_SCALE, scale)


@hot
def _reset_all(r):
    """memset(&ct->proto.tcp, 0, ...) in tcp_new()."""
    for d in range(2):
        for f in range(6):
            put(r, d, f, np.int64(0))
    r['state'] = 0
    r['last_seq'] = 0
    r['last_ack'] = 0
    r['last_end'] = 0
    r['last_win'] = 0
    r['last_dir'] = 0
    r['last_index'] = 0
    r['last_wscale'] = 0
    r['last_flags'] = 0
    r['retrans'] = 0


@hot
def _state_reset(r, d):
    """nf_ct_tcp_state_reset(): forget seen[d] except its BE_LIBERAL flag."""
    for f in range(5):
        put(r, d, f, np.int64(0))
    put(r, d, F_FLAGS, seen(r, d, F_FLAGS) & TF_BE_LIBERAL)


@hot
def tcp_new(r, pk, S):
    """tcp_new(): set up a new entry from its first packet; False = INVALID (no entry)."""
    new_state = TCP_CONNTRACKS[0, get_conntrack_index(pk['tcpflags']), TCP_NONE]
    if new_state >= TCP_IV:
        return False
    end = segment_end(pk)
    win = np.int64(pk['win'])
    if new_state == TCP_SYN_SENT:
        _reset_all(r)
        put(r, 0, F_END, end)
        put(r, 0, F_MAXWIN, win if win != 0 else 1)
        put(r, 0, F_MAXEND, end)
        _tcp_options(r, 0, pk)
    elif S[K_TCP_LOOSE] == 0:
        return False
    else:
        # mid-stream pickup: assume SACK and be liberal (window scale unknown)
        _reset_all(r)
        put(r, 0, F_END, end)
        put(r, 0, F_MAXWIN, win if win != 0 else 1)
        put(r, 0, F_MAXEND, end + seen(r, 0, F_MAXWIN))
        put(r, 0, F_FLAGS, np.int64(TF_SACK_PERM | TF_BE_LIBERAL))
        put(r, 1, F_FLAGS, np.int64(TF_SACK_PERM | TF_BE_LIBERAL))
    r['last_index'] = TCP_NONE_SET
    return True


@hot
def _init_sender(r, d, pk, end, win):
    """tcp_init_sender(): SYN-ACK, or SYN from the reply side (simultaneous open).
    RFC 7323: scaling only if both sides sent the option."""
    put(r, d, F_END, end)
    put(r, d, F_MAXEND, end)
    put(r, d, F_MAXWIN, win if win != 0 else 1)
    _tcp_options(r, d, pk)
    if d == 1 and not ((seen(r, 1, F_FLAGS) & TF_WINDOW_SCALE) and
                       (seen(r, 0, F_FLAGS) & TF_WINDOW_SCALE)):
        put(r, 0, F_SCALE, np.int64(0))
        put(r, 1, F_SCALE, np.int64(0))


@hot
def _store_invalid(r, d, S, ret):
    """nf_tcp_store_invalid(): be_liberal (sysctl or sender flag) turns any
    failed window check into ACCEPT -- returned early, nothing updated."""
    if (seen(r, d, F_FLAGS) & TF_BE_LIBERAL) or S[K_TCP_BE_LIBERAL] != 0:
        return V_ACCEPT
    return ret


@hot
def _maxackwindow(r, d):
    return max(seen(r, d, F_MAXWIN), MAXACKWINCONST)


# tcp_in_window() -- sender = seen[dir], receiver = seen[!dir]:
#   td_end    = max(seq + len) seen in sent packets
#   td_maxend = max(sack + max(win, 1)) seen in reply packets
#   td_maxwin = max(max(win, 1)) + (sack - ack) seen in sent packets,
#               += seq + len - sender.td_maxend if seq + len > sender.td_maxend
#   I.   seq <= sender.td_maxend                        else INVALID (or overshoot IGNORE)
#   II.  seq + len >= sender.td_end - receiver.td_maxwin   else IGNORE (old retransmission)
#   III. sack <= receiver.td_end                        else INVALID (acks unseen data)
#   IV.  sack >= receiver.td_end - MAXACKWINDOW(sender)   else IGNORE (overly delayed)
#   (sack = highest SACK right edge if the receiver allowed SACK, else ack)
@hot
def tcp_in_window(r, d, index, pk, S):
    """tcp_in_window(): V_ACCEPT (state updated), V_IGNORE or V_INVALID."""
    o = 1 - d
    fl = np.int64(pk['tcpflags'])
    syn = (fl & TH_SYN) != 0
    has_ack = (fl & TH_ACK) != 0
    seq = np.int64(pk['seq'])
    ack = np.int64(pk['ack'])
    sack = ack
    win_raw = np.int64(pk['win'])
    win = win_raw
    end = segment_end(pk)
    st = np.int64(r['state'])
    if (seen(r, o, F_FLAGS) & TF_SACK_PERM) and (np.int64(pk['pflags']) & PF_SACK):
        if after(np.int64(pk['sack']), sack):           # tcp_sack(): highest right edge
            sack = np.int64(pk['sack'])

    if seen(r, d, F_MAXWIN) == 0:
        if syn:
            _init_sender(r, d, pk, end, win)
            if not has_ack:
                return V_ACCEPT                         # simultaneous open
        else:                                           # mid-connection: use the packet
            put(r, d, F_END, end)
            swin = (win << seen(r, d, F_SCALE)) & M32
            put(r, d, F_MAXWIN, swin if swin != 0 else 1)
            put(r, d, F_MAXEND, end + seen(r, d, F_MAXWIN))
            if seen(r, o, F_MAXWIN) == 0:
                put(r, o, F_END, sack)
                put(r, o, F_MAXEND, sack)
            elif sack == ((seen(r, o, F_END) + 1) & M32):
                put(r, o, F_END, seen(r, o, F_END) + 1)  # reply to a keepalive
    elif syn and after(end, seen(r, d, F_END)) and (st == TCP_SYN_SENT or st == TCP_SYN_RECV):
        _init_sender(r, d, pk, end, win)                # RFC 793 re-initialised sender
        if d == 1 and not has_ack:
            return V_ACCEPT

    if not has_ack:
        ack = seen(r, o, F_END)
        sack = ack
    elif (fl & TH_RST) and ack == 0:                    # broken stacks: RST|ACK, ack 0
        ack = seen(r, o, F_END)
        sack = ack
    if (fl & TH_RST) and seq == 0 and st == TCP_SYN_SENT:
        seq = seen(r, d, F_END)                         # RST answering a SYN
        end = seq

    s_end = seen(r, d, F_END)
    s_maxend = seen(r, d, F_MAXEND)
    r_end = seen(r, o, F_END)
    r_maxwin = seen(r, o, F_MAXWIN)
    maxackwin = _maxackwindow(r, d)
    if not before(seq, s_maxend + 1):                   # I.
        overshot = (end - s_maxend + 1) & M32
        ack_ok = after(sack, r_end - maxackwin - 1)
        in_recv_win = r_maxwin != 0 and after(end, s_end - r_maxwin - 1)
        if in_recv_win and ack_ok and overshot <= r_maxwin and before(sack, r_end + 1):
            put(r, d, F_END, end)                       # let a later ACK of it pass III.
            put(r, d, F_FLAGS, seen(r, d, F_FLAGS) | TF_DATA_UNACKNOWLEDGED)
            return _store_invalid(r, d, S, V_IGNORE)
        return _store_invalid(r, d, S, V_INVALID)
    if not before(sack, r_end + 1):                     # III.
        return _store_invalid(r, d, S, V_INVALID)
    if not (r_maxwin == 0 or after(end, s_end - r_maxwin - 1)):   # II.
        return _store_invalid(r, d, S, V_IGNORE)
    if not after(sack, r_end - maxackwin - 1):          # IV.
        return _store_invalid(r, d, S, V_IGNORE)

    if not syn:
        win = (win << seen(r, d, F_SCALE)) & M32        # RFC 7323 scaling
    _window_update(r, d, fl, seq, ack, sack, end, win)
    if index == TCP_ACK_SET:
        _retrans_check(r, d, seq, ack, end, win_raw)
    return V_ACCEPT


@hot
def _window_update(r, d, fl, seq, ack, sack, end, win):
    """tcp_in_window() after the checks passed: update sender and receiver."""
    o = 1 - d
    swin = (win + (sack - ack)) & M32
    if seen(r, d, F_MAXWIN) < swin:
        put(r, d, F_MAXWIN, swin)
    if after(end, seen(r, d, F_END)):
        put(r, d, F_END, end)
        put(r, d, F_FLAGS, seen(r, d, F_FLAGS) | TF_DATA_UNACKNOWLEDGED)
    if fl & TH_ACK:
        if not (seen(r, d, F_FLAGS) & TF_MAXACK_SET):
            put(r, d, F_MAXACK, ack)
            put(r, d, F_FLAGS, seen(r, d, F_FLAGS) | TF_MAXACK_SET)
        elif after(ack, seen(r, d, F_MAXACK)):
            put(r, d, F_MAXACK, ack)
    if seen(r, o, F_MAXWIN) != 0 and after(end, seen(r, d, F_MAXEND)):
        put(r, o, F_MAXWIN, seen(r, o, F_MAXWIN) + end - seen(r, d, F_MAXEND))
    if after(sack + win, seen(r, o, F_MAXEND) - 1):
        put(r, o, F_MAXEND, sack + win + (1 if win == 0 else 0))
    if ack == seen(r, o, F_END):
        put(r, o, F_FLAGS, seen(r, o, F_FLAGS) & ~TF_DATA_UNACKNOWLEDGED)


@hot
def _retrans_check(r, d, seq, ack, end, win_raw):
    """tcp_in_window(): an ACK identical to the last one (dir, seq, ack, end, raw
    window) counts as a retransmission; anything else restarts the count."""
    if (r['last_dir'] == d and np.int64(r['last_seq']) == seq and np.int64(r['last_ack']) == ack
            and np.int64(r['last_end']) == end and np.int64(r['last_win']) == win_raw):
        r['retrans'] = (np.int64(r['retrans']) + 1) & 0xFF
    else:
        r['last_dir'] = d
        r['last_seq'] = seq & M32
        r['last_ack'] = ack & M32
        r['last_end'] = end & M32
        r['last_win'] = win_raw & 0xFFFF
        r['retrans'] = 0


@hot
def _handle_invalid(r, d, index, now, S):
    """nf_tcp_handle_invalid(): on an ASSURED entry, an invalid FIN/RST answering a
    FIN/RST from the other side lowers the remaining timeout to UNACK (if it is
    >= 120 s and > UNACK); otherwise remember it as the last FIN/RST."""
    status = np.int64(r['status'])
    if not (status & IPS_ASSURED) or (status & IPS_FIXED_TIMEOUT):
        return False
    if index != TCP_RST_SET and index != TCP_FIN_SET:
        return False
    li = np.int64(r['last_index'])
    if r['last_dir'] != d and (li == TCP_FIN_SET or li == TCP_RST_SET):
        remaining = max(np.int64(r['expires']) - now, 0)
        if remaining < 120 * NS:
            return False
        if remaining > S[K_T_UNACK]:
            r['expires'] = now + S[K_T_UNACK]
            return True
    else:
        r['last_index'] = index
        r['last_dir'] = d
    return False


@hot
def _resync(r, d, index, pk):
    """Ignore case b): a SYN/ACK acknowledging a SYN we ignored from the other
    side -- both ends agree on a new connection; take the SYN sender's window
    data from the annotation, forget ours.  True = continue as SYN_SENT -> SYN_RECV."""
    ld = np.int64(r['last_dir'])
    if not (index == TCP_SYNACK_SET and r['last_index'] == TCP_SYN_SET and ld != d
            and np.int64(pk['ack']) == np.int64(r['last_end'])):
        return False
    last_win = np.int64(r['last_win'])
    put(r, ld, F_END, np.int64(r['last_end']))
    put(r, ld, F_MAXEND, np.int64(r['last_end']))
    put(r, ld, F_MAXWIN, last_win if last_win != 0 else 1)
    put(r, ld, F_SCALE, np.int64(r['last_wscale']))
    r['last_flags'] = np.int64(r['last_flags']) & ~TF_EXP_CHALLENGE_ACK & 0xFF
    put(r, ld, F_FLAGS, np.int64(r['last_flags']))
    _state_reset(r, d)
    return True


@hot
def _annotate_ignored(r, d, index, old_state, pk):
    """Ignore path: remember the packet (and an ORIGINAL SYN's options, plus the
    RFC 5961 challenge-ACK expectation in LAST_ACK) so that a later SYN/ACK can
    resync; a REPLY ACK in SYN_SENT records its ack (challenge ACK)."""
    r['last_index'] = index
    r['last_dir'] = d
    r['last_seq'] = pk['seq']
    r['last_end'] = segment_end(pk)
    r['last_win'] = pk['win']
    if index == TCP_SYN_SET and d == 0:
        flags = np.int64(0)
        scale = np.int64(0)
        if _has_options(pk):
            flags, scale = _option_bits(pk)
        if old_state == TCP_LAST_ACK:
            flags |= TF_EXP_CHALLENGE_ACK
        r['last_flags'] = flags
        r['last_wscale'] = scale
    if old_state == TCP_SYN_SENT and index == TCP_ACK_SET and d == 1:
        r['last_ack'] = pk['ack']


@hot
def _rst_close(r, d, pk, old_state, S):
    """The CLOSE-by-RST case of nf_conntrack_tcp_packet().
    Returns (action, new_state): action 0 = window check, 1 = skip it, 2 = INVALID."""
    if (old_state == TCP_FIN_WAIT or old_state == TCP_LAST_ACK or old_state == TCP_TIME_WAIT
            or old_state == TCP_CLOSE or old_state == TCP_CLOSE_WAIT):
        return 1, TCP_CLOSE                 # tcp_can_early_drop(): closing, tuple may be reused
    new_state = TCP_CLOSE
    o = 1 - d
    status = np.int64(r['status'])
    li = np.int64(r['last_index'])
    seq = np.int64(pk['seq'])
    if (seen(r, o, F_FLAGS) & TF_MAXACK_SET) and li != TCP_SYN_SET:
        # nf_conntrack_l4proto.h: nf_conntrack_tcp_established()
        established = old_state == TCP_ESTABLISHED and (status & IPS_ASSURED) != 0
        maxack = seen(r, o, F_MAXACK)
        if seq == 0 and not established:
            return 0, new_state             # answer to a SYN we let through
        if before(seq, maxack) and S[K_TCP_IGNORE_INVALID_RST] == 0:
            return 2, new_state             # "invalid rst"
        if not established or seq == maxack:
            return 0, new_state
        if li == TCP_ACK_SET and r['last_dir'] == d and seq == np.int64(r['last_end']):
            return 0, new_state             # tail of a data train
        new_state = old_state               # inexact: stay, allow a challenge ACK
    last_end = np.int64(r['last_end'])
    # last_dir != dir: stable fix "do not force CLOSE on invalid-seq RST without
    # direction check" (Cc stable, May 2026; absent from 6.12..6.16 mainline copies)
    if (((status & IPS_SEEN_REPLY) and li == TCP_SYN_SET and r['last_dir'] != d)
            or (not (status & IPS_ASSURED) and li == TCP_ACK_SET)) \
            and np.int64(pk['ack']) == last_end:
        return 1, new_state                 # RST to an ignored SYN / half-open ACK
    if (old_state == TCP_SYN_SENT and li == TCP_ACK_SET and r['last_dir'] == 1
            and seq == np.int64(r['last_ack'])):
        return 1, new_state                 # RST answering a challenge ACK
    return 0, new_state


@hot
def _select_timeout(r, new_state, index, S):
    """nf_conntrack_tcp_packet(): first match of retrans cap, RST -> CLOSE,
    unacknowledged data cap, zero-window cap, else the state's timeout."""
    t = state_timeout(S, new_state)
    if np.int64(r['retrans']) >= S[K_TCP_MAX_RETRANS] and t > S[K_T_MAX_RETRANS]:
        return np.int64(S[K_T_MAX_RETRANS])
    if index == TCP_RST_SET:
        return np.int64(S[K_T_CLOSE])
    if ((seen(r, 0, F_FLAGS) | seen(r, 1, F_FLAGS)) & TF_DATA_UNACKNOWLEDGED) and t > S[K_T_UNACK]:
        return np.int64(S[K_T_UNACK])
    if r['last_win'] == 0 and t > S[K_T_MAX_RETRANS]:
        return np.int64(S[K_T_MAX_RETRANS])
    return t


@hot
def _special(r, d, index, old_state, new_state, pk, S):
    """The switch on the looked-up new state.  Returns (verdict or -1 to go on,
    old_state, new_state, skip_window)."""
    if new_state == TCP_SYN_SENT and old_state >= TCP_TIME_WAIT:
        # re-open (RFC 1122): a FIN was seen, or the last packet was our RST
        if (((seen(r, 0, F_FLAGS) | seen(r, 1, F_FLAGS)) & TF_CLOSE_INIT)
                or (r['last_dir'] == d and r['last_index'] == TCP_RST_SET)):
            return V_REPEAT, old_state, new_state, False
        new_state = TCP_IG                              # fallthrough to ignore
    if new_state == TCP_IG:
        if _resync(r, d, index, pk):
            return -1, TCP_SYN_SENT, TCP_SYN_RECV, False
        _annotate_ignored(r, d, index, old_state, pk)
        return V_IGNORE, old_state, new_state, False
    if new_state == TCP_IV:
        return V_INVALID, old_state, new_state, False
    if new_state == TCP_TIME_WAIT:
        if (old_state == TCP_LAST_ACK and index == TCP_ACK_SET and r['last_dir'] != d
                and r['last_index'] == TCP_SYN_SET
                and (np.int64(r['last_flags']) & TF_EXP_CHALLENGE_ACK)):
            r['last_flags'] = np.int64(r['last_flags']) & ~TF_EXP_CHALLENGE_ACK & 0xFF
            return V_IGNORE, old_state, new_state, False   # RFC 5961 challenge ACK
    elif new_state == TCP_SYN_SENT2:
        r['last_flags'] = np.int64(r['last_flags']) | TF_SIMULTANEOUS_OPEN
    elif new_state == TCP_SYN_RECV:
        if d == 1 and index == TCP_ACK_SET and (np.int64(r['last_flags']) & TF_SIMULTANEOUS_OPEN):
            new_state = TCP_ESTABLISHED
    elif new_state == TCP_CLOSE and index == TCP_RST_SET:
        act, new_state = _rst_close(r, d, pk, old_state, S)
        if act == 2:
            return V_INVALID, old_state, new_state, False
        return -1, old_state, new_state, act == 1
    return -1, old_state, new_state, False


@hot
def tcp_packet(tbl, e, d, pk, now, S):
    """nf_conntrack_tcp_packet() for packet ``pk`` in direction ``d`` on entry ``e``
    (tcp_error() already passed).  Returns (verdict, timeout_ns)."""
    r = tbl[e]
    if not (np.int64(r['status']) & IPS_CONFIRMED):
        if not tcp_new(r, pk, S):
            return V_INVALID, np.int64(0)
    old_state = np.int64(r['state'])
    index = get_conntrack_index(pk['tcpflags'])
    new_state = np.int64(TCP_CONNTRACKS[d, index, old_state])
    v, old_state, new_state, skip_window = _special(r, d, index, old_state, new_state, pk, S)
    if v >= 0:
        return v, np.int64(0)
    if not skip_window:
        res = tcp_in_window(r, d, index, pk, S)
        if res == V_IGNORE:
            return V_IGNORE, np.int64(0)
        if res == V_INVALID:
            _handle_invalid(r, d, index, now, S)
            return V_INVALID, np.int64(0)
    # in_window: from now on we have an in-window packet
    r['last_index'] = index
    r['last_dir'] = d
    r['state'] = new_state
    if old_state != new_state and new_state == TCP_FIN_WAIT:
        put(r, d, F_FLAGS, seen(r, d, F_FLAGS) | TF_CLOSE_INIT)
    timeout = _select_timeout(r, new_state, index, S)
    status = np.int64(r['status'])
    if not (status & IPS_SEEN_REPLY):
        if np.int64(pk['tcpflags']) & TH_RST:
            return V_DELETE, timeout            # only reply is a RST: delete now
        if index == TCP_SYN_SET and old_state == TCP_SYN_SENT:
            return V_IGNORE, np.int64(0)        # do not renew on SYN retransmit
        if new_state == TCP_ESTABLISHED and timeout > S[K_T_UNACK]:
            timeout = np.int64(S[K_T_UNACK])    # pickup without reply
    elif (not (status & IPS_ASSURED) and (old_state == TCP_SYN_RECV or old_state == TCP_ESTABLISHED)
          and new_state == TCP_ESTABLISHED):
        r['status'] = status | IPS_ASSURED
    return V_ACCEPT, timeout


@hot
def tcp_conntrack(tbl, e, d, pk, now, S, check_csum):
    """tcp_error() then tcp_packet(), as nf_conntrack_tcp_packet() does.
    ``check_csum``: the packet is at PRE_ROUTING (checksums are verified there only)."""
    if tcp_error(pk, S, check_csum):
        return V_INVALID, np.int64(0)
    return tcp_packet(tbl, e, d, pk, now, S)
