"""The connection table: hashing, lookup, allocation, confirmation, early drop, GC.

Mirrors ``nf_conntrack_core.c``: one hash table whose chains hold both tuplehashes
of every confirmed entry (node ``2*e`` = ORIGINAL, ``2*e+1`` = REPLY), new nodes
inserted at the chain head (``hlist_nulls_add_head_rcu``), a per-netns count that
includes unconfirmed and expired-but-unreaped entries, and lazy reaping.

State lives in plain arrays so the engine can be snapshotted, restored and merged:
``tbl`` (ENTRY_DTYPE), ``heads`` (int32 per bucket), ``meta`` (int64 M_* slots),
``stats`` (int64 ST_*), ``ext`` = (acct ACCT_DTYPE, tstamp int64) side arrays (length 0
when the extension is off), and the event buffer ``ev`` = (ENTRY_DTYPE snapshots,
int64 [n, 3] rows of ts/kind/reason, ACCT_DTYPE snapshots).

The hash is deterministic (the kernel's siphash seed is random per boot, so any
uniform hash is as faithful): a 64-bit mix of the tuple, zone and a seed.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..jit import hot, hot_inline

from ..packets.record import IPPROTO_ICMP, IPPROTO_ICMPV6
from . import settings as K
from .layout import (
    DR_EARLY_DROP, DR_EXPIRED, DR_GC_EARLY_DROP, EF_ACCT, EF_TSTAMP, EF_USED, EV_DESTROY,
    IPS_ASSURED, IPS_CONFIRMED, IPS_DYING, ST_EARLY_DROP, TCP_CLOSE, TCP_CLOSE_WAIT, TCP_FIN_WAIT,
    TCP_LAST_ACK, TCP_TIME_WAIT, SCTP_SHUTDOWN_ACK_SENT, SCTP_SHUTDOWN_RECD, SCTP_SHUTDOWN_SENT,
)

# --- meta slots ----------------------------------------------------------------
M_FREE = 0          # head of the free-slot list (-1: none)
M_HWM = 1           # slots [0, HWM) have been handed out at least once
M_COUNT = 2         # nf_conntrack_count of the modelled netns
M_GC_NEXT = 3       # packet time (ns) of the next GC pass; -1 before the first packet
M_GC_EARLY = 4      # gc_work.early_drop flag
M_PEAK = 5          # highest count seen
M_PEAK_TS = 6
M_FULL_N = 7        # "table full, dropping packet" occurrences
M_FULL_FIRST = 8    # ns of the first one (-1: never)
M_FULL_LAST = 9
M_LAST_TS = 10      # clock: timestamp of the last packet processed
M_T75 = 11          # ns spent with count >= 75 % of max
M_T90 = 12
M_T100 = 13
M_RNG = 14          # xorshift state (chain-length limits)
M_EV_N = 15         # events recorded in the buffer
M_FIRST_TS = 16     # timestamp of the first packet (-1: none yet)
M_GC_PASSES = 17
M_GC_REAPED = 18
M_EV_LOST = 19      # events not recorded because the buffer was full (never: we stop and flush)
M_SER_N = 20        # samples in the occupancy series
M_SER_NEXT = 21     # ns of the next series sample
M_SER_STEP = 22     # series step in ns
N_META = 24

NS = 1_000_000_000
HZ_NS = 4_000_000                 # one jiffy at HZ=250 (the reference machine)
GC_SCAN_INTERVAL_MIN = 1 * NS     # nf_conntrack_core.c: GC_SCAN_INTERVAL_MIN (1 s)
GC_SCAN_INTERVAL_MAX = 60 * NS    # GC_SCAN_INTERVAL_MAX (60 s), also GC_SCAN_INTERVAL_INIT
GC_SCAN_INTERVAL_CLAMP = 300 * NS  # GC_SCAN_INTERVAL_CLAMP (300 s)
GC_SCAN_INITIAL_COUNT = 100       # GC_SCAN_INITIAL_COUNT
NF_CT_EVICTION_RANGE = 8          # early_drop(): buckets examined
MIN_CHAINLEN = 50                 # __nf_conntrack_confirm(): MIN_CHAINLEN
MAX_CHAINLEN = 80                 # MAX_CHAINLEN (limit is MIN + random below MAX - MIN)


def new_meta() -> np.ndarray:
    meta = np.zeros(N_META, dtype=np.int64)
    meta[M_FREE] = -1
    meta[M_GC_NEXT] = -1
    meta[M_FULL_FIRST] = -1
    meta[M_FIRST_TS] = -1
    meta[M_RNG] = 0x9E3779B97F4A7C15 & 0x7FFFFFFFFFFFFFFF
    meta[M_SER_NEXT] = -1
    meta[M_SER_STEP] = NS
    return meta


# --- tuples --------------------------------------------------------------------
@hot_inline
def _mix(h, v):
    h ^= v
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    return h


@hot
def tuple_hash(src_hi, src_lo, dst_hi, dst_lo, sport, dport, l3, proto, zone, seed):
    """hash_conntrack_raw(): a 32-bit hash of tuple + zone (deterministic seed)."""
    h = np.uint64(seed) ^ np.uint64(0x9E3779B97F4A7C15)
    h = _mix(h, np.uint64(src_hi))
    h = _mix(h, np.uint64(src_lo))
    h = _mix(h, np.uint64(dst_hi))
    h = _mix(h, np.uint64(dst_lo))
    h = _mix(h, (np.uint64(sport) << np.uint64(16)) | np.uint64(dport)
             | (np.uint64(proto) << np.uint64(32)) | (np.uint64(l3) << np.uint64(40))
             | (np.uint64(zone) << np.uint64(48)))
    h ^= h >> np.uint64(29)
    return np.uint32(h & np.uint64(0xFFFFFFFF))


@hot_inline
def scale_hash(h, size):
    """reciprocal_scale(hash, size): bucket index."""
    return np.int64((np.uint64(h) * np.uint64(size)) >> np.uint64(32))


@hot
def icmp_invert_type(proto, itype):
    """nf_conntrack_invert_icmp_tuple() / ..._icmpv6_tuple(): reply type, or -1."""
    if proto == IPPROTO_ICMP:
        # invmap: echo 8<->0, timestamp 13<->14, info 15<->16, address mask 17<->18
        if itype == 8:
            return 0
        if itype == 0:
            return 8
        if itype == 13:
            return 14
        if itype == 14:
            return 13
        if itype == 15:
            return 16
        if itype == 16:
            return 15
        if itype == 17:
            return 18
        if itype == 18:
            return 17
        return -1
    # ICMPv6 invmap: echo 128<->129, node information 139<->140
    if itype == 128:
        return 129
    if itype == 129:
        return 128
    if itype == 139:
        return 140
    if itype == 140:
        return 139
    return -1


@hot
def invert_l4(proto, sport, dport):
    """nf_ct_invert_tuple() for the 16-bit L4 parts; ok=False when not invertible."""
    if proto == IPPROTO_ICMP or proto == IPPROTO_ICMPV6:
        t = icmp_invert_type(proto, dport >> 8)
        if t < 0:
            return False, sport, dport
        return True, sport, (t << 8) | (dport & 0xFF)
    return True, dport, sport


# --- allocation --------------------------------------------------------------
@hot
def slot_alloc(tbl, meta):
    """Take a free slot (the caller has checked the limit). -1 when no capacity."""
    e = meta[M_FREE]
    if e >= 0:
        meta[M_FREE] = tbl[e].nxt_o
    else:
        if meta[M_HWM] >= tbl.shape[0] - 1:   # the last slot is the engine's scratch record
            return -1
        e = meta[M_HWM]
        meta[M_HWM] += 1
    return e


@hot
def slot_free(tbl, meta, e):
    """nf_conntrack_free(): the slot returns to the free list, the count drops."""
    tbl[e].eflags = 0
    tbl[e].status = 0
    tbl[e].nxt_o = meta[M_FREE]
    meta[M_FREE] = e
    meta[M_COUNT] -= 1


# --- chains ------------------------------------------------------------------
@hot
def node_tuple_equal(tbl, node, src_hi, src_lo, dst_hi, dst_lo, sport, dport,
                     isrc_hi, isrc_lo, idst_hi, idst_lo, isport, idport, l3, proto, zone):
    """nf_ct_key_equal(): does chain node ``node`` carry the packet's tuple?

    An ORIGINAL node carries the stored tuple; a REPLY node carries its inversion,
    which equals the packet tuple exactly when the stored tuple equals the packet
    tuple's inversion (``isrc``... arguments)."""
    r = tbl[node >> 1]
    if r.proto != proto or r.l3 != l3 or r.zone != zone:
        return False
    if node & 1 == 0:
        return (r.src_lo == src_lo and r.dst_lo == dst_lo and r.sport == sport and r.dport == dport
                and r.src_hi == src_hi and r.dst_hi == dst_hi)
    return (r.src_lo == isrc_lo and r.dst_lo == idst_lo and r.sport == isport and r.dport == idport
            and r.src_hi == isrc_hi and r.dst_hi == idst_hi)


@hot_inline
def node_next(tbl, node):
    r = tbl[node >> 1]
    return r.nxt_o if node & 1 == 0 else r.nxt_r


@hot_inline
def set_node_next(tbl, node, nxt):
    if node & 1 == 0:
        tbl[node >> 1].nxt_o = nxt
    else:
        tbl[node >> 1].nxt_r = nxt


@hot
def entry_hashes(tbl, e, seed):
    """Raw hashes of entry e's ORIGINAL and REPLY tuples."""
    r = tbl[e]
    h0 = tuple_hash(r.src_hi, r.src_lo, r.dst_hi, r.dst_lo, r.sport, r.dport, r.l3, r.proto, r.zone, seed)
    ok, isport, idport = invert_l4(r.proto, r.sport, r.dport)
    h1 = tuple_hash(r.dst_hi, r.dst_lo, r.src_hi, r.src_lo, isport, idport, r.l3, r.proto, r.zone, seed)
    return h0, h1


@hot
def chain_unlink(tbl, heads, bucket, node):
    prev = -1
    cur = heads[bucket]
    while cur >= 0:
        nxt = node_next(tbl, cur)
        if cur == node:
            if prev < 0:
                heads[bucket] = nxt
            else:
                set_node_next(tbl, prev, nxt)
            return
        prev = cur
        cur = nxt


@hot
def hash_insert(tbl, heads, e, seed):
    """__nf_conntrack_hash_insert(): both tuplehashes at the head of their chains."""
    size = heads.shape[0]
    h0, h1 = entry_hashes(tbl, e, seed)
    b0 = scale_hash(h0, size)
    b1 = scale_hash(h1, size)
    tbl[e].nxt_o = heads[b0]
    heads[b0] = 2 * e
    tbl[e].nxt_r = heads[b1]
    heads[b1] = 2 * e + 1


@hot
def chain_length(tbl, heads, bucket):
    n = 0
    cur = heads[bucket]
    while cur >= 0:
        n += 1
        cur = node_next(tbl, cur)
    return n


@hot
def next_random(meta):
    x = np.uint64(meta[M_RNG])
    x ^= x << np.uint64(13)
    x ^= x >> np.uint64(7)
    x ^= x << np.uint64(17)
    meta[M_RNG] = np.int64(x & np.uint64(0x7FFFFFFFFFFFFFFF))
    return x


# --- events ------------------------------------------------------------------
@hot
def record_event(tbl, e, ev, meta, ext, kind, reason, now):
    """Append an event with a snapshot of entry e (the caller checks capacity)."""
    evtbl, evi, evacct = ev
    k = meta[M_EV_N]
    if k >= evtbl.shape[0]:
        meta[M_EV_LOST] += 1
        return
    evtbl[k] = tbl[e]
    evi[k, 0] = now
    evi[k, 1] = kind
    evi[k, 2] = reason
    acct = ext[0]
    if acct.shape[0] > 0 and evacct.shape[0] > 0:
        evacct[k] = acct[e]
    meta[M_EV_N] = k + 1


# --- deletion ----------------------------------------------------------------
@hot
def delete_entry(tbl, heads, meta, ext, ev, S, e, reason, now):
    """nf_ct_delete()/nf_ct_kill(): unlink a confirmed entry, DESTROY event, free."""
    size = heads.shape[0]
    h0, h1 = entry_hashes(tbl, e, S[K.K_SEED])
    chain_unlink(tbl, heads, scale_hash(h0, size), 2 * e)
    chain_unlink(tbl, heads, scale_hash(h1, size), 2 * e + 1)
    tbl[e].status |= IPS_DYING
    if S[K.K_EVENTS] != 0:
        record_event(tbl, e, ev, meta, ext, EV_DESTROY, reason, now)
    slot_free(tbl, meta, e)


@hot_inline
def is_expired(tbl, e, now):
    """nf_ct_is_expired(): (s32)(timeout - nfct_time_stamp) <= 0."""
    return tbl[e].expires <= now


@hot
def delete_walking(tbl, heads, meta, ext, ev, S, e, nxt, reason, now):
    """Delete entry e met during a chain walk whose next node is ``nxt``; returns the
    node to continue from (past e's other tuplehash when that came next: both nodes
    of an entry can sit in one chain, and the deletion unlinks both)."""
    while nxt >= 0 and (nxt >> 1) == e:
        nxt = node_next(tbl, nxt)
    delete_entry(tbl, heads, meta, ext, ev, S, e, reason, now)
    return nxt


# --- lookup ------------------------------------------------------------------
@hot
def lookup(tbl, heads, now, h, src_hi, src_lo, dst_hi, dst_lo, sport, dport,
           isrc_hi, isrc_lo, idst_hi, idst_lo, isport, idport, l3, proto, zone):
    """One step of ____nf_conntrack_find(): walk the bucket; returns the matching node
    (2*e + dir), -1 if there is none, or -2 - e for the first *expired* entry met
    before a match (the caller reaps it and walks again: see ``find``).

    Kept free of the event/extension arrays on purpose: every array argument of a
    compiled call costs two atomic reference-count updates, and this runs per packet."""
    cur = heads[scale_hash(h, heads.shape[0])]
    while cur >= 0:
        e = cur >> 1
        r = tbl[e]
        if r.expires <= now:
            return -2 - e
        if node_tuple_equal(tbl, cur, src_hi, src_lo, dst_hi, dst_lo, sport, dport,
                            isrc_hi, isrc_lo, idst_hi, idst_lo, isport, idport, l3, proto, zone):
            return cur
        cur = r.nxt_o if cur & 1 == 0 else r.nxt_r
    return -1


@hot
def find(tbl, heads, meta, ext, ev, S, now, h, src_hi, src_lo, dst_hi, dst_lo, sport, dport,
         isrc_hi, isrc_lo, idst_hi, idst_lo, isport, idport, l3, proto, zone):
    """____nf_conntrack_find(): walk the bucket, reaping expired entries met on the way
    (nf_ct_gc_expired(): DESTROY at reap time).  Returns the matching node or -1."""
    while True:
        node = lookup(tbl, heads, now, h, src_hi, src_lo, dst_hi, dst_lo, sport, dport,
                      isrc_hi, isrc_lo, idst_hi, idst_lo, isport, idport, l3, proto, zone)
        if node > -2:
            return node
        delete_entry(tbl, heads, meta, ext, ev, S, -2 - node, DR_EXPIRED, now)


# --- early drop ----------------------------------------------------------------
@hot
def early_drop_list(tbl, heads, meta, ext, ev, S, bucket, now):
    """early_drop_list(): evict every confirmed, non-ASSURED, non-dying entry of the
    bucket; expired entries met are reaped but not counted."""
    drops = 0
    cur = heads[bucket]
    while cur >= 0:
        nxt = node_next(tbl, cur)
        e = cur >> 1
        if is_expired(tbl, e, now):
            cur = delete_walking(tbl, heads, meta, ext, ev, S, e, nxt, DR_EXPIRED, now)
            continue
        st = tbl[e].status
        if (st & IPS_ASSURED) != 0 or (st & IPS_DYING) != 0 or (st & IPS_CONFIRMED) == 0:
            cur = nxt
            continue
        cur = delete_walking(tbl, heads, meta, ext, ev, S, e, nxt, DR_EARLY_DROP, now)
        drops += 1
    return drops


@hot
def early_drop(tbl, heads, meta, stats, ext, ev, S, h, now):
    """early_drop(): up to NF_CT_EVICTION_RANGE buckets from the new tuple's bucket;
    stop at the first bucket that yielded drops; stat early_drop += drops."""
    size = heads.shape[0]
    bucket = scale_hash(h, size)
    for i in range(NF_CT_EVICTION_RANGE):
        if i > 0:
            bucket = (bucket + 1) % size
        drops = early_drop_list(tbl, heads, meta, ext, ev, S, bucket, now)
        if drops > 0:
            stats[ST_EARLY_DROP] += drops
            return True
    return False


# --- garbage collection -----------------------------------------------------
@hot
def gc_can_early_drop(tbl, e):
    """gc_worker_can_early_drop(): not ASSURED, or the protocol's can_early_drop."""
    r = tbl[e]
    if (r.status & IPS_ASSURED) == 0:
        return True
    if r.proto == 6:  # tcp_can_early_drop(): FIN_WAIT, CLOSE_WAIT, LAST_ACK, TIME_WAIT, CLOSE
        s = r.state
        return (s == TCP_FIN_WAIT or s == TCP_CLOSE_WAIT or s == TCP_LAST_ACK
                or s == TCP_TIME_WAIT or s == TCP_CLOSE)
    if r.proto == 132:  # sctp_can_early_drop(): SHUTDOWN_SENT/RECD/ACK_SENT
        s = r.state
        return s == SCTP_SHUTDOWN_SENT or s == SCTP_SHUTDOWN_RECD or s == SCTP_SHUTDOWN_ACK_SENT
    return False


@hot
def gc_pass(tbl, heads, meta, ext, ev, S, now):
    """One full gc_worker() cycle, run instantly at packet time ``now``.

    Model of the schedule (documented in README "GC model"): the kernel's worker
    scans in 10 ms slices of at most 64000/HZ reaps and re-queues itself at once
    until the cycle ends; we run the whole cycle at one instant.  The next cycle
    starts clamp(avg remaining lifetime, 1 s, 60 s) later, with the running average
    computed exactly as gc_worker() does (seeded with 100 virtual entries at 60 s,
    each lifetime clamped to [1 s, 300 s]).  In early-drop mode (set by a failed
    early_drop()), entries are killed while the count is >= max/100*95 if not
    ASSURED or in a can_early_drop state; the flag is cleared after the cycle."""
    size = heads.shape[0]
    mx = S[K.K_MAX]
    max95 = (mx // 100) * 95 if meta[M_GC_EARLY] != 0 else 0
    next_run = GC_SCAN_INTERVAL_MAX
    count = GC_SCAN_INITIAL_COUNT
    reaped = 0
    for b in range(size):
        cur = heads[b]
        while cur >= 0:
            nxt = node_next(tbl, cur)
            e = cur >> 1
            if is_expired(tbl, e, now):
                cur = delete_walking(tbl, heads, meta, ext, ev, S, e, nxt, DR_EXPIRED, now)
                reaped += 1
                continue
            rem = tbl[e].expires - now
            if rem < GC_SCAN_INTERVAL_MIN:
                rem = GC_SCAN_INTERVAL_MIN
            elif rem > GC_SCAN_INTERVAL_CLAMP:
                rem = GC_SCAN_INTERVAL_CLAMP
            count += 1
            next_run += (rem - next_run) // count
            if max95 != 0 and meta[M_COUNT] >= max95 and gc_can_early_drop(tbl, e):
                nxt = delete_walking(tbl, heads, meta, ext, ev, S, e, nxt, DR_GC_EARLY_DROP, now)
                reaped += 1
            cur = nxt
    if next_run < GC_SCAN_INTERVAL_MIN:
        next_run = GC_SCAN_INTERVAL_MIN
    elif next_run > GC_SCAN_INTERVAL_MAX:
        next_run = GC_SCAN_INTERVAL_MAX
    meta[M_GC_EARLY] = 0
    meta[M_GC_NEXT] = now + next_run
    meta[M_GC_PASSES] += 1
    meta[M_GC_REAPED] += reaped


def empty_ext():
    return (np.zeros(0, dtype=np.dtype([("pk0", np.uint64), ("by0", np.uint64), ("pk1", np.uint64), ("by1", np.uint64)])),
            np.zeros(0, dtype=np.int64))


__all__ = ["EF_ACCT", "EF_TSTAMP", "EF_USED"]


@njit(cache=True)
def live_order(tbl, heads, now):
    """Confirmed, unexpired entries in /proc order: buckets in order, each chain from its
    head, ORIGINAL nodes only (ct_seq_show() skips REPLY tuplehashes)."""
    out = np.empty(tbl.shape[0], np.int64)
    k = 0
    for b in range(heads.shape[0]):
        node = heads[b]
        while node >= 0:
            e = node >> 1
            if node & 1 == 0:
                if tbl[e].expires > now:
                    out[k] = e
                    k += 1
                node = tbl[e].nxt_o
            else:
                node = tbl[e].nxt_r
    return out[:k]
