"""A minimal look into a crafted Ethernet frame: enough to group frames into flows
and to explain why a frame cannot be scored (fragments, TTL).  Not a decoder for
captures (that is ``ctscope.packets``)."""
from __future__ import annotations

import struct
from typing import NamedTuple

ICMP_ERRORS = {1: (3, 4, 5, 11, 12), 58: (1, 2, 3, 4)}
PORT_PROTOS = (6, 17, 132, 136)
_EXT6 = (0, 43, 60)


class Peek(NamedTuple):
    version: int            # 4, 6, or 0 (not IP)
    l3: bytes               # the IP packet, cut to the length its header states
    proto: int
    src: bytes
    dst: bytes
    ttl: int                # TTL / hop limit
    fragment: bool          # IPv4 MF/offset set, or an IPv6 fragment header
    key: tuple | None       # directional flow key (proto, src, dst, a, b)
    inner: tuple | None     # ICMP error: the quoted packet's directional key


def _l4_key(proto: int, src: bytes, dst: bytes, l4: bytes) -> tuple | None:
    if proto in PORT_PROTOS and len(l4) >= 4:
        sp, dp = struct.unpack_from("!HH", l4)
        return (proto, src, dst, sp, dp)
    if proto in (1, 58) and len(l4) >= 8:
        return (proto, src, dst, l4[0], struct.unpack_from("!H", l4, 4)[0])
    if proto == 47:
        return (proto, src, dst, 0, 0)
    return (proto, src, dst, 0, 0)


def _ip(l3: bytes):
    """-> (version, l3, proto, src, dst, ttl, fragment, l4 bytes) or None."""
    if not l3:
        return None
    v = l3[0] >> 4
    if v == 4 and len(l3) >= 20:
        hl = (l3[0] & 15) * 4
        total = struct.unpack_from("!H", l3, 2)[0]
        l3 = l3[:total] if total >= hl else l3
        frag = bool(struct.unpack_from("!H", l3, 6)[0] & 0x3FFF)
        return 4, l3, l3[9], l3[12:16], l3[16:20], l3[8], frag, l3[hl:]
    if v == 6 and len(l3) >= 40:
        l3 = l3[:40 + struct.unpack_from("!H", l3, 4)[0]]
        nh, off, frag = l3[6], 40, False
        for _ in range(8):
            if nh in _EXT6 and off + 2 <= len(l3):
                nh, off = l3[off], off + (l3[off + 1] + 1) * 8
            elif nh == 44 and off + 8 <= len(l3):
                frag = True
                nh, off = l3[off], off + 8
            else:
                break
        return 6, l3, nh, l3[8:24], l3[24:40], l3[7], frag, l3[off:]
    return None


def peek(frame: bytes) -> Peek:
    """Look at an Ethernet frame (EtherType IPv4/IPv6 directly after the MACs)."""
    et = frame[12:14]
    ip = _ip(frame[14:]) if et in (b"\x08\x00", b"\x86\xdd") else None
    if ip is None:
        return Peek(0, b"", 0, b"", b"", 0, False, None, None)
    v, l3, proto, src, dst, ttl, frag, l4 = ip
    key = _l4_key(proto, src, dst, l4) if not frag else (proto, src, dst, 0, 0)
    inner = None
    if not frag and proto in ICMP_ERRORS and l4 and l4[0] in ICMP_ERRORS[proto]:
        q = _ip(l4[8:])
        if q is not None:
            inner = _l4_key(q[2], q[3], q[4], q[7])
    return Peek(v, l3, proto, src, dst, ttl, frag, key, inner)


def reverse(key: tuple) -> tuple:
    """The key of the opposite direction (ICMP echo: request/reply share the id)."""
    proto, src, dst, a, b = key
    if proto in (1, 58):
        return (proto, dst, src, {8: 0, 0: 8, 128: 129, 129: 128}.get(a, a), b)
    return (proto, dst, src, b, a)
