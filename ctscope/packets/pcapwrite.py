"""A tiny pcap writer (and packet builders) for tests and traffic generators.

``PcapWriter(fh, linktype=LINKTYPE_ETHERNET)`` writes a classic microsecond pcap
(``nsec=True`` for the nanosecond magic, ``big=True`` for big-endian headers);
``write(frame, ts_ns, orig_len=None)``.  ``ipv4()``/``ipv6()``/``tcp()``/``udp()``/
``icmp()`` build packets with correct checksums; ``ether()`` wraps an IP packet.
"""
from __future__ import annotations

import ipaddress
import struct

from .checksum import internet_checksum

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101


class PcapWriter:
    def __init__(self, fh, linktype: int = LINKTYPE_ETHERNET, snaplen: int = 262144,
                 nsec: bool = False, big: bool = False):
        self.fh, self.nsec = fh, nsec
        self.e = ">" if big else "<"
        magic = 0xA1B23C4D if nsec else 0xA1B2C3D4
        fh.write(struct.pack(self.e + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))

    def write(self, frame: bytes, ts_ns: int = 0, orig_len: int | None = None) -> None:
        sec, rem = divmod(ts_ns, 1_000_000_000)
        frac = rem if self.nsec else rem // 1000
        orig = len(frame) if orig_len is None else orig_len
        self.fh.write(struct.pack(self.e + "IIII", sec, frac, len(frame), orig) + frame)


def ether(ip: bytes, ethertype: int | None = None, vlans: tuple[int, ...] = ()) -> bytes:
    if ethertype is None:
        ethertype = 0x86DD if ip and ip[0] >> 4 == 6 else 0x0800
    tags = b"".join(struct.pack(">HH", tpid, 1) for tpid in vlans)
    return b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + tags + struct.pack(">H", ethertype) + ip


def _a(addr) -> bytes:
    return ipaddress.ip_address(addr).packed


def ipv4(src, dst, proto: int, payload: bytes, ttl: int = 64, ident: int = 1,
         flags_frag: int = 0, options: bytes = b"", tot_len: int | None = None,
         bad_csum: bool = False) -> bytes:
    ihl = 5 + len(options) // 4
    tl = 4 * ihl + len(payload) if tot_len is None else tot_len
    h = struct.pack(">BBHHHBBH4s4s", 0x40 | ihl, 0, tl, ident, flags_frag, ttl, proto, 0,
                    _a(src), _a(dst)) + options
    c = internet_checksum(h) ^ (0x5555 if bad_csum else 0)
    return h[:10] + struct.pack(">H", c) + h[12:] + payload


def ipv6(src, dst, nh: int, payload: bytes, hlim: int = 64, plen: int | None = None) -> bytes:
    pl = len(payload) if plen is None else plen
    return struct.pack(">IHBB16s16s", 0x60000000, pl, nh, hlim, _a(src), _a(dst)) + payload


def pseudo(src, dst, proto: int, length: int) -> bytes:
    s, d = _a(src), _a(dst)
    if len(s) == 4:     # a length over 16 bits (BIG TCP) is summed as two words
        return s + d + struct.pack(">BBHH", 0, proto, length & 0xFFFF, length >> 16)
    return s + d + struct.pack(">IxxxB", length, proto)


def l4_checksummed(src, dst, proto: int, seg: bytearray, csum_at: int) -> bytes:
    seg[csum_at:csum_at + 2] = b"\0\0"
    c = internet_checksum(pseudo(src, dst, proto, len(seg)) + bytes(seg))
    if proto == 17 and c == 0:
        c = 0xFFFF
    seg[csum_at:csum_at + 2] = struct.pack(">H", c)
    return bytes(seg)


def tcp(src, dst, sport: int, dport: int, seq: int = 0, ack: int = 0, flags: int = 0x02,
        win: int = 65535, options: bytes = b"", payload: bytes = b"") -> bytes:
    options += b"\0" * (-len(options) % 4)       # pad with EOL to a 32-bit boundary
    doff = (20 + len(options)) // 4
    seg = bytearray(struct.pack(">HHIIBBHHH", sport, dport, seq, ack, doff << 4, flags, win, 0, 0)
                    + options + payload)
    return l4_checksummed(src, dst, 6, seg, 16)


def udp(src, dst, sport: int, dport: int, payload: bytes = b"", proto: int = 17) -> bytes:
    seg = bytearray(struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload)
    return l4_checksummed(src, dst, proto, seg, 6)


def icmp(typ: int, code: int, ident: int = 0, seq: int = 0, payload: bytes = b"",
         v6_addrs: tuple | None = None) -> bytes:
    msg = bytearray(struct.pack(">BBHHH", typ, code, 0, ident, seq) + payload)
    if v6_addrs is None:
        msg[2:4] = struct.pack(">H", internet_checksum(bytes(msg)))
        return bytes(msg)
    return l4_checksummed(v6_addrs[0], v6_addrs[1], 58, msg, 2)


class PcapngWriter:
    """Minimal pcapng writer: one section, interfaces, EPB / SPB / raw blocks."""

    def __init__(self, fh, big: bool = False):
        self.fh, self.e = fh, (">" if big else "<")
        self.block(0x0A0D0D0A, struct.pack(self.e + "IHHq", 0x1A2B3C4D, 1, 0, -1))

    def block(self, btype: int, body: bytes) -> None:
        body += b"\0" * (-len(body) % 4)
        n = len(body) + 12
        self.fh.write(struct.pack(self.e + "II", btype, n) + body + struct.pack(self.e + "I", n))

    def _opt(self, code: int, val: bytes) -> bytes:
        return struct.pack(self.e + "HH", code, len(val)) + val + b"\0" * (-len(val) % 4)

    def interface(self, linktype: int = LINKTYPE_ETHERNET, name: str | None = None,
                  tsresol: int | None = None, snaplen: int = 0, tsoffset: int | None = None) -> None:
        opts = b""
        if name is not None:
            opts += self._opt(2, name.encode())
        if tsresol is not None:
            opts += self._opt(9, bytes([tsresol]))
        if tsoffset is not None:
            opts += self._opt(14, struct.pack(self.e + "q", tsoffset))
        if opts:
            opts += self._opt(0, b"")
        self.block(1, struct.pack(self.e + "HHI", linktype, 0, snaplen) + opts)

    def epb(self, iface: int, frame: bytes, ticks: int, orig_len: int | None = None,
            flags: int | None = None) -> None:
        orig = len(frame) if orig_len is None else orig_len
        body = struct.pack(self.e + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), orig)
        body += frame + b"\0" * (-len(frame) % 4)
        if flags is not None:
            body += self._opt(2, struct.pack(self.e + "I", flags)) + self._opt(0, b"")
        self.block(6, body)

    def spb(self, frame: bytes, orig_len: int | None = None) -> None:
        orig = len(frame) if orig_len is None else orig_len
        self.block(3, struct.pack(self.e + "I", orig) + frame)
