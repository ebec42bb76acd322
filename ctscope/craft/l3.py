"""Network-layer and link-layer builders: IPv4, IPv6 (+ extension headers), Ethernet.

``ipv4()``/``ipv6()`` take an ``L4`` (see ``l4.py``), fill in its pseudo-header
checksum and return the L3 packet as bytes; ``eth()`` wraps an L3 packet in an
Ethernet II header.  ``fragment4()``/``fragment6()`` split a built packet.
"""
from __future__ import annotations

import functools
import socket
import struct

from .checksum import finish, inet_checksum, ones_sum, pseudo_sum
from .l4 import L4

ETH_IPV4, ETH_IPV6, ETH_VLAN = 0x0800, 0x86DD, 0x8100
_pack_ip4 = struct.Struct("!BBHHHBBH4s4s").pack
_pack_ip6 = struct.Struct("!IHBB16s16s").pack
HOPOPTS, ROUTING, FRAGMENT, DSTOPTS = 0, 43, 44, 60


@functools.lru_cache(maxsize=65536)
def addr_bytes(addr: str) -> bytes:
    """'10.0.0.1' -> 4 bytes, '2001:db8::1' -> 16 bytes."""
    return socket.inet_pton(socket.AF_INET6 if ":" in addr else socket.AF_INET, addr)


@functools.lru_cache(maxsize=256)
def mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))


def l4_bytes(l4: L4, src: bytes, dst: bytes) -> bytes:
    """The L4 bytes with the pseudo-header checksum filled in (or spoiled on request)."""
    data = l4.data
    off = l4.csum_off
    if off < 0:
        return data
    cover = data if l4.cover is None else data[:l4.cover]
    c = finish(pseudo_sum(src, dst, l4.pseudo_proto, len(data)) + ones_sum(cover))
    if c == 0 and l4.zero_is_ffff:
        c = 0xFFFF
    if l4.bad_csum:
        c ^= 0x5A5A
    return data[:off] + struct.pack("!H", c) + data[off + 2:]


def ip4_options(*opts: bytes) -> bytes:
    """Concatenate raw IPv4 options and pad them with EOL to a multiple of 4 bytes."""
    raw = b"".join(opts)
    return raw + b"\0" * (-len(raw) % 4)


def ip4_opt_record_route(slots: int = 4) -> bytes:
    """A Record Route option (type 7) with ``slots`` empty address slots."""
    return bytes([7, 3 + 4 * slots, 4]) + b"\0" * (4 * slots)


def ipv4(src: str, dst: str, l4: L4, ttl: int = 64, tos: int = 0, ident: int = 0,
         df: bool = False, mf: bool = False, frag_offset: int = 0, options: bytes = b"",
         bad_csum: bool = False, total_length: int | None = None, proto: int | None = None) -> bytes:
    """An IPv4 packet.  ``frag_offset`` in bytes (multiple of 8); ``options`` raw,
    padded here; ``bad_csum`` spoils the header checksum (the kernel's ip_rcv drops it)."""
    s, d = addr_bytes(src), addr_bytes(dst)
    data = l4_bytes(l4, s, d)
    opt = options + b"\0" * (-len(options) % 4)
    hl = 20 + len(opt)
    flags = (0x4000 if df else 0) | (0x2000 if mf else 0) | (frag_offset >> 3)
    tot = hl + len(data) if total_length is None else total_length
    hdr = _pack_ip4(0x40 | hl >> 2, tos, tot, ident & 0xFFFF, flags, ttl,
                    l4.proto if proto is None else proto, 0, s, d) + opt
    c = inet_checksum(hdr) ^ (0x1111 if bad_csum else 0)
    return hdr[:10] + struct.pack("!H", c) + hdr[12:] + data


def ext_options(nh_type: int, options: bytes = b"") -> tuple[int, bytes]:
    """Hop-by-hop (0) or destination options (60) header; ``options`` padded with PadN."""
    pad = -(len(options) + 2) % 8
    if pad == 1:
        options += b"\0"            # Pad1
    elif pad:
        options += bytes([1, pad - 2]) + b"\0" * (pad - 2)  # PadN
    return nh_type, bytes([(len(options) + 2) // 8 - 1]) + options


def ext_hop_by_hop(options: bytes = b"") -> tuple[int, bytes]:
    return ext_options(HOPOPTS, options)


def ext_dest_opts(options: bytes = b"") -> tuple[int, bytes]:
    return ext_options(DSTOPTS, options)


def ext_routing(segments=(), rtype: int = 0, segments_left: int | None = None) -> tuple[int, bytes]:
    """A routing header listing ``segments`` (addresses); type 0 is deprecated and
    dropped by Linux when segments_left > 0, so that defaults to 0."""
    addrs = b"".join(addr_bytes(a) for a in segments)
    left = 0 if segments_left is None else segments_left
    return ROUTING, bytes([len(addrs) // 8, rtype, left]) + b"\0\0\0\0" + addrs


def ext_fragment(offset: int = 0, more: bool = False, ident: int = 0) -> tuple[int, bytes]:
    """A fragment header; ``offset`` in bytes (multiple of 8)."""
    return FRAGMENT, b"\0" + struct.pack("!HI", offset | (1 if more else 0), ident & 0xFFFFFFFF)


def ipv6(src: str, dst: str, l4: L4, hlim: int = 64, tclass: int = 0, flowlabel: int = 0,
         ext=(), payload_length: int | None = None) -> bytes:
    """An IPv6 packet; ``ext`` is a sequence of (type, body) from the ``ext_*`` helpers."""
    s, d = addr_bytes(src), addr_bytes(dst)
    data = l4_bytes(l4, s, d)
    chain = b""
    types = [t for t, _ in ext] + [l4.proto]
    for i, (_t, body) in enumerate(ext):
        chain += bytes([types[i + 1]]) + body
    plen = len(chain) + len(data) if payload_length is None else payload_length
    hdr = _pack_ip6(0x60000000 | (tclass & 0xFF) << 20 | (flowlabel & 0xFFFFF), plen,
                    types[0], hlim, s, d)
    return hdr + chain + data


def fragment4(packet: bytes, size: int) -> list[bytes]:
    """Split an IPv4 packet into fragments carrying ``size`` payload bytes each
    (rounded down to a multiple of 8); options are copied into every fragment."""
    size -= size % 8
    hl = (packet[0] & 15) * 4
    hdr, payload = bytearray(packet[:hl]), packet[hl:]
    base = (struct.unpack_from("!H", packet, 6)[0] & 0x1FFF) * 8
    out = []
    for off in range(0, len(payload), size):
        chunk = payload[off:off + size]
        last = off + size >= len(payload)
        h = bytearray(hdr)
        struct.pack_into("!HHH", h, 2, hl + len(chunk), struct.unpack_from("!H", packet, 4)[0],
                         (h[6] << 8 & 0x4000) | (0 if last else 0x2000) | (base + off) >> 3)
        h[10:12] = b"\0\0"
        h[10:12] = struct.pack("!H", inet_checksum(bytes(h)))
        out.append(bytes(h) + chunk)
    return out


def fragment6(packet: bytes, size: int, ident: int = 0x1234) -> list[bytes]:
    """Split an IPv6 packet without extension headers into fragments of ``size``
    payload bytes (multiple of 8), each with a fragment header."""
    size -= size % 8
    nh, payload = packet[6], packet[40:]
    out = []
    for off in range(0, len(payload), size):
        chunk = payload[off:off + size]
        more = off + size < len(payload)
        fh = bytes([nh]) + b"\0" + struct.pack("!HI", off | more, ident & 0xFFFFFFFF)
        hdr = bytearray(packet[:40])
        struct.pack_into("!H", hdr, 4, 8 + len(chunk))
        hdr[6] = FRAGMENT
        out.append(bytes(hdr) + fh + chunk)
    return out


DEFAULT_SRC_MAC = "02:00:00:00:00:01"
DEFAULT_DST_MAC = "02:00:00:00:00:02"


def eth(l3: bytes, src: str = DEFAULT_SRC_MAC, dst: str = DEFAULT_DST_MAC, vlan: int | None = None,
        ethertype: int | None = None) -> bytes:
    """An Ethernet II frame around ``l3``; the EtherType follows the IP version."""
    et = ethertype if ethertype is not None else (ETH_IPV6 if l3[0] >> 4 == 6 else ETH_IPV4)
    tag = struct.pack("!HH", ETH_VLAN, vlan) if vlan is not None else b""
    return mac_bytes(dst) + mac_bytes(src) + tag + struct.pack("!H", et) + l3
