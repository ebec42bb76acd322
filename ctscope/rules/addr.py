"""Address sets: IPv4/IPv6 addresses, CIDRs and ranges as sorted, merged 128-bit
intervals, with vectorised membership tests over the packet record's ``hi``/``lo``
words.

Keys are built as 16-byte big-endian strings (numpy ``S16``) so that numpy's
lexicographic byte comparison is the numeric order of the 128-bit value; membership
is one ``searchsorted`` over the interval starts.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import numpy as np

_MASK64 = (1 << 64) - 1


def parse_addr(text: str, family: int | None = None) -> tuple[int, int, int]:
    """Parse an address, ``addr/prefix``, ``addr/dotted-mask`` or ``a-b`` range.

    Returns ``(family, first, last)`` with 128-bit integers (IPv4 in the low 32
    bits).  Raises ``ValueError`` on anything else.
    """
    text = text.strip()
    if "-" in text and "/" not in text:
        a, b = text.split("-", 1)
        fa, first, _ = parse_addr(a, family)
        fb, _, last = parse_addr(b, family)
        if fa != fb or last < first:
            raise ValueError(f"bad address range {text!r}")
        return fa, first, last
    if "/" in text:
        addr, plen = text.split("/", 1)
        if "." in plen and ":" not in addr:
            net = ipaddress.IPv4Network(f"{addr}/{plen}", strict=False)
        else:
            net = ipaddress.ip_network(f"{addr}/{int(plen)}", strict=False)
    else:
        ip = ipaddress.ip_address(text)
        net = ipaddress.ip_network(ip)
    fam = net.version
    if family is not None and fam != family:
        raise ValueError(f"{text!r} is not an IPv{family} address")
    return fam, int(net.network_address), int(net.broadcast_address)


def _keys_from_ints(values: list[int]) -> np.ndarray:
    words = np.array([[(v >> 64) & _MASK64, v & _MASK64] for v in values], dtype=">u8")
    return words.reshape(-1, 2).view("S16").ravel()


def keys_from_words(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """16-byte big-endian keys from the record's ``*_hi``/``*_lo`` columns."""
    words = np.empty((len(hi), 2), dtype=">u8")
    words[:, 0] = hi
    words[:, 1] = lo
    return words.view("S16").ravel()


@dataclass
class AddrSet:
    """A set of addresses of one family: merged inclusive intervals."""

    family: int
    intervals: list[tuple[int, int]] = field(default_factory=list)
    _starts: np.ndarray | None = field(default=None, repr=False, compare=False)
    _ends: np.ndarray | None = field(default=None, repr=False, compare=False)
    _v4: tuple | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_texts(cls, texts, family: int | None = None) -> "AddrSet":
        parsed = [parse_addr(t, family) for t in texts]
        fams = {p[0] for p in parsed}
        if len(fams) > 1:
            raise ValueError("IPv4 and IPv6 addresses mixed in one set")
        fam = fams.pop() if fams else (family or 4)
        return cls.from_intervals(fam, [(a, b) for _, a, b in parsed])

    @classmethod
    def from_intervals(cls, family: int, intervals) -> "AddrSet":
        merged: list[list[int]] = []
        for a, b in sorted(intervals):
            if merged and a <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        return cls(family, [(a, b) for a, b in merged])

    def union(self, other: "AddrSet") -> "AddrSet":
        return AddrSet.from_intervals(self.family, self.intervals + other.intervals)

    def minus(self, other: "AddrSet") -> "AddrSet":
        """Set difference (ipset ``nomatch`` entries)."""
        out = []
        for a, b in self.intervals:
            pieces = [(a, b)]
            for c, d in other.intervals:
                nxt = []
                for x, y in pieces:
                    if d < x or c > y:
                        nxt.append((x, y))
                        continue
                    if x < c:
                        nxt.append((x, c - 1))
                    if d < y:
                        nxt.append((d + 1, y))
                pieces = nxt
            out.extend(pieces)
        return AddrSet.from_intervals(self.family, out)

    def contains_int(self, value: int) -> bool:
        return any(a <= value <= b for a, b in self.intervals)

    def contains(self, keys: np.ndarray) -> np.ndarray:
        """Vectorised membership of ``S16`` keys (see ``keys_from_words``)."""
        if not self.intervals:
            return np.zeros(len(keys), dtype=bool)
        if self._starts is None:
            self._starts = _keys_from_ints([a for a, _ in self.intervals])
            self._ends = _keys_from_ints([b for _, b in self.intervals])
        idx = np.searchsorted(self._starts, keys, side="right") - 1
        ok = idx >= 0
        idx = np.where(ok, idx, 0)
        return ok & (keys <= self._ends[idx])

    def contains_v4(self, lo: np.ndarray) -> np.ndarray:
        """Vectorised membership of IPv4 values (the record's ``*_lo`` word)."""
        if len(self.intervals) <= 4:
            out = np.zeros(len(lo), dtype=bool)
            for a, b in self.intervals:
                out |= (lo >= np.uint64(a)) & (lo <= np.uint64(b)) if a != b else lo == np.uint64(a)
            return out
        if self._v4 is None:
            self._v4 = (np.array([a for a, _ in self.intervals], dtype=np.uint64),
                        np.array([b for _, b in self.intervals], dtype=np.uint64))
        starts, ends = self._v4
        i = np.searchsorted(starts, lo, side="right") - 1
        ok = i >= 0
        return ok & (lo <= ends[np.where(ok, i, 0)])

    def texts(self) -> list[str]:
        """Render as CIDRs/addresses (for emitters and descriptions)."""
        out = []
        cls = ipaddress.IPv4Address if self.family == 4 else ipaddress.IPv6Address
        for a, b in self.intervals:
            for net in ipaddress.summarize_address_range(cls(a), cls(b)):
                out.append(str(net.network_address) if net.num_addresses == 1 else str(net))
        return out
