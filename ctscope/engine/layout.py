"""Memory layout of the connection table and the engine's constants.

The table is one numpy structured array of ``ENTRY_DTYPE`` (one record per
``struct nf_conn``) plus a few flat arrays (bucket heads, chain links, stats).
Only the ORIGINAL tuple is stored: without NAT the REPLY tuple is always its
inversion (``nf_ct_invert_tuple()``), so storing it would double the tuple bytes.

Per-entry budget (packed dtype, see ``entry_bytes()``): 123 bytes, plus 4 bytes of
bucket head per entry when buckets == max.  Accounting (``nf_conntrack_acct``) and
timestamps (``nf_conntrack_timestamp``) are extensions held in side arrays that
exist only when the setting is on, like the kernel's ct extensions.

Hash chains: node ``2*i`` is entry i's ORIGINAL tuplehash, ``2*i+1`` its REPLY one
(the kernel links both into the same table).  ``nxt_o``/``nxt_r`` hold the next node
of each chain, -1 ends a chain.  Free entries are chained through ``nxt_o``.
"""
from __future__ import annotations

import numpy as np

ENTRY_DTYPE = np.dtype(
    [
        ("src_hi", np.uint64), ("src_lo", np.uint64),
        ("dst_hi", np.uint64), ("dst_lo", np.uint64),
        ("expires", np.int64),     # absolute ns; confirmed entries only
        ("aux", np.int64),         # UDP: stream_ts (ns); unconfirmed: relative timeout
        ("nxt_o", np.int32),       # next node in the chain of the ORIGINAL tuplehash / free list
        ("nxt_r", np.int32),       # next node in the chain of the REPLY tuplehash
        # TCP private data (struct ip_ct_tcp): seen[ORIGINAL], seen[REPLY]
        ("td_end0", np.uint32), ("td_end1", np.uint32),
        ("td_maxend0", np.uint32), ("td_maxend1", np.uint32),
        ("td_maxwin0", np.uint32), ("td_maxwin1", np.uint32),
        ("td_maxack0", np.uint32), ("td_maxack1", np.uint32),
        ("last_seq", np.uint32), ("last_ack", np.uint32), ("last_end", np.uint32),
        ("sport", np.uint16), ("dport", np.uint16),
        ("zone", np.uint16),
        ("status", np.uint16),     # IPS_* bits
        ("last_win", np.uint16),
        ("l3", np.uint8), ("proto", np.uint8),
        ("state", np.uint8),       # TCP_CONNTRACK_* / SCTP_CONNTRACK_*
        ("td_scale0", np.uint8), ("td_scale1", np.uint8),
        ("tflags0", np.uint8), ("tflags1", np.uint8),   # IP_CT_TCP_FLAG_* per direction
        ("last_dir", np.uint8), ("last_index", np.uint8),
        ("last_wscale", np.uint8), ("last_flags", np.uint8),
        ("retrans", np.uint8),
        ("eflags", np.uint8),       # EF_* model bits (extensions present ...)
    ]
)

# Extension side arrays (allocated only when enabled)
ACCT_DTYPE = np.dtype([("pk0", np.uint64), ("by0", np.uint64), ("pk1", np.uint64), ("by1", np.uint64)])
# SCTP keeps its private data (vtags ...) in the TCP fields, like the kernel's union nf_conntrack_proto.


def entry_bytes() -> int:
    return ENTRY_DTYPE.itemsize


# --- EF_*: model-private entry flags -----------------------------------------
EF_USED = 1          # slot allocated (confirmed or not)
EF_ACCT = 2          # entry has the accounting extension
EF_TSTAMP = 4        # entry has the timestamp extension

# --- IPS_* status bits (uapi nf_conntrack_common.h) ---------------------------
IPS_EXPECTED = 1 << 0
IPS_SEEN_REPLY = 1 << 1
IPS_ASSURED = 1 << 2
IPS_CONFIRMED = 1 << 3
IPS_DYING = 1 << 9
IPS_FIXED_TIMEOUT = 1 << 10
IPS_NAT_CLASH = 1 << 12
IPS_OFFLOAD = 1 << 14

# --- ctinfo (enum ip_conntrack_info) and the model's extra codes -------------
CT_ESTABLISHED = 0
CT_RELATED = 1
CT_NEW = 2
CT_ESTABLISHED_REPLY = 3
CT_RELATED_REPLY = 4
CT_UNTRACKED = 7
CT_INVALID = 8       # no conntrack attached (rules see "ct state invalid")
CT_DROPPED = 9       # dropped by conntrack itself (table full, insert failed ...)
CT_NOT_SEEN = 255    # conntrack never saw the frame (see the SKIP_* reason)

CTINFO_NAMES = {
    CT_ESTABLISHED: "ESTABLISHED", CT_RELATED: "RELATED", CT_NEW: "NEW",
    CT_ESTABLISHED_REPLY: "ESTABLISHED_REPLY", CT_RELATED_REPLY: "RELATED_REPLY",
    CT_UNTRACKED: "UNTRACKED", CT_INVALID: "INVALID", CT_DROPPED: "DROPPED",
}

# --- fate of a frame ---------------------------------------------------------
FATE_NONE = 0            # conntrack never saw it
FATE_FORWARDED = 1
FATE_LOCAL = 2
FATE_ROUTING_DROP = 3
FATE_CONNTRACK_DROP = 4
FATE_SENT = 5            # host model: a locally generated packet left the host
FATE_NAMES = {FATE_FORWARDED: "forwarded", FATE_LOCAL: "local",
              FATE_ROUTING_DROP: "routing_drop", FATE_CONNTRACK_DROP: "conntrack_drop",
              FATE_SENT: "sent"}

# --- TCP states (enum tcp_conntrack) -----------------------------------------
TCP_NONE, TCP_SYN_SENT, TCP_SYN_RECV, TCP_ESTABLISHED, TCP_FIN_WAIT = 0, 1, 2, 3, 4
TCP_CLOSE_WAIT, TCP_LAST_ACK, TCP_TIME_WAIT, TCP_CLOSE, TCP_SYN_SENT2 = 5, 6, 7, 8, 9
TCP_MAX = 10
TCP_IV = 10              # sIV: invalid
TCP_IG = 11              # sIG: ignore
TCP_STATE_NAMES = ("NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT",
                   "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2")

# IP_CT_TCP_FLAG_* (per direction, tflags0/tflags1)
TF_WINDOW_SCALE = 0x01
TF_SACK_PERM = 0x02
TF_CLOSE_INIT = 0x04
TF_BE_LIBERAL = 0x08
TF_DATA_UNACKNOWLEDGED = 0x10
TF_MAXACK_SET = 0x20
TF_EXP_CHALLENGE_ACK = 0x40
TF_SIMULTANEOUS_OPEN = 0x80

# --- SCTP states (enum sctp_conntrack) ---------------------------------------
SCTP_NONE, SCTP_CLOSED, SCTP_COOKIE_WAIT, SCTP_COOKIE_ECHOED, SCTP_ESTABLISHED = 0, 1, 2, 3, 4
SCTP_SHUTDOWN_SENT, SCTP_SHUTDOWN_RECD, SCTP_SHUTDOWN_ACK_SENT, SCTP_HEARTBEAT_SENT = 5, 6, 7, 8
SCTP_STATE_NAMES = ("NONE", "CLOSED", "COOKIE_WAIT", "COOKIE_ECHOED", "ESTABLISHED",
                    "SHUTDOWN_SENT", "SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT", "HEARTBEAT_SENT")

# --- events ------------------------------------------------------------------
EV_NEW, EV_UPDATE, EV_DESTROY = 1, 2, 3
EV_NAMES = {EV_NEW: "NEW", EV_UPDATE: "UPDATE", EV_DESTROY: "DESTROY"}
# DESTROY reasons
DR_NONE, DR_EXPIRED, DR_EARLY_DROP, DR_RST, DR_REOPEN, DR_GC_EARLY_DROP = 0, 1, 2, 3, 4, 5
DESTROY_REASONS = {DR_EXPIRED: "expired", DR_EARLY_DROP: "early-dropped", DR_RST: "rst",
                   DR_REOPEN: "re-open", DR_GC_EARLY_DROP: "gc-early-dropped"}
# table-full events (not a conntrack event: the kernel log line)
EV_TABLE_FULL = 4

# --- stats (indices into the stats array; names as conntrack -S prints) -------
ST_FOUND, ST_INVALID, ST_INSERT, ST_INSERT_FAILED, ST_DROP, ST_EARLY_DROP = 0, 1, 2, 3, 4, 5
ST_ERROR, ST_SEARCH_RESTART, ST_CLASH_RESOLVE, ST_CHAINTOOLONG = 6, 7, 8, 9
N_STATS = 10
STAT_NAMES = ("found", "invalid", "insert", "insert_failed", "drop", "early_drop",
              "error", "search_restart", "clash_resolve", "chaintoolong")

# --- protocol tracker verdicts (returned by the per-protocol packet functions) ---
V_ACCEPT = 0     # accepted: refresh the timeout to the value returned, account the packet
V_IGNORE = 1     # accepted, but no state change, no refresh, no accounting (TCP sIG, SYN retransmit)
V_INVALID = 2    # rejected: ctinfo INVALID, stat invalid+1, entry untouched (freed if unconfirmed)
V_DELETE = 3     # accepted and accounted, then the entry is deleted now (TCP RST before any reply)
V_REPEAT = 4     # kill the entry and process the packet again as new (TCP re-open, -NF_REPEAT)
V_ERROR = 5      # ICMP error path: no entry, stat error+1
