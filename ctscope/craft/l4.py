"""Transport-layer builders: TCP, UDP, UDP-Lite, ICMP, ICMPv6, GRE v0, generic.

Each builder returns an ``L4`` whose checksum field is still zero when the checksum
depends on the IP pseudo header; ``ipv4()``/``ipv6()`` (``l3.py``) fill it in.  ICMPv4
and GRE checksums do not use a pseudo header and are computed here.  ``bad_csum=True``
makes the final checksum wrong on purpose (it is flipped after being computed).
SCTP lives in ``sctp.py``.
"""
from __future__ import annotations

import struct

from .checksum import inet_checksum

TCP, UDP, ICMP, ICMPV6, GRE, SCTP, UDPLITE = 6, 17, 1, 58, 47, 132, 136
TCP_FLAG_BITS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10, "U": 0x20, "E": 0x40, "C": 0x80}

_pack_tcp = struct.Struct("!HHIIBBHHH").pack
_pack_udp = struct.Struct("!HHHH").pack


class L4:
    """An L4 header plus payload, ready to be wrapped by an IP builder.

    ``csum_off``: offset of a pseudo-header checksum to fill (-1: none).
    ``cover``: number of bytes the checksum covers (None: all; UDP-Lite coverage).
    ``zero_is_ffff``: a computed checksum of 0 is sent as 0xFFFF (UDP, UDP-Lite).
    ``pseudo_proto``: protocol number used in the pseudo header (default ``proto``).
    """

    __slots__ = ("proto", "data", "csum_off", "bad_csum", "cover", "zero_is_ffff", "pseudo_proto")

    def __init__(self, proto: int, data: bytes, csum_off: int = -1, bad_csum: bool = False,
                 cover: int | None = None, zero_is_ffff: bool = False, pseudo_proto: int | None = None):
        self.proto = proto
        self.pseudo_proto = proto if pseudo_proto is None else pseudo_proto
        self.data = data
        self.csum_off = csum_off
        self.bad_csum = bad_csum
        self.cover = cover
        self.zero_is_ffff = zero_is_ffff

    def __len__(self) -> int:
        return len(self.data)


def tcp_flags(flags) -> int:
    """'SA', 'FA', 'PA', 'R' ... (letters FSRPAUEC) or an int -> the flag byte."""
    if isinstance(flags, int):
        return flags
    v = 0
    for ch in flags.upper():
        v |= TCP_FLAG_BITS[ch]
    return v


_OPT_CACHE: dict = {}


def tcp_options(opts) -> bytes:
    """Encode options: ("mss", 1460), ("wscale", 7), ("sackok",), ("ts", val, ecr),
    ("sack", [(left, right), ...]), ("nop",), ("eol",), ("raw", b"...").
    The result is padded with NOPs (and a final EOL) to a multiple of 4 bytes."""
    if not opts:
        return b""
    try:
        key = tuple(tuple(o) if not isinstance(o, tuple) else o for o in opts)
        hit = _OPT_CACHE.get(key)
        if hit is not None:
            return hit
    except TypeError:  # unhashable (e.g. SACK blocks as lists)
        key = None
    out = bytearray()
    for o in opts:
        kind = o[0]
        if kind == "mss":
            out += struct.pack("!BBH", 2, 4, o[1])
        elif kind == "wscale":
            out += struct.pack("!BBB", 3, 3, o[1])
        elif kind == "sackok":
            out += b"\x04\x02"
        elif kind == "ts":
            out += struct.pack("!BBII", 8, 10, o[1] & 0xFFFFFFFF, o[2] & 0xFFFFFFFF)
        elif kind == "sack":
            out += struct.pack("!BB", 5, 2 + 8 * len(o[1]))
            for left, right in o[1]:
                out += struct.pack("!II", left & 0xFFFFFFFF, right & 0xFFFFFFFF)
        elif kind == "nop":
            out += b"\x01"
        elif kind == "eol":
            out += b"\x00"
        elif kind == "raw":
            out += bytes(o[1])
        else:
            raise ValueError(f"unknown TCP option {kind!r}")
    while len(out) % 4:
        out += b"\x01" if len(out) % 4 != 3 else b"\x00"
    res = bytes(out)
    if key is not None and len(_OPT_CACHE) < 4096:
        _OPT_CACHE[key] = res
    return res


def tcp(sport: int, dport: int, flags="S", seq: int = 0, ack: int = 0, win: int = 65535,
        opts=(), payload: bytes = b"", urp: int = 0, bad_csum: bool = False,
        doff: int | None = None) -> L4:
    """A TCP segment.  ``doff`` overrides the data-offset field (in 32-bit words)."""
    ob = tcp_options(opts)
    off = doff if doff is not None else 5 + len(ob) // 4
    hdr = _pack_tcp(sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, off << 4,
                    tcp_flags(flags), win, 0, urp)
    return L4(TCP, hdr + ob + payload, 16, bad_csum)


def udp(sport: int, dport: int, payload: bytes = b"", bad_csum: bool = False,
        no_csum: bool = False, length: int | None = None) -> L4:
    """A UDP datagram.  ``no_csum``: checksum field 0 (IPv4 only: "no checksum");
    ``length`` overrides the length field (malformed datagrams)."""
    n = 8 + len(payload)
    data = _pack_udp(sport, dport, n if length is None else length, 0) + payload
    return L4(UDP, data, -1 if no_csum else 6, bad_csum, zero_is_ffff=True)


def udplite(sport: int, dport: int, payload: bytes = b"", coverage: int = 0,
            bad_csum: bool = False, kernel_pseudo: bool = False) -> L4:
    """A UDP-Lite datagram; ``coverage`` 0 means the whole datagram (RFC 3828).

    Measured on Linux 6.18: with ``nf_conntrack_checksum=1`` conntrack verifies the
    UDP-Lite checksum with protocol 17 (UDP) in the pseudo header, so an RFC-correct
    datagram is INVALID there.  ``kernel_pseudo=True`` computes it the kernel's way
    (pseudo-header protocol 17), which conntrack accepts."""
    n = 8 + len(payload)
    data = _pack_udp(sport, dport, coverage, 0) + payload
    return L4(UDPLITE, data, 6, bad_csum, cover=coverage or n, zero_is_ffff=True,
              pseudo_proto=UDP if kernel_pseudo else None)


def _with_csum(data: bytes, off: int, bad: bool) -> bytes:
    c = inet_checksum(data)
    if bad:
        c ^= 0x5A5A
    return data[:off] + struct.pack("!H", c) + data[off + 2:]


def icmp(type_: int, code: int = 0, rest: bytes = b"\0\0\0\0", payload: bytes = b"",
         bad_csum: bool = False) -> L4:
    """A raw ICMPv4 message: type, code, 4 bytes of ``rest``, payload."""
    data = struct.pack("!BBH", type_, code, 0) + rest + payload
    return L4(ICMP, _with_csum(data, 2, bad_csum))


def icmp_echo(ident: int, seq: int, payload: bytes = b"", reply: bool = False, **kw) -> L4:
    """ICMP echo request (8) or reply (0)."""
    return icmp(0 if reply else 8, 0, struct.pack("!HH", ident, seq), payload, **kw)


def icmp_error(type_: int, code: int, quoted: bytes, rest: int = 0, limit: int = 548, **kw) -> L4:
    """An ICMP error (3 unreachable, 11 time exceeded, 12 parameter problem, 4, 5)
    quoting ``quoted`` (an L3 packet), cut to ``limit`` bytes like the kernel does."""
    return icmp(type_, code, struct.pack("!I", rest), quoted[:limit], **kw)


def icmp6(type_: int, code: int = 0, body: bytes = b"\0\0\0\0", bad_csum: bool = False) -> L4:
    """A raw ICMPv6 message (checksum over the IPv6 pseudo header)."""
    return L4(ICMPV6, struct.pack("!BBH", type_, code, 0) + body, 2, bad_csum)


def icmp6_echo(ident: int, seq: int, payload: bytes = b"", reply: bool = False, **kw) -> L4:
    """ICMPv6 echo request (128) or reply (129)."""
    return icmp6(129 if reply else 128, 0, struct.pack("!HH", ident, seq) + payload, **kw)


def icmp6_error(type_: int, code: int, quoted: bytes, param: int = 0, limit: int = 1232, **kw) -> L4:
    """ICMPv6 error (1 unreachable, 2 packet too big, 3 time exceeded, 4 parameter problem)."""
    return icmp6(type_, code, struct.pack("!I", param) + quoted[:limit], **kw)


def _lladdr_opt(kind: int, mac: str | None) -> bytes:
    if mac is None:
        return b""
    return bytes([kind, 1]) + bytes.fromhex(mac.replace(":", ""))


def nd_router_solicit(src_mac: str | None = None) -> L4:
    return icmp6(133, 0, b"\0\0\0\0" + _lladdr_opt(1, src_mac))


def nd_router_advert(hop_limit: int = 64, lifetime: int = 1800, src_mac: str | None = None) -> L4:
    return icmp6(134, 0, struct.pack("!BBHII", hop_limit, 0, lifetime, 0, 0) + _lladdr_opt(1, src_mac))


def nd_neighbor_solicit(target: str, src_mac: str | None = None) -> L4:
    from .l3 import addr_bytes
    return icmp6(135, 0, b"\0\0\0\0" + addr_bytes(target) + _lladdr_opt(1, src_mac))


def nd_neighbor_advert(target: str, flags: int = 0x60, dst_mac: str | None = None) -> L4:
    """``flags``: R=0x80, S=0x40, O=0x20 (in the first byte)."""
    from .l3 import addr_bytes
    return icmp6(136, 0, bytes([flags, 0, 0, 0]) + addr_bytes(target) + _lladdr_opt(2, dst_mac))


def nd_redirect(target: str, dest: str) -> L4:
    from .l3 import addr_bytes
    return icmp6(137, 0, b"\0\0\0\0" + addr_bytes(target) + addr_bytes(dest))


def gre(payload: bytes = b"", proto: int = 0x0800, key: int | None = None, seq: int | None = None,
        checksum: bool = False, bad_csum: bool = False) -> L4:
    """GRE version 0 (RFC 2784/2890) with optional checksum, key and sequence fields."""
    flags = (0x8000 if checksum else 0) | (0x2000 if key is not None else 0) \
        | (0x1000 if seq is not None else 0)
    hdr = struct.pack("!HH", flags, proto)
    if checksum:
        hdr += b"\0\0\0\0"
    if key is not None:
        hdr += struct.pack("!I", key)
    if seq is not None:
        hdr += struct.pack("!I", seq)
    data = hdr + payload
    if checksum:
        data = _with_csum(data, 4, bad_csum)
    return L4(GRE, data)


def generic(proto: int, payload: bytes = b"") -> L4:
    """Any other protocol (ESP 50, OSPF 89, 253 ...): payload only, no checksum."""
    return L4(proto, payload)
