"""Checksums: the Internet checksum (RFC 1071) and CRC32c (SCTP, RFC 9260).

The Internet checksum uses one arithmetic fact to stay fast in pure Python: the
one's-complement sum of 16-bit big-endian words is congruent to the whole byte
string read as one big integer modulo 0xFFFF (because 2**16 == 1 mod 0xFFFF), so
``int.from_bytes(data) % 0xFFFF`` replaces a Python loop over the words.
"""
from __future__ import annotations

import struct


def ones_sum(data: bytes) -> int:
    """One's-complement sum of ``data`` as 16-bit words, as a residue mod 0xFFFF."""
    if len(data) & 1:
        data = data + b"\0"
    return int.from_bytes(data, "big") % 0xFFFF


def finish(residue: int) -> int:
    """Turn a summed residue (mod 0xFFFF) into the checksum field value."""
    residue %= 0xFFFF
    return 0xFFFF - residue if residue else 0


def inet_checksum(data: bytes, initial: int = 0) -> int:
    """RFC 1071 checksum of ``data`` plus an already summed residue ``initial``.

    An all-zero sum gives 0xFFFF -> field 0x0000; both encodings are accepted by
    receivers (UDP callers must map a final 0 to 0xFFFF themselves).
    """
    return finish(initial + ones_sum(data))


def pseudo_sum(src: bytes, dst: bytes, proto: int, length: int) -> int:
    """Residue of the IPv4 or IPv6 pseudo header for an L4 checksum."""
    if len(src) == 4:
        return (int.from_bytes(src + dst, "big") + proto + length) % 0xFFFF
    return (int.from_bytes(src + dst, "big") + (length >> 16) + (length & 0xFFFF) + proto) % 0xFFFF


def _crc32c_table() -> list[int]:
    poly = 0x82F63B78  # Castagnoli, reflected
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC32c (init and final xor 0xFFFFFFFF); crc32c(b"123456789") == 0xE3069283."""
    crc = 0xFFFFFFFF
    table = _CRC32C
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def sctp_checksum_field(packet: bytes) -> bytes:
    """The 4 checksum bytes of an SCTP packet whose checksum field is zero.

    The kernel stores ``cpu_to_le32(crc)``, i.e. the CRC in little-endian order.
    """
    return struct.pack("<I", crc32c(packet))
