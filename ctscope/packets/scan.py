"""Record scanners for pcap and pcapng, and the link-layer decoder (numba hot path).

Why hand-written: no maintained library decodes pcap/pcapng straight into numpy
structured arrays; dpkt/scapy build one Python object per packet (~100x slower) and
libpcap bindings still hand each packet to Python.  Here the file is read in large
chunks into a uint8 buffer and one compiled loop walks the records, decodes every
frame and writes ``PKT_DTYPE`` records, touching Python once per chunk.

A scanner stops when the output batch is full, when the fragment side table is full,
when the next record is not completely in the buffer (the caller reads more), or, for
pcapng, at a block Python must handle (SHB, IDB).  Errors are reported through the
state vector ``st`` (code, byte position, value); Python turns them into InputError.
"""
from __future__ import annotations

import numpy as np
from ..jit import hot

from .decode import NOT_FRAG, decode_l3
from .wire import be16, be32
from .record import PF_EGRESS, SKIP_LOOPBACK, SKIP_NOT_IP, SKIP_OTHERHOST, SKIP_TRUNCATED

# --- state vector ----------------------------------------------------------
ST_N = 0          # frames seen so far (record n of the last frame)
ST_PREV_TS = 1    # last (clamped) timestamp, ns
ST_BACK = 2       # timestamps that went backwards (clamped)
ST_ERR = 3        # error code (ERR_*), 0 = none
ST_ERRPOS = 4     # buffer position of the offending record
ST_ERRVAL = 5     # value for the message (link type, length ...)
ST_NFR = 6        # rows used in the fragment table
ST_SNAPCUT = 7    # frames cut by the snaplen (caplen < original length)
ST_IFBASE = 8     # pcapng: ifindex of interface 0 of the current section, minus 1
ST_HAVE_TS = 9    # 1 once a timestamp was seen
N_ST = 10

ERR_LINKTYPE = 1
ERR_CAPLEN = 2
ERR_BLOCKLEN = 3
ERR_IFACE = 4
ERR_TRAILER = 5
ERR_NO_IFACE = 6

MAX_RECORD = 1 << 26        # 64 MiB: larger record lengths mean a corrupt file

SUPPORTED_LINKTYPES = (0, 1, 12, 14, 101, 108, 113, 228, 229, 276)

# fragment side table columns
FR_REC, FR_L3OFF, FR_CAP, FR_LEN, FR_FHOFF, FR_VER = 0, 1, 2, 3, 4, 5
FR_COLS = 6


@hot
def rd32(b, o, big):
    if big:
        return be32(b, o)
    return np.int64(b[o]) | (np.int64(b[o + 1]) << 8) | (np.int64(b[o + 2]) << 16) | (np.int64(b[o + 3]) << 24)


@hot
def rd16(b, o, big):
    if big:
        return be16(b, o)
    return np.int64(b[o]) | (np.int64(b[o + 1]) << 8)


@hot
def _ethertype_ver(et):
    if et == 0x0800:
        return 4
    if et == 0x86DD:
        return 6
    return -1


@hot
def _vlan(buf, off, p, et, caplen):
    """Skip 802.1Q / 802.1ad / legacy QinQ tags.  Returns (l3 offset, ethertype); -1 if cut."""
    while et == 0x8100 or et == 0x88A8 or et == 0x9100:
        if p + 4 > caplen:
            return -1, et
        et = be16(buf, off + p + 2)
        p += 4
    return p, et


@hot
def decode_frame(buf, w, off, caplen, wirelen, lt, out, i, crctab):
    """Decode one captured frame of link type ``lt``.  Returns (l3 offset in buf or -1,
    fragment code from decode_l3, IP version) or (-2, 0, 0) for an unsupported link type."""
    ver = 0
    if lt == 1:                                   # Ethernet
        if caplen < 14:
            out[i]["skip"] = SKIP_TRUNCATED if wirelen >= 14 else SKIP_NOT_IP
            return -1, NOT_FRAG, 0
        p, et = _vlan(buf, off, 14, be16(buf, off + 12), caplen)
        if p < 0:
            out[i]["skip"] = SKIP_TRUNCATED
            return -1, NOT_FRAG, 0
        ver = _ethertype_ver(et)
    elif lt == 113 or lt == 276:                  # Linux cooked v1 / v2
        hl = 16 if lt == 113 else 20
        if caplen < hl:
            out[i]["skip"] = SKIP_TRUNCATED if wirelen >= hl else SKIP_NOT_IP
            return -1, NOT_FRAG, 0
        if lt == 113:
            pkttype = be16(buf, off)
            hatype = be16(buf, off + 2)
            et = be16(buf, off + 14)
        else:
            pkttype = np.int64(buf[off + 10])
            hatype = be16(buf, off + 8)
            et = be16(buf, off)
            out[i]["ifindex"] = be32(buf, off + 4) & 0xFFFF
        if pkttype == 4:                          # PACKET_OUTGOING
            out[i]["pflags"] = out[i]["pflags"] | PF_EGRESS
        p, et = _vlan(buf, off, hl, et, caplen)
        if p < 0:
            out[i]["skip"] = SKIP_TRUNCATED
            return -1, NOT_FRAG, 0
        ver = _ethertype_ver(et)
        if pkttype == 3 and ver > 0:              # PACKET_OTHERHOST: ip_rcv_core() drops it
            out[i]["skip"] = SKIP_OTHERHOST
            return -1, NOT_FRAG, 0
        if hatype == 772 and pkttype != 4 and ver > 0:
            # ARPHRD_LOOPBACK, incoming: the skb still carries the ct attached at
            # LOCAL_OUT, nf_conntrack_in() does nothing (nf_conntrack_core.c)
            # (decoded for the record only; PF_EGRESS for the duration lifts the
            # non-loopback-device address checks of ip6_rcv_core())
            out[i]["pflags"] = out[i]["pflags"] | PF_EGRESS
            decode_l3(buf, w, off + p, caplen - p, wirelen - p, ver, out, i, crctab)
            out[i]["pflags"] = out[i]["pflags"] & ~np.uint16(PF_EGRESS)
            out[i]["skip"] = SKIP_LOOPBACK
            return -1, NOT_FRAG, 0
    elif lt == 101 or lt == 12 or lt == 14:       # raw IP, version from the header
        p = 0
        ver = 0
    elif lt == 228:
        p = 0
        ver = 4
    elif lt == 229:
        p = 0
        ver = 6
    elif lt == 0 or lt == 108:                    # BSD loopback: AF in host / network order
        if caplen < 4:
            out[i]["skip"] = SKIP_TRUNCATED if wirelen >= 4 else SKIP_NOT_IP
            return -1, NOT_FRAG, 0
        af = be32(buf, off)
        if lt == 0 and af > 0xFFFF:
            af = rd32(buf, off, False)
        p = 4
        if af == 2:
            ver = 4
        elif af == 10 or af == 24 or af == 28 or af == 30:
            ver = 6
        else:
            ver = -1
    else:
        return -2, NOT_FRAG, 0
    if ver < 0:
        out[i]["skip"] = SKIP_NOT_IP
        return -1, NOT_FRAG, 0
    fr = decode_l3(buf, w, off + p, caplen - p, wirelen - p, ver, out, i, crctab)
    return off + p, fr, np.int64(out[i]["l3"])


@hot
def _emit(buf, w, off, caplen, wirelen, ts, lt, out, k, fr, st, crctab):
    """Common per-frame work: numbering, timestamp clamp, decode, fragment table."""
    st[ST_N] += 1
    out[k]["n"] = st[ST_N]
    if st[ST_HAVE_TS] and ts < st[ST_PREV_TS]:
        st[ST_BACK] += 1
        ts = st[ST_PREV_TS]
    st[ST_PREV_TS] = ts
    st[ST_HAVE_TS] = 1
    out[k]["ts"] = ts
    if caplen < wirelen:
        st[ST_SNAPCUT] += 1
    l3off, frag, ver = decode_frame(buf, w, off, caplen, wirelen, lt, out, k, crctab)
    if l3off == -2:
        return False
    if frag != NOT_FRAG:
        r = st[ST_NFR]
        fr[r, FR_REC] = k
        fr[r, FR_L3OFF] = l3off
        fr[r, FR_LEN] = out[k]["iplen"]
        fr[r, FR_CAP] = min(np.int64(out[k]["iplen"]), off + caplen - l3off)
        fr[r, FR_FHOFF] = frag
        fr[r, FR_VER] = ver
        st[ST_NFR] = r + 1
    return True


@hot
def pcap_scan(buf, pos, end, big, nsec, lt, out, k, fr, st, crctab):
    """Walk classic pcap records in ``buf[pos:end]``.  Returns (pos, k)."""
    nk = out.shape[0]
    nfr = fr.shape[0]
    w = buf[:(len(buf) >> 3) << 3].view(np.uint64)
    mult = 1 if nsec else 1000
    while k < nk and st[ST_NFR] < nfr:
        if end - pos < 16:
            break
        incl = rd32(buf, pos + 8, big)
        orig = rd32(buf, pos + 12, big)
        if incl > MAX_RECORD:
            st[ST_ERR] = ERR_CAPLEN
            st[ST_ERRPOS] = pos
            st[ST_ERRVAL] = incl
            break
        if end - pos - 16 < incl:
            break
        ts = rd32(buf, pos, big) * 1_000_000_000 + rd32(buf, pos + 4, big) * mult
        if not _emit(buf, w, pos + 16, incl, max(orig, incl), ts, lt, out, k, fr, st, crctab):
            st[ST_N] -= 1
            st[ST_ERR] = ERR_LINKTYPE
            st[ST_ERRPOS] = pos
            st[ST_ERRVAL] = lt
            break
        k += 1
        pos += 16 + incl
    return pos, k


@hot
def _ts_ns(ticks, mode, param, offset_s):
    """pcapng timestamp units -> ns.  mode 0: ticks * param (10^-n, n <= 9);
    1: ticks // param (10^-n, n > 9); 2: binary 2^-param."""
    if mode == 0:
        ns = ticks * param
    elif mode == 1:
        ns = ticks // param
    else:
        mask = (np.int64(1) << param) - 1
        frac = ticks & mask
        if param > 30:                 # keep frac * 10^9 inside 63 bits
            ns = (ticks >> param) * 1_000_000_000 + (((frac >> (param - 30)) * 1_000_000_000) >> 30)
        else:
            ns = (ticks >> param) * 1_000_000_000 + ((frac * 1_000_000_000) >> param)
    return ns + offset_s * 1_000_000_000


@hot
def _epb_flags(buf, o, end, big):
    """Walk EPB options for epb_flags (code 2); returns the flags word or 0."""
    while o + 4 <= end:
        code = rd16(buf, o, big)
        ln = rd16(buf, o + 2, big)
        if code == 0:
            break
        if code == 2 and ln == 4 and o + 8 <= end:
            return rd32(buf, o + 4, big)
        o += 4 + ((ln + 3) & ~3)
    return 0


@hot
def pcapng_scan(buf, pos, end, big, if_lt, if_snap, if_mode, if_param, if_off, nif,
                out, k, fr, st, crctab):
    """Walk pcapng blocks.  Returns (pos, k, stop): stop 1 = a block for Python (SHB,
    IDB) starts at pos; 0 = buffer exhausted / batch or fragment table full / error."""
    nk = out.shape[0]
    nfr = fr.shape[0]
    w = buf[:(len(buf) >> 3) << 3].view(np.uint64)
    while k < nk and st[ST_NFR] < nfr:
        if end - pos < 8:
            return pos, k, 0
        btype = rd32(buf, pos, big)
        if btype == 0x0A0D0D0A or btype == 1:
            return pos, k, 1
        blen = rd32(buf, pos + 4, big)
        if blen < 12 or blen % 4 != 0 or blen > MAX_RECORD:
            st[ST_ERR] = ERR_BLOCKLEN
            st[ST_ERRPOS] = pos
            st[ST_ERRVAL] = blen
            return pos, k, 0
        if end - pos < blen:
            return pos, k, 0
        if rd32(buf, pos + blen - 4, big) != blen:
            st[ST_ERR] = ERR_TRAILER
            st[ST_ERRPOS] = pos
            st[ST_ERRVAL] = blen
            return pos, k, 0
        if btype == 6 or btype == 2 or btype == 3:
            if blen < (16 if btype == 3 else 32):
                st[ST_ERR] = ERR_BLOCKLEN
                st[ST_ERRPOS] = pos
                st[ST_ERRVAL] = blen
                return pos, k, 0
            egress = False
            if btype == 3:                          # Simple Packet Block: interface 0
                if nif == 0:
                    st[ST_ERR] = ERR_NO_IFACE
                    st[ST_ERRPOS] = pos
                    return pos, k, 0
                iface = 0
                orig = rd32(buf, pos + 8, big)
                incl = min(orig, blen - 16)
                if if_snap[0] > 0:
                    incl = min(incl, if_snap[0])
                data = pos + 12
                ts = st[ST_PREV_TS]                 # an SPB has no timestamp: previous one
            else:
                if btype == 6:
                    iface = rd32(buf, pos + 8, big)
                    hdr = 28
                else:                               # obsolete Packet Block
                    iface = rd16(buf, pos + 8, big)
                    hdr = 28
                tsh = rd32(buf, pos + 12, big)
                tsl = rd32(buf, pos + 16, big)
                incl = rd32(buf, pos + 20, big)
                orig = rd32(buf, pos + 24, big)
                data = pos + hdr
                if iface >= nif:
                    st[ST_ERR] = ERR_IFACE
                    st[ST_ERRPOS] = pos
                    st[ST_ERRVAL] = iface
                    return pos, k, 0
                if hdr + incl + 4 > blen:
                    st[ST_ERR] = ERR_CAPLEN
                    st[ST_ERRPOS] = pos
                    st[ST_ERRVAL] = incl
                    return pos, k, 0
                ts = _ts_ns((tsh << 32) | tsl, if_mode[iface], if_param[iface], if_off[iface])
                if btype == 6:
                    flags = _epb_flags(buf, data + ((incl + 3) & ~3), pos + blen - 4, big)
                    egress = (flags & 3) == 2
            if egress:                              # before decoding: egress copies skip
                out[k]["pflags"] = out[k]["pflags"] | PF_EGRESS   # the ip6_rcv_core() checks
            if not _emit(buf, w, data, incl, max(orig, incl), ts, if_lt[iface], out, k, fr, st, crctab):
                st[ST_N] -= 1
                st[ST_ERR] = ERR_LINKTYPE
                st[ST_ERRPOS] = pos
                st[ST_ERRVAL] = if_lt[iface]
                return pos, k, 0
            if out[k]["ifindex"] == 0:
                out[k]["ifindex"] = st[ST_IFBASE] + iface + 1
            k += 1
        pos += blen
    return pos, k, 0
