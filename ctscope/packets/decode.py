"""IP decoding into ``PKT_DTYPE`` records (numba hot path; L4 is in ``l4.py``).

``decode_l3`` takes one IP datagram inside a uint8 buffer and fills record ``out[i]``
the way the kernel sees it on the way to conntrack:

* ``ip_rcv_core()`` / ``ip6_rcv_core()`` rejections become ``skip`` reasons (the
  packet never reaches PREROUTING, so conntrack never sees it);
* ``nf_ct_get_tuple()`` and the per-protocol ``*_error()`` functions decide what
  ends up in the tuple fields and ``pflags``.

Two lengths travel with every buffer: ``cap`` (bytes present in the capture) and
``wire`` (bytes the packet had on the wire, from the capture's original length).  A
frame cut by the snaplen keeps the IP lengths of its header; whatever cannot be
checked for lack of bytes gets ``PF_CSUM_UNCHECKED`` instead of a verdict.

All functions here are ``@hot`` and also run with NUMBA_DISABLE_JIT=1.
"""
from __future__ import annotations

import numpy as np
from ..jit import hot

from .checksum import ok, sum16
from .l4 import decode_l4
from .record import (
    PF_CSUM_UNCHECKED, PF_EGRESS, PF_L4_MALFORMED, ROUTE_DROP, SKIP_BAD_IP6_ADDR, SKIP_BAD_IP_CSUM,
    SKIP_BAD_IP_LEN, SKIP_FRAG_HELD, SKIP_NOT_IP, SKIP_TRUNCATED,
)
from .wire import _setflag, be16, be32, be64, ext_hdr_len

NOT_FRAG = -1   # decode_l3 return value: the datagram is complete


@hot
def _v6_addr_bad(hi_s, lo_s, hi_d, lo_d):
    """ip6_rcv_core() (net/ipv6/ip6_input.c): loopback source or destination, multicast
    source, multicast destination with scope 0 (reserved) or 1 (interface-local) on a
    non-loopback device."""
    one = np.uint64(1)
    zero = np.uint64(0)
    if (hi_s == zero and lo_s == one) or (hi_d == zero and lo_d == one):
        return True
    if (hi_s >> np.uint64(56)) == np.uint64(0xFF):
        return True
    if (hi_d >> np.uint64(56)) == np.uint64(0xFF):
        scope = (hi_d >> np.uint64(48)) & np.uint64(0xF)
        if scope == zero or scope == one:
            return True
    return False


@hot
def _hbh_check(buf, off, h, avail_end, plen):
    """ipv6_parse_hopopts() -> ip6_parse_tlv(hopbyhop, max_hbh_opts_cnt = 8) in
    ip6_rcv_core() (net/ipv6/exthdrs.c): Pad1/PadN runs of more than 7 bytes, non-zero
    PadN bytes, an option past the header, more than 8 non-pad options, a Router Alert
    whose length is not 2, an unknown option whose top two type bits are not 00, or a
    bad Jumbo Payload option (ipv6_hop_jumbo()) drop the packet.
    Returns (ok, jumbo length or -1); a header not fully captured is taken as ok."""
    hl = (np.int64(buf[h + 1]) + 1) * 8
    if h + hl > avail_end:
        return True, -1
    q = h + 2
    end = h + hl
    padlen = 0
    count = 0
    jumbo = -1
    while q < end:
        t = np.int64(buf[q])
        if t == 0:
            padlen += 1
            if padlen > 7:
                return False, -1
            q += 1
            continue
        if end - q < 2:
            return False, -1
        optlen = np.int64(buf[q + 1]) + 2
        if optlen > end - q:
            return False, -1
        if t == 1:
            padlen += optlen
            if padlen > 7:
                return False, -1
            for k in range(2, optlen):
                if buf[q + k] != 0:
                    return False, -1
        else:
            count += 1
            if count > 8:
                return False, -1
            if t == 5:
                if optlen != 4:
                    return False, -1
            elif t == 0xC2:
                if optlen != 6 or ((q - off) & 3) != 2 or plen != 0:
                    return False, -1
                jumbo = be32(buf, q + 2)
                if jumbo <= 65535:
                    return False, -1
            elif t != 0x31 and t != 7 and (t >> 6) != 0:
                return False, -1
            padlen = 0
        q += optlen
    return True, jumbo


@hot
def _ipv4_options_drop(buf, off, ihl):
    """True if ip_rcv_finish_core() -> ip_rcv_options() drops the packet after
    PREROUTING (net/ipv4/ip_input.c, net/ipv4/ip_options.c: ip_options_compile()):
    an option with a bad length or pointer, a repeated RR/TS/source route, a TS
    overflow of 15, or any source route (LSRR/SSRR) since accept_source_route is 0
    for conf/all [U: default read in devinet.c, not verified on 6.18]."""
    q = off + 20
    end = off + ihl
    have_rr = False
    have_ts = False
    while q < end:
        t = np.int64(buf[q])
        if t == 0:
            break
        if t == 1:
            q += 1
            continue
        if end - q < 2:
            return True
        ln = np.int64(buf[q + 1])
        if ln < 2 or ln > end - q:
            return True
        if t == 0x83 or t == 0x89:             # LSRR / SSRR
            return True
        if t == 7:                             # record route
            if have_rr or ln < 3 or buf[q + 2] < 4:
                return True
            if np.int64(buf[q + 2]) <= ln and np.int64(buf[q + 2]) + 3 > ln:
                return True
            have_rr = True
        elif t == 0x44:                        # timestamp
            if have_ts or ln < 4 or buf[q + 2] < 5:
                return True
            ptr = np.int64(buf[q + 2])
            if ptr <= ln:
                fl = buf[q + 3] & 0xF
                if (fl == 0 and ptr + 3 > ln) or ((fl == 1 or fl == 3) and ptr + 7 > ln):
                    return True
            elif (buf[q + 3] >> 4) == 15:
                return True
            have_ts = True
        elif t == 0x94:                        # router alert
            if ln < 4:
                return True
        q += ln
    return False


@hot
def decode_l3(buf, w, off, cap, wire, ver, out, i, crctab):
    """Decode the IP datagram at ``buf[off:]`` into ``out[i]``.

    ``ver`` is 4 or 6 from the link layer, 0 to take the version nibble (raw IP).
    Returns NOT_FRAG, or for a fragment the offset of its fragment header from ``off``
    (0 for IPv4); the record is then left with skip = SKIP_FRAG_HELD for defrag.
    """
    if cap <= 0 or wire <= 0:
        out[i]["skip"] = SKIP_TRUNCATED if wire > 0 else SKIP_NOT_IP
        return NOT_FRAG
    if ver == 0:
        ver = np.int64(buf[off] >> 4)
        if ver != 4 and ver != 6:
            out[i]["skip"] = SKIP_NOT_IP
            return NOT_FRAG
    if ver == 4:
        out[i]["l3"] = 4
        # ip_rcv_core() (net/ipv4/ip_input.c): may_pull(iphdr); ihl >= 5, version 4;
        # may_pull(ihl*4); ip_fast_csum(); tot_len <= skb->len and >= ihl*4.  No
        # address checks there: martians are dropped later by routing (see path.py).
        if wire < 20:
            out[i]["skip"] = SKIP_BAD_IP_LEN
            return NOT_FRAG
        if cap < 20:
            out[i]["skip"] = SKIP_TRUNCATED
            return NOT_FRAG
        ihl = np.int64(buf[off] & 15) * 4
        if (buf[off] >> 4) != 4 or ihl < 20 or ihl > wire:
            out[i]["skip"] = SKIP_BAD_IP_LEN
            return NOT_FRAG
        if ihl > cap:
            out[i]["skip"] = SKIP_TRUNCATED
            return NOT_FRAG
        if not ok(sum16(buf, w, off, ihl)):
            out[i]["skip"] = SKIP_BAD_IP_CSUM
            return NOT_FRAG
        tot = be16(buf, off + 2)
        if tot == 0 and wire > 65535:
            tot = wire        # iph_totlen() (include/linux/ip.h): a BIG TCP GSO packet
        if tot > wire or tot < ihl:
            out[i]["skip"] = SKIP_BAD_IP_LEN
            return NOT_FRAG
        src = be32(buf, off + 12)
        dst = be32(buf, off + 16)
        proto = np.int64(buf[off + 9])
        out[i]["iplen"] = tot
        out[i]["ttl"] = buf[off + 8]
        out[i]["proto"] = proto
        out[i]["src_lo"] = src
        out[i]["dst_lo"] = dst
        if ihl > 20 and _ipv4_options_drop(buf, off, ihl):
            out[i]["route"] = ROUTE_DROP          # kept by the path model (path.py)
        if be16(buf, off + 6) & 0x3FFF:          # MF or a fragment offset
            out[i]["skip"] = SKIP_FRAG_HELD
            return 0
        l4len = tot - ihl
        pseudo = (src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF) + proto + l4len
        decode_l4(buf, w, off + ihl, min(cap, tot) - ihl, l4len, proto, pseudo, 4, out, i, crctab)
        return NOT_FRAG
    # IPv6
    out[i]["l3"] = 6
    if wire < 40:
        out[i]["skip"] = SKIP_BAD_IP_LEN
        return NOT_FRAG
    if cap < 40:
        out[i]["skip"] = SKIP_TRUNCATED
        return NOT_FRAG
    if (buf[off] >> 4) != 6:
        out[i]["skip"] = SKIP_BAD_IP_LEN
        return NOT_FRAG
    hs = be64(buf, off + 8)
    ls = be64(buf, off + 16)
    hd = be64(buf, off + 24)
    ld = be64(buf, off + 32)
    out[i]["src_hi"] = hs
    out[i]["src_lo"] = ls
    out[i]["dst_hi"] = hd
    out[i]["dst_lo"] = ld
    out[i]["ttl"] = buf[off + 7]
    nh = np.int64(buf[off + 6])
    out[i]["proto"] = nh
    # an outgoing copy never went through ip6_rcv_core()
    if (out[i]["pflags"] & PF_EGRESS) == 0 and _v6_addr_bad(hs, ls, hd, ld):
        out[i]["skip"] = SKIP_BAD_IP6_ADDR
        return NOT_FRAG
    plen = be16(buf, off + 4)
    if plen == 0 and nh == 0:
        iplen = wire                              # jumbogram: length from the option
    else:
        iplen = plen + 40
        if iplen > wire:                          # ip6_rcv_core(): truncated
            out[i]["skip"] = SKIP_BAD_IP_LEN
            return NOT_FRAG
    if nh == 0:
        # ipv6_parse_hopopts(): the header must lie within the (trimmed) packet
        if iplen < 48 or (cap >= 42 and 40 + (np.int64(buf[off + 41]) + 1) * 8 > iplen):
            out[i]["skip"] = SKIP_BAD_IP_LEN
            return NOT_FRAG
        good, jumbo = _hbh_check(buf, off, off + 40, off + min(cap, iplen), plen)
        if not good:
            out[i]["skip"] = SKIP_BAD_IP_LEN
            return NOT_FRAG
        if jumbo > 0:
            if jumbo + 40 > wire:                 # ipv6_hop_jumbo(): truncated
                out[i]["skip"] = SKIP_BAD_IP_LEN
                return NOT_FRAG
            iplen = jumbo + 40
    out[i]["iplen"] = iplen
    ccap = min(cap, iplen)
    # ipv6_skip_exthdr() (net/ipv6/exthdrs_core.c), as ipv6_get_l4proto() uses it
    p = off + 40
    while nh == 0 or nh == 43 or nh == 60 or nh == 51 or nh == 44:
        need = 8
        if p + need > off + iplen:
            out[i]["proto"] = nh
            _setflag(out, i, PF_L4_MALFORMED)
            return NOT_FRAG
        if p + need > off + ccap:
            out[i]["proto"] = nh
            _setflag(out, i, PF_CSUM_UNCHECKED)
            return NOT_FRAG
        if nh == 44:
            if be16(buf, p + 2) & 0xFFF9:         # offset or M: a real fragment
                out[i]["proto"] = buf[p]
                out[i]["skip"] = SKIP_FRAG_HELD
                return p - off
            # atomic fragment: nf_ct_frag6_gather() queues it like any fragment and
            # nf_ct_frag6_reasm() removes the 8-byte header, so conntrack accounts 8 bytes less
            out[i]["iplen"] = out[i]["iplen"] - 8
        hl = ext_hdr_len(buf, p, nh)
        nh = np.int64(buf[p])
        p += hl
        if p > off + iplen:
            out[i]["proto"] = nh
            _setflag(out, i, PF_L4_MALFORMED)
            return NOT_FRAG
    out[i]["proto"] = nh
    l4len = off + iplen - p
    pseudo = np.int64(0)
    for k in range(16):
        pseudo += be16(buf, off + 8 + 2 * k)
    pseudo += (l4len >> 16) + (l4len & 0xFFFF) + nh
    decode_l4(buf, w, p, off + ccap - p, l4len, nh, pseudo, 6, out, i, crctab)
    return NOT_FRAG
