"""L4 decoding (numba hot path): the tuple's L4 part and what the protocol trackers'
``*_error()`` functions check, for TCP, UDP, UDP-Lite, ICMP/ICMPv6 (with the quoted
packet of errors), GRE and SCTP; anything else is generic.

Every function is ``@hot`` and runs with NUMBA_DISABLE_JIT=1 too.  Reads
never go past ``avail`` (bytes both captured and inside the IP datagram).
"""
from __future__ import annotations

import numpy as np
from ..jit import hot

from .checksum import ok, sctp_crc_ok, sum16
from .record import (
    PF_CSUM_BAD, PF_CSUM_UNCHECKED, PF_ICMP_TRUNC, PF_INNER_OK, PF_L4_MALFORMED, PF_L4_OK,
    PF_SACK, PF_SACK_PERM, PF_TCP_OPTS, PF_TCP_TS,
)
from .wire import _after, _clearflag, _setflag, be16, be32, be64, ext_hdr_len


@hot
def _tcp_options(buf, q, end, out, i):
    """Options as tcp_options() and tcp_sack() walk them (nf_conntrack_proto_tcp.c):
    EOL ends, NOP skips, a length < 2 or running past the header stops the walk;
    wscale is clamped to TCP_MAX_WSCALE (14); the highest SACK right edge uses after()."""
    have_sack = False
    best = np.int64(0)
    while q < end:
        kind = buf[q]
        if kind == 0:
            break
        if kind == 1:
            q += 1
            continue
        if q + 1 >= end:
            break
        sz = np.int64(buf[q + 1])
        if sz < 2 or q + sz > end:
            break
        if kind == 2 and sz == 4:
            out[i]["mss"] = be16(buf, q + 2)
        elif kind == 3 and sz == 3:
            out[i]["wscale"] = min(np.int64(buf[q + 2]), 14)
        elif kind == 4 and sz == 2:
            _setflag(out, i, PF_SACK_PERM)
        elif kind == 5 and sz >= 10 and (sz - 2) % 8 == 0:
            for j in range((sz - 2) // 8):
                right = be32(buf, q + 2 + 8 * j + 4)
                if not have_sack or _after(right, best):
                    best = right
                    have_sack = True
        elif kind == 8 and sz == 10:
            out[i]["tsval"] = be32(buf, q + 2)
            out[i]["tsecr"] = be32(buf, q + 6)
            _setflag(out, i, PF_TCP_TS)
        q += sz
    if have_sack:
        out[i]["sack"] = best
        _setflag(out, i, PF_SACK)


@hot
def _gre_keys(buf, p, avail, l4len):
    """gre_pkt_to_tuple() (nf_conntrack_proto_gre.c): version 0 -> keys 0; version 1
    (PPTP) -> dst key = call id, src key from the PPTP keymap, which the model does not
    keep: we store 0.  Returns (ok, dport)."""
    if avail < 4 or l4len < 4 or (buf[p + 1] & 7) != 1:
        return True, 0
    if avail < 8 or l4len < 8:
        return True, 0
    if be16(buf, p + 2) != 0x880B:   # GRE_PROTO_PPP: any other protocol -> no tuple
        return False, 0
    return True, be16(buf, p + 6)


@hot
def _inner_v6_l4(buf, q, avail, wire):
    """ipv6_skip_exthdr() over the quoted IPv6 packet: (l4 offset or -1, proto, truncated)."""
    nh = np.int64(buf[q + 6])
    p = q + 40
    while nh == 0 or nh == 43 or nh == 60 or nh == 51 or nh == 44:
        if p + 8 > q + avail:
            return -1, nh, True
        if nh == 44:
            if be16(buf, p + 2) & 0xFFF8:
                return -1, np.int64(buf[p]), False
        hl = ext_hdr_len(buf, p, nh)
        nh = np.int64(buf[p])
        p += hl
    if p > q + wire:
        return -1, nh, False
    return p, nh, False


@hot
def decode_inner(buf, q, icap, iwire, l3, out, i):
    """Tuple of the packet quoted in an ICMP error, as nf_conntrack_inet_error() gets it
    with nf_ct_get_tuplepr(): ipv4_get_l4proto() (no checksum/length checks, fragment
    offset must be 0) / ipv6_get_l4proto(), then the L4 part (4 bytes of ports, 8 for
    ICMP/ICMPv6/PPTP-GRE, none for generic).  Sets PF_INNER_OK or PF_ICMP_TRUNC."""
    avail = min(icap, iwire)
    if l3 == 4:
        if avail < 20:
            _setflag(out, i, PF_ICMP_TRUNC)
            return
        ihl = np.int64(buf[q] & 15) * 4
        out[i]["in_proto"] = buf[q + 9]
        out[i]["in_src_lo"] = be32(buf, q + 12)
        out[i]["in_dst_lo"] = be32(buf, q + 16)
        if be16(buf, q + 6) & 0x1FFF or ihl > iwire:
            return
        p = q + ihl
        proto = np.int64(buf[q + 9])
    else:
        if avail < 40:
            _setflag(out, i, PF_ICMP_TRUNC)
            return
        out[i]["in_src_hi"] = be64(buf, q + 8)
        out[i]["in_src_lo"] = be64(buf, q + 16)
        out[i]["in_dst_hi"] = be64(buf, q + 24)
        out[i]["in_dst_lo"] = be64(buf, q + 32)
        p, proto, trunc = _inner_v6_l4(buf, q, avail, iwire)
        out[i]["in_proto"] = proto
        if p < 0:
            if trunc:
                _setflag(out, i, PF_ICMP_TRUNC)
            return
    have = q + avail - p
    if proto == 6 or proto == 17 or proto == 136 or proto == 132 or proto == 33:
        if have < 4:
            _setflag(out, i, PF_ICMP_TRUNC)
            return
        out[i]["in_sport"] = be16(buf, p)
        out[i]["in_dport"] = be16(buf, p + 2)
    elif proto == 1 or proto == 58:
        if have < 8:
            _setflag(out, i, PF_ICMP_TRUNC)
            return
        out[i]["in_sport"] = be16(buf, p + 4)
        out[i]["in_dport"] = (np.int64(buf[p]) << 8) | np.int64(buf[p + 1])
    elif proto == 47:
        good, key = _gre_keys(buf, p, max(have, 0), q + iwire - p)
        if not good:
            return
        out[i]["in_dport"] = key
    _setflag(out, i, PF_INNER_OK)


@hot
def _redirect(buf, p, avail, l4len, out, i):
    """ICMPv6 redirect (code 0) quoting a packet, RELATED since 6.2
    (nf_conntrack_proto_icmpv6.c: nf_conntrack_icmpv6_redirect()): hop limit 255 and a
    link-local source are required, then the first ND option must be a Redirected
    Header (type 4); its 8-byte header is skipped.  Short message, wrong hop limit or
    source, or a zero-length first option -> PF_ICMP_TRUNC (error path); another
    option type -> no inner flag at all (NF_ACCEPT, tracked as a plain ICMPv6 type)."""
    if l4len < 40 + 2 or avail < 40 + 2:
        _setflag(out, i, PF_ICMP_TRUNC)
        return
    src_hi = np.uint64(out[i]["src_hi"])
    if out[i]["ttl"] != 255 or (src_hi >> np.uint64(54)) != np.uint64(0xFE80 >> 6) or buf[p + 41] == 0:
        _setflag(out, i, PF_ICMP_TRUNC)
        return
    if buf[p + 40] != 4:
        return
    decode_inner(buf, p + 48, avail - 48, l4len - 48, 6, out, i)


@hot
def decode_l4(buf, w, p, l4cap, l4len, proto, pseudo, l3, out, i, crctab):
    """Fill the L4 part of record i.  ``pseudo`` is the unfolded pseudo-header sum
    (nf_ip_checksum()/nf_ip6_checksum(): length = IP payload length)."""
    avail = min(l4cap, l4len)
    if avail < 0:
        avail = 0
    full = l4cap >= l4len
    if not full:
        _setflag(out, i, PF_CSUM_UNCHECKED)
    if proto == 6 or proto == 17 or proto == 136 or proto == 132:
        if avail >= 4:
            out[i]["sport"] = be16(buf, p)
            out[i]["dport"] = be16(buf, p + 2)
    if proto == 6:
        # tcp_error(): short header -> invalid; doff < 5 or past the segment -> invalid
        if l4len < 20 or avail < 20:
            return
        _setflag(out, i, PF_L4_OK)
        out[i]["seq"] = be32(buf, p + 4)
        out[i]["ack"] = be32(buf, p + 8)
        doff = np.int64(buf[p + 12] >> 4) * 4
        out[i]["tcpflags"] = buf[p + 13]
        out[i]["win"] = be16(buf, p + 14)
        if doff < 20 or doff > l4len:
            _setflag(out, i, PF_L4_MALFORMED)
        else:
            out[i]["datalen"] = l4len - doff
            if doff > 20:
                _setflag(out, i, PF_TCP_OPTS)
            _tcp_options(buf, p + 20, p + min(doff, avail), out, i)
        if full and not ok(pseudo + sum16(buf, w, p, l4len)):
            _setflag(out, i, PF_CSUM_BAD)
    elif proto == 17:
        # udp_error(): short -> invalid; len field > payload or < 8 -> invalid;
        # checksum 0 = none (accepted, IPv4 and IPv6 alike)
        if l4len < 8 or avail < 8:
            return
        _setflag(out, i, PF_L4_OK)
        ulen = be16(buf, p + 4)
        if ulen > l4len or ulen < 8:
            _setflag(out, i, PF_L4_MALFORMED)
        elif be16(buf, p + 6) != 0 and full and not ok(pseudo + sum16(buf, w, p, l4len)):
            _setflag(out, i, PF_CSUM_BAD)
    elif proto == 136:
        # udplite_error(): coverage 0 = whole packet, < 8 or > payload -> invalid;
        # a zero checksum is invalid ("UDPLITE mandates checksums")
        if l4len < 8 or avail < 8:
            return
        _setflag(out, i, PF_L4_OK)
        cov = be16(buf, p + 4)
        if cov == 0:
            cov = l4len
        if cov < 8 or cov > l4len or be16(buf, p + 6) == 0:
            _setflag(out, i, PF_L4_MALFORMED)
        elif avail >= cov:
            # [U: read in source, not verified on a kernel] udplite_error() passes
            # IPPROTO_UDP, not IPPROTO_UDPLITE, to nf_checksum_partial(); and IPv4's
            # nf_ip_checksum_partial() (net/netfilter/utils.c) swaps the length and
            # protocol arguments of csum_tcpudp_nofold(), whose u8 protocol parameter
            # then truncates the length.  We sum the pseudo-header the same way.
            if l3 == 4:
                kp = pseudo - 136 - l4len + 17 + (l4len & 0xFF)
            else:
                kp = pseudo - 136 + 17
            _clearflag(out, i, PF_CSUM_UNCHECKED)
            if not ok(kp + sum16(buf, w, p, cov)):
                _setflag(out, i, PF_CSUM_BAD)
    elif proto == 1 or proto == 58:
        # icmp_error()/icmpv6_error(): short -> invalid; ICMPv4 sums without pseudo-header
        if l4len < 8 or avail < 8:
            return
        _setflag(out, i, PF_L4_OK)
        typ = np.int64(buf[p])
        out[i]["sport"] = be16(buf, p + 4)
        out[i]["dport"] = (typ << 8) | np.int64(buf[p + 1])
        if full and not ok((pseudo if proto == 58 else 0) + sum16(buf, w, p, l4len)):
            _setflag(out, i, PF_CSUM_BAD)
        # nf_conntrack_icmpv4_error(): 3, 4, 5, 11, 12 quote a packet;
        # nf_conntrack_icmpv6_error(): every type < 128 does
        if (proto == 1 and (typ == 3 or typ == 4 or typ == 5 or typ == 11 or typ == 12)) or \
                (proto == 58 and typ < 128):
            decode_inner(buf, p + 8, avail - 8, l4len - 8, l3, out, i)
        elif proto == 58 and typ == 137 and buf[p + 1] == 0:
            _redirect(buf, p, avail, l4len, out, i)
    elif proto == 47:
        good, key = _gre_keys(buf, p, avail, l4len)
        _clearflag(out, i, PF_CSUM_UNCHECKED)    # conntrack checks no GRE checksum
        if good:
            _setflag(out, i, PF_L4_OK)
            out[i]["dport"] = key
        else:
            _setflag(out, i, PF_L4_MALFORMED)
    elif proto == 132:
        # sctp_error(): shorter than the 12-byte common header -> invalid; CRC32c
        if l4len < 12 or avail < 12:
            return
        _setflag(out, i, PF_L4_OK)
        out[i]["vtag"] = be32(buf, p + 4)
        bitmap = np.uint32(0)
        q = p + 12
        first = True
        have_init = False
        while q + 4 <= p + avail:
            t = np.int64(buf[q])
            clen = be16(buf, q + 2)
            if first:
                out[i]["sctp_first"] = t
                out[i]["sctp_cflags"] = buf[q + 1]
                first = False
            if t < 32:
                bitmap |= np.uint32(1) << np.uint32(t)
            if (t == 1 or t == 2) and not have_init:
                # nf_conntrack_sctp_packet()/sctp_new(): the inithdr (16 bytes) must be
                # there (skb_header_pointer()), else the packet is invalid
                have_init = True
                if q + 20 > p + l4len:
                    _setflag(out, i, PF_L4_MALFORMED)
                elif q + 8 <= p + avail:
                    out[i]["sctp_itag"] = be32(buf, q + 4)
            if clen == 0:    # do_basic_checks(): zero-length chunk
                _setflag(out, i, PF_L4_MALFORMED)
                break
            q += (clen + 3) & ~3
        out[i]["chunks"] = bitmap
        if full and not sctp_crc_ok(buf, p, l4len, crctab):
            _setflag(out, i, PF_CSUM_BAD)
    else:
        _setflag(out, i, PF_L4_OK)    # generic: addresses + protocol only
        _clearflag(out, i, PF_CSUM_UNCHECKED)
