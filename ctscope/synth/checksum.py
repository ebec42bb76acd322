"""Vectorised Internet checksums (RFC 1071) over many frames at once.

The ones' complement sum of a byte string equals the ordinary sum of its big-endian
16-bit words folded into 16 bits, so a checksum can be assembled from parts: header
bytes (a byte matrix), the pseudo-header (from the address words) and the filler
tail.  A byte at position ``p`` of a segment starting at ``s`` weighs 256 if
``p - s`` is even, 1 otherwise; ``Pool`` answers the even/odd position sums of any
stretch of the filler in O(1) from prefix sums.
"""
from __future__ import annotations

import numpy as np

U16 = np.uint64(0xFFFF)


def fold(x: np.ndarray) -> np.ndarray:
    """Fold a (uint64) sum of 16-bit words into 16 bits (end-around carry)."""
    x = np.asarray(x, dtype=np.uint64)
    for _ in range(4):
        x = (x & U16) + (x >> np.uint64(16))
    return x


def finish(total: np.ndarray) -> np.ndarray:
    """Checksum field value for a word sum that excludes the field itself."""
    return (~fold(total) & U16).astype(np.uint16)


def words64(v: np.ndarray) -> np.ndarray:
    """Sum of the four 16-bit words of 64-bit values (address halves)."""
    v = np.asarray(v, dtype=np.uint64)
    return ((v & U16) + ((v >> np.uint64(16)) & U16) + ((v >> np.uint64(32)) & U16)
            + (v >> np.uint64(48)))


def byte_words(mat: np.ndarray) -> np.ndarray:
    """Per row, the sum of the big-endian words of a (n, k) byte matrix (odd k: zero-padded)."""
    n, k = mat.shape
    if k % 2:
        mat = np.concatenate([mat, np.zeros((n, 1), dtype=np.uint8)], axis=1)
    else:
        mat = np.ascontiguousarray(mat)
    return mat.view(">u2").sum(axis=1, dtype=np.uint64)


class Pool:
    """A deterministic filler byte string, repeated to cover any file position."""

    def __init__(self, seed: int, size: int = 1 << 20):
        assert size % 2 == 0
        rng = np.random.default_rng([seed, 0x5EED])
        self.bytes = rng.integers(0, 256, size, dtype=np.uint8)
        self.size = size
        even = self.bytes.astype(np.uint64)
        even[1::2] = 0
        odd = self.bytes.astype(np.uint64) - even
        self._even = np.concatenate([[0], np.cumsum(even)]).astype(np.uint64)
        self._odd = np.concatenate([[0], np.cumsum(odd)]).astype(np.uint64)

    def fill(self, out: np.ndarray, start: int) -> None:
        """``out[i] = pool[(start + i) % size]``: the filler at file positions start..."""
        pos, i, n = start % self.size, 0, len(out)
        while i < n:
            take = min(self.size - pos, n - i)
            out[i:i + take] = self.bytes[pos:pos + take]
            i += take
            pos = 0

    def _upto(self, table: np.ndarray, x: np.ndarray) -> np.ndarray:
        x = x.astype(np.uint64)
        size = np.uint64(self.size)
        return (x // size) * table[-1] + table[(x % size).astype(np.int64)]

    def weighted(self, a: np.ndarray, b: np.ndarray, seg_start: np.ndarray) -> np.ndarray:
        """Word-sum contribution of file bytes [a, b) to a segment starting at ``seg_start``."""
        ev = self._upto(self._even, b) - self._upto(self._even, a)
        od = self._upto(self._odd, b) - self._upto(self._odd, a)
        even_start = (seg_start % 2) == 0
        return np.where(even_start, ev * np.uint64(256) + od, od * np.uint64(256) + ev)
