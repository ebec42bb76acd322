"""The per-packet path: ``nf_conntrack_in()`` + confirmation, compiled with numba.

Theory of operation
-------------------
``process_batch`` walks a batch of decoded packets (PKT_DTYPE) in capture order and,
for each one, does what the kernel does between the raw table and the last hook:

1. the clock advances to the packet's timestamp; a GC cycle runs if one is due
   (``table.gc_pass``; lazy reaping happens inside every lookup);
2. frames that never reach conntrack (``skip``) or that the raw table marked
   NOTRACK are recorded as such -- no entry, no stat (``nf_conntrack_in()`` returns
   at once for IP_CT_UNTRACKED);
3. ICMP/ICMPv6 go through the error handler first (``nf_conntrack_handle_icmp()``):
   errors become RELATED to the quoted flow or count as stat ``error``; ND/MLD become
   UNTRACKED;
4. ``resolve_normal_ct()``: look the tuple up; if absent allocate a new, unconfirmed
   entry (``__nf_conntrack_alloc()``: count+1, and above ``nf_conntrack_max``
   ``early_drop()`` or "table full, dropping packet"); ctinfo from the direction and
   SEEN_REPLY;
5. the protocol tracker (``nf_conntrack_handle_packet()``) accepts, ignores, rejects
   (INVALID, stat ``invalid``; an unconfirmed entry is freed), deletes (TCP RST before a
   reply) or asks for a repeat (TCP re-open);
6. an accepted reply sets SEEN_REPLY; the timeout is *set* to now + the tracker's value
   and the packet is accounted;
7. at the end of the path (POSTROUTING or LOCAL_IN) a new entry is confirmed
   (``__nf_conntrack_confirm()``: chain-length limit, hash insert, NEW event); a packet
   the router drops after conntrack (``route == ROUTE_DROP``) frees it instead.

Everything is deterministic; state is the arrays passed in (see ``table.py``).
The loop stops early (returning the index reached) when the event buffer or the
occupancy series needs to be flushed or grown by the Python side.
"""
from __future__ import annotations

import numpy as np
from ..jit import hot, hot_inline

from ..packets.record import (
    IPPROTO_GRE, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP,
    IPPROTO_UDPLITE, PF_CSUM_BAD, PF_INNER_OK, PF_L4_OK, ROUTE_DROP, ROUTE_LOCAL_IN,
    ROUTE_LOCAL_OUT, RULE_NOTRACK,
)
from . import settings as K
from .generic import generic_packet, gre_packet
from .icmp import NR_ICMP_TYPES, icmp_is_err, icmp_packet, icmpv6_is_err, icmpv6_packet, icmpv6_untracked
from .layout import (
    CT_DROPPED, CT_ESTABLISHED, CT_ESTABLISHED_REPLY, CT_INVALID, CT_NEW, CT_NOT_SEEN,
    CT_RELATED, CT_RELATED_REPLY, CT_UNTRACKED, DR_EXPIRED, DR_REOPEN, DR_RST, EF_ACCT, EF_TSTAMP, EF_USED,
    EV_NEW, EV_TABLE_FULL, EV_UPDATE, FATE_CONNTRACK_DROP, FATE_FORWARDED, FATE_LOCAL, FATE_NONE,
    FATE_ROUTING_DROP, FATE_SENT, IPS_ASSURED, IPS_CONFIRMED, IPS_FIXED_TIMEOUT, IPS_SEEN_REPLY,
    ST_CHAINTOOLONG, ST_DROP, ST_ERROR, ST_INSERT_FAILED, ST_INVALID, V_ACCEPT, V_DELETE,
    V_INVALID, V_REPEAT,
)
from .sctp import sctp_error, sctp_packet
from .table import (
    MAX_CHAINLEN, MIN_CHAINLEN, M_COUNT, M_EV_N, M_FIRST_TS, M_FULL_FIRST, M_FULL_LAST, M_FULL_N,
    M_GC_EARLY, M_GC_NEXT, M_LAST_TS, M_PEAK, M_PEAK_TS, M_SER_N, M_SER_NEXT, M_SER_STEP, M_T100,
    M_T75, M_T90, NS, chain_length, delete_entry, early_drop, entry_hashes, find, gc_pass,
    hash_insert, invert_l4, lookup, next_random, record_event, scale_hash, slot_alloc, slot_free,
    tuple_hash,
)
from .tcp import tcp_error, tcp_packet
from .udp import udp_error, udp_packet

STOP_DONE = 0
STOP_EVENTS = 1     # event buffer needs flushing
STOP_SERIES = 2     # occupancy series needs room
STOP_CAPACITY = 3   # table slots need growing (max == 0: unlimited)

EV_HEADROOM = 64


@hot_inline
def _fate(route):
    if route == ROUTE_DROP:
        return FATE_ROUTING_DROP
    if route == ROUTE_LOCAL_IN:
        return FATE_LOCAL
    if route == ROUTE_LOCAL_OUT:
        return FATE_SENT
    return FATE_FORWARDED


@hot_inline
def _advance_clock(meta, S, series, now):
    """Time-at-occupancy accounting, peak tracking inputs and the 1-s occupancy series.
    Returns False when the series array is full (the caller stops to grow it)."""
    if meta[M_FIRST_TS] < 0:
        meta[M_FIRST_TS] = now
        meta[M_LAST_TS] = now
        meta[M_GC_NEXT] = now + NS   # gc_worker: first run 1 s after init
        meta[M_SER_NEXT] = now
    dt = now - meta[M_LAST_TS]
    if dt > 0:
        mx = S[K.K_MAX]
        c = meta[M_COUNT]
        if mx > 0:
            if c * 100 >= mx * 75:
                meta[M_T75] += dt
            if c * 100 >= mx * 90:
                meta[M_T90] += dt
            if c >= mx:
                meta[M_T100] += dt
        meta[M_LAST_TS] = now
    while now >= meta[M_SER_NEXT]:
        k = meta[M_SER_N]
        if k >= series.shape[0]:
            return False
        series[k] = meta[M_COUNT]
        meta[M_SER_N] = k + 1
        meta[M_SER_NEXT] += meta[M_SER_STEP]
    return True


@hot_inline
def _l4_error(proto, pk, S, check_csum):
    if proto == IPPROTO_TCP:
        return tcp_error(pk, S, check_csum)
    if proto == IPPROTO_UDP or proto == IPPROTO_UDPLITE:
        return udp_error(pk, S, check_csum)
    if proto == IPPROTO_SCTP:
        return sctp_error(pk, S, check_csum)
    return False


@hot_inline
def _l4_packet(proto, tbl, e, d, pk, now, S, sctp):
    if proto == IPPROTO_TCP:
        return tcp_packet(tbl, e, d, pk, now, S)
    if proto == IPPROTO_UDP:
        return udp_packet(tbl, e, d, pk, now, S, False)
    if proto == IPPROTO_UDPLITE:
        return udp_packet(tbl, e, d, pk, now, S, True)
    if proto == IPPROTO_ICMP:
        return icmp_packet(tbl, e, d, pk, now, S)
    if proto == IPPROTO_ICMPV6:
        return icmpv6_packet(tbl, e, d, pk, now, S)
    if proto == IPPROTO_GRE:
        return gre_packet(tbl, e, d, pk, now, S)
    if proto == IPPROTO_SCTP:
        return sctp_packet(tbl, e, d, pk, now, S, sctp)
    return generic_packet(tbl, e, d, pk, now, S)


@hot_inline
def _has_ports(proto):
    return (proto == IPPROTO_TCP or proto == IPPROTO_UDP or proto == IPPROTO_UDPLITE
            or proto == IPPROTO_SCTP or proto == IPPROTO_ICMP or proto == IPPROTO_ICMPV6
            or proto == IPPROTO_GRE)


@hot
def _icmp_error(tbl, heads, meta, stats, ext, ev, S, pk, now, check_csum):
    """nf_conntrack_handle_icmp(): returns a ctinfo, or -1 to continue with the normal
    path (ICMP queries).  Errors: stat ``error`` and no ct (INVALID for rules)."""
    proto = pk.proto
    itype = pk.dport >> 8
    if (pk.pflags & PF_L4_OK) == 0:
        stats[ST_ERROR] += 1             # "short packet"
        return CT_INVALID
    if check_csum and (pk.pflags & PF_CSUM_BAD) != 0:
        stats[ST_ERROR] += 1             # "bad hw icmp checksum"
        return CT_INVALID
    if proto == IPPROTO_ICMP:
        if itype > NR_ICMP_TYPES:         # "invalid icmp type"
            stats[ST_ERROR] += 1
            return CT_INVALID
        if not icmp_is_err(itype):
            return -1
    else:
        if icmpv6_untracked(itype):       # ND/MLD/MRD: nf_ct_set(skb, NULL, IP_CT_UNTRACKED)
            return CT_UNTRACKED
        if not icmpv6_is_err(itype):
            return -1
    # nf_conntrack_inet_error(): are they talking about one of our connections?
    if (pk.pflags & PF_INNER_OK) == 0:
        stats[ST_ERROR] += 1
        return CT_INVALID
    ip = pk.in_proto
    ok, isport, idport = invert_l4(ip, pk.in_sport, pk.in_dport)
    if not ok:                             # nf_ct_invert_tuple() failed
        stats[ST_ERROR] += 1
        return CT_INVALID
    # innertuple = inversion of the quoted packet's tuple; look it up
    seed = S[K.K_SEED]
    h = tuple_hash(pk.in_dst_hi, pk.in_dst_lo, pk.in_src_hi, pk.in_src_lo, isport, idport,
                   pk.l3, ip, pk.zone, seed)
    node = find(tbl, heads, meta, ext, ev, S, now, h,
                pk.in_dst_hi, pk.in_dst_lo, pk.in_src_hi, pk.in_src_lo, isport, idport,
                pk.in_src_hi, pk.in_src_lo, pk.in_dst_hi, pk.in_dst_lo, pk.in_sport, pk.in_dport,
                pk.l3, ip, pk.zone)
    if node < 0:
        stats[ST_ERROR] += 1
        return CT_INVALID
    # ct->tuplehash[dir].tuple.dst == innertuple.dst == the quoted packet's source
    if pk.dst_hi != pk.in_src_hi or pk.dst_lo != pk.in_src_lo:
        stats[ST_ERROR] += 1               # "outer daddr mismatch"
        return CT_INVALID
    return CT_RELATED_REPLY if (node & 1) == 1 else CT_RELATED


@hot
def _init_entry(tbl, e, pk, isport_unused, S, acct, tstamp):
    r = tbl[e]
    r.src_hi = pk.src_hi
    r.src_lo = pk.src_lo
    r.dst_hi = pk.dst_hi
    r.dst_lo = pk.dst_lo
    r.sport = pk.sport if _has_ports(pk.proto) else 0
    r.dport = pk.dport if _has_ports(pk.proto) else 0
    r.l3 = pk.l3
    r.proto = pk.proto
    r.zone = pk.zone
    r.status = 0
    r.state = 0
    r.expires = 0
    r.aux = 0
    r.nxt_o = -1
    r.nxt_r = -1
    r.td_end0 = 0
    r.td_end1 = 0
    r.td_maxend0 = 0
    r.td_maxend1 = 0
    r.td_maxwin0 = 0
    r.td_maxwin1 = 0
    r.td_maxack0 = 0
    r.td_maxack1 = 0
    r.last_seq = 0
    r.last_ack = 0
    r.last_end = 0
    r.last_win = 0
    r.td_scale0 = 0
    r.td_scale1 = 0
    r.tflags0 = 0
    r.tflags1 = 0
    r.last_dir = 0
    r.last_index = 0
    r.last_wscale = 0
    r.last_flags = 0
    r.retrans = 0
    f = EF_USED
    # nf_ct_acct_ext_add()/nf_ct_tstamp_ext_add(): only if the sysctl is on at creation
    if S[K.K_ACCT] != 0 and acct.shape[0] > 0:
        f |= EF_ACCT
        a = acct[e]
        a.pk0 = 0
        a.by0 = 0
        a.pk1 = 0
        a.by1 = 0
    if S[K.K_TSTAMP] != 0 and tstamp.shape[0] > 0:
        f |= EF_TSTAMP
        tstamp[e] = 0
    r.eflags = f


@hot
def _confirm(tbl, heads, meta, stats, ext, ev, S, e, now):
    """__nf_conntrack_confirm(): chain-length limit, then insert both tuplehashes."""
    seed = S[K.K_SEED]
    size = heads.shape[0]
    if S[K.K_CHAINLIMIT] != 0:
        # max_chainlen = MIN_CHAINLEN + get_random_u32_below(MAX_CHAINLEN - MIN_CHAINLEN)
        limit = MIN_CHAINLEN + np.int64(next_random(meta) % np.uint64(MAX_CHAINLEN - MIN_CHAINLEN))
        h0, h1 = entry_hashes(tbl, e, seed)
        # "if (chainlen++ > max_chainlen) goto chaintoolong" on either chain
        if (chain_length(tbl, heads, scale_hash(h0, size)) > limit + 1
                or chain_length(tbl, heads, scale_hash(h1, size)) > limit + 1):
            stats[ST_CHAINTOOLONG] += 1
            stats[ST_INSERT_FAILED] += 1
            slot_free(tbl, meta, e)
            return False
    hash_insert(tbl, heads, e, seed)
    tbl[e].status |= IPS_CONFIRMED
    tstamp = ext[1]
    if (tbl[e].eflags & EF_TSTAMP) != 0:
        tstamp[e] = now
    if S[K.K_EVENTS] != 0:
        record_event(tbl, e, ev, meta, ext, EV_NEW, 0, now)
    return True


@hot
def _table_full(tbl, meta, stats, ev, ext, S, pk, now):
    """__nf_conntrack_alloc() failure path: gc early-drop mode, warning, stat drop."""
    meta[M_GC_EARLY] = 1
    meta[M_FULL_N] += 1
    if meta[M_FULL_FIRST] < 0:
        meta[M_FULL_FIRST] = now
    meta[M_FULL_LAST] = now
    stats[ST_DROP] += 1
    if S[K.K_EVENTS] != 0:
        # the event carries the tuple that could not be tracked (scratch slot tbl[-1])
        scratch = tbl.shape[0] - 1
        _init_entry(tbl, scratch, pk, 0, S, ext[0][:0], ext[1][:0])
        tbl[scratch].eflags = 0
        record_event(tbl, scratch, ev, meta, ext, EV_TABLE_FULL, 0, now)


@hot
def process_batch(batch, start, tbl, heads, meta, stats, ext, ev, sctp, series, S, out_ct, out_fate):
    """Process batch[start:]; returns (index reached, STOP_* reason)."""
    acct = ext[0]
    evcap = ev[0].shape[0]
    want_events = S[K.K_EVENTS] != 0
    mx = S[K.K_MAX]
    n = batch.shape[0]
    for i in range(start, n):
        # room for the worst case of this packet: a GC cycle may destroy every entry
        if want_events and meta[M_EV_N] + meta[M_COUNT] + EV_HEADROOM > evcap:
            return i, STOP_EVENTS
        # one free slot for a new entry, plus the scratch slot tbl[-1]
        if meta[M_COUNT] + 2 > tbl.shape[0] and (mx == 0 or tbl.shape[0] < mx + 2):
            return i, STOP_CAPACITY
        pk = batch[i]
        now = pk.ts
        if not _advance_clock(meta, S, series, now):
            return i, STOP_SERIES
        if S[K.K_GC] != 0 and now >= meta[M_GC_NEXT]:
            gc_pass(tbl, heads, meta, ext, ev, S, now)

        if pk.skip != 0:
            out_ct[i] = CT_NOT_SEEN
            out_fate[i] = FATE_NONE
            continue
        route = pk.route
        if pk.rule == RULE_NOTRACK:
            out_ct[i] = CT_UNTRACKED
            out_fate[i] = _fate(route)
            continue
        check_csum = route != ROUTE_LOCAL_OUT and S[K.K_CHECKSUM] != 0
        proto = pk.proto

        if proto == IPPROTO_ICMP or proto == IPPROTO_ICMPV6:
            ci = _icmp_error(tbl, heads, meta, stats, ext, ev, S, pk, now, check_csum)
            if ci >= 0:
                out_ct[i] = ci
                out_fate[i] = _fate(route)
                continue

        sport = pk.sport if _has_ports(proto) else 0
        dport = pk.dport if _has_ports(proto) else 0
        ok, isport, idport = invert_l4(proto, sport, dport)
        if not ok:
            # init_conntrack(): nf_ct_invert_tuple() failed -> no entry, stat invalid
            stats[ST_INVALID] += 1
            out_ct[i] = CT_INVALID
            out_fate[i] = _fate(route)
            continue
        seed = S[K.K_SEED]
        h = tuple_hash(pk.src_hi, pk.src_lo, pk.dst_hi, pk.dst_lo, sport, dport, pk.l3, proto,
                       pk.zone, seed)
        ctinfo = CT_INVALID
        for _attempt in range(2):          # the second round is the -NF_REPEAT re-open
            node = lookup(tbl, heads, now, h, pk.src_hi, pk.src_lo, pk.dst_hi,
                          pk.dst_lo, sport, dport, pk.dst_hi, pk.dst_lo, pk.src_hi, pk.src_lo,
                          isport, idport, pk.l3, proto, pk.zone)
            while node <= -2:   # expired entries met on the walk are reaped (see table.find)
                delete_entry(tbl, heads, meta, ext, ev, S, -2 - node, DR_EXPIRED, now)
                node = lookup(tbl, heads, now, h, pk.src_hi, pk.src_lo, pk.dst_hi,
                              pk.dst_lo, sport, dport, pk.dst_hi, pk.dst_lo, pk.src_hi, pk.src_lo,
                              isport, idport, pk.l3, proto, pk.zone)
            new = node < 0
            if new:
                # __nf_conntrack_alloc(): the count includes the new, unconfirmed entry
                meta[M_COUNT] += 1
                if mx != 0 and meta[M_COUNT] > mx:
                    if not early_drop(tbl, heads, meta, stats, ext, ev, S, h, now):
                        meta[M_COUNT] -= 1
                        _table_full(tbl, meta, stats, ev, ext, S, pk, now)
                        ctinfo = CT_DROPPED
                        break
                e = slot_alloc(tbl, meta)
                _init_entry(tbl, e, pk, 0, S, acct, ext[1])
                d = 0
                ctinfo = CT_NEW
            else:
                e = node >> 1
                d = node & 1
                if d == 1:
                    ctinfo = CT_ESTABLISHED_REPLY
                elif (tbl[e].status & IPS_SEEN_REPLY) != 0:
                    ctinfo = CT_ESTABLISHED
                else:
                    ctinfo = CT_NEW
            old_state = tbl[e].state
            old_status = tbl[e].status
            if _l4_error(proto, pk, S, check_csum):
                verdict = V_INVALID
                timeout = 0
            else:
                verdict, timeout = _l4_packet(proto, tbl, e, d, pk, now, S, sctp)
            if verdict == V_REPEAT:
                delete_entry(tbl, heads, meta, ext, ev, S, e, DR_REOPEN, now)
                continue
            if verdict == V_INVALID:
                if new:
                    slot_free(tbl, meta, e)
                stats[ST_INVALID] += 1
                ctinfo = CT_INVALID
                break
            r = tbl[e]
            if verdict == V_ACCEPT or verdict == V_DELETE:
                # __nf_ct_refresh_acct(): the timeout is set, never extended
                if (r.status & IPS_FIXED_TIMEOUT) == 0:
                    r.expires = now + timeout
                if (r.eflags & EF_ACCT) != 0:
                    a = acct[e]
                    if d == 0:
                        a.pk0 += 1
                        a.by0 += pk.iplen
                    else:
                        a.pk1 += 1
                        a.by1 += pk.iplen
            if d == 1:
                # nf_conntrack_in(): SEEN_REPLY after the tracker accepted a reply
                r.status |= IPS_SEEN_REPLY
            if verdict == V_DELETE:
                # TCP RST before any reply: nf_ct_kill_acct()
                if (r.status & IPS_CONFIRMED) != 0:
                    delete_entry(tbl, heads, meta, ext, ev, S, e, DR_RST, now)
                elif new:
                    slot_free(tbl, meta, e)
                break
            if new:
                if route == ROUTE_DROP:
                    # dropped by routing before confirmation: the entry dies with the skb
                    slot_free(tbl, meta, e)
                elif not _confirm(tbl, heads, meta, stats, ext, ev, S, e, now):
                    ctinfo = CT_DROPPED
            elif want_events and (r.state != old_state
                                  or (r.status & ~old_status & (IPS_SEEN_REPLY | IPS_ASSURED)) != 0):
                record_event(tbl, e, ev, meta, ext, EV_UPDATE, 0, now)
            break
        out_ct[i] = ctinfo
        out_fate[i] = FATE_CONNTRACK_DROP if ctinfo == CT_DROPPED else _fate(route)
        c = meta[M_COUNT]
        if c > meta[M_PEAK]:
            meta[M_PEAK] = c
            meta[M_PEAK_TS] = now
    return n, 0
