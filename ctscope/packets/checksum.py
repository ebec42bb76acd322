"""Internet checksum (RFC 1071) and CRC32c (SCTP), numba-compiled over uint8 buffers.

Both run on the decode hot path, once per L4 segment, so they are compiled (``jit.hot``) over numpy
arrays.  The one's-complement sum is accumulated in 64 bits and folded once at the
end; the loop body is branch-free so LLVM can vectorise it.
"""
from __future__ import annotations

import numpy as np

from ..jit import hot, hot_inline


@hot_inline
def _byte_term(buf, i, off):
    """Contribution of one byte to a big-endian 16-bit word sum starting at ``off``."""
    b = np.int64(buf[i])
    return b << 8 if ((i - off) & 1) == 0 else b


@hot
def sum16(buf, w, off, n):
    """Sum of the big-endian 16-bit words of ``buf[off:off+n]`` (odd tail padded), unfolded.

    The aligned middle is summed as native 64-bit words (two 32-bit lanes, vectorisable)
    and byte-swapped back: the one's-complement sum is byte-order independent
    (RFC 1071 section 2(B)).  ``w`` is ``words(buf)``, made once by the caller (a view
    costs ~40 ns, more than summing a small segment).
    """
    s = np.int64(0)
    i = off
    end = off + n
    while i < end and (i & 7) != 0:
        s += _byte_term(buf, i, off)
        i += 1
    nw = (end - i) >> 3
    if nw > 0:
        lo = np.uint64(0)
        hi = np.uint64(0)
        m32 = np.uint64(0xFFFFFFFF)
        for k in range(i >> 3, (i >> 3) + nw):
            x = w[k]
            lo += x & m32
            hi += x >> np.uint64(32)
        t = lo + hi
        while t >> np.uint64(16):
            t = (t & np.uint64(0xFFFF)) + (t >> np.uint64(16))
        t16 = np.int64(t)
        if ((i - off) & 1) == 0:
            t16 = ((t16 & 0xFF) << 8) | (t16 >> 8)
        s += t16
        i += nw << 3
    while i < end:
        s += _byte_term(buf, i, off)
        i += 1
    return s


def words(buf: np.ndarray) -> np.ndarray:
    """The uint64 view ``sum16`` needs (trailing bytes past a multiple of 8 are left out)."""
    return buf[:(len(buf) >> 3) << 3].view(np.uint64)


@hot_inline
def fold(s):
    """Fold a 64-bit partial sum to 16 bits (end-around carry)."""
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


@hot_inline
def ok(s):
    """A received segment (checksum field included) verifies when the sum folds to 0xffff."""
    return fold(s) == 0xFFFF


def _crc32c_table() -> np.ndarray:
    poly = 0x82F63B78  # Castagnoli, reflected
    t = np.zeros(256, dtype=np.uint32)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        t[i] = c
    return t


CRC32C_TABLE = _crc32c_table()


@hot
def sctp_crc_ok(buf, off, n, table):
    """SCTP common-header checksum check as sctp_error() does it
    (net/netfilter/nf_conntrack_proto_sctp.c: sctp_error() -> sctp_compute_cksum():
    CRC32c over the packet with the checksum field taken as zero, stored little-endian)."""
    crc = np.uint32(0xFFFFFFFF)
    for k in range(n):
        b = buf[off + k]
        if 8 <= k < 12:
            b = 0
        crc = table[(crc ^ np.uint32(b)) & np.uint32(0xFF)] ^ (crc >> np.uint32(8))
    crc = crc ^ np.uint32(0xFFFFFFFF)
    got = (np.uint32(buf[off + 8]) | (np.uint32(buf[off + 9]) << np.uint32(8))
           | (np.uint32(buf[off + 10]) << np.uint32(16)) | (np.uint32(buf[off + 11]) << np.uint32(24)))
    return crc == got


def internet_checksum(data: bytes) -> int:
    """Plain-Python RFC 1071 checksum (used by the pcap writer and tests)."""
    if len(data) % 2:
        data += b"\0"
    s = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def crc32c(data: bytes) -> int:
    """Plain-Python CRC32c (tests and writers)."""
    crc = 0xFFFFFFFF
    for b in data:
        crc = int(CRC32C_TABLE[(crc ^ b) & 0xFF]) ^ (crc >> 8)
    return (~crc) & 0xFFFFFFFF
