"""Compiled digest of a /proc or ``conntrack -L`` (default / extended) table: one numba
pass over the bytes instead of ``re.findall`` + ``Counter`` (``digest._Acc``).

``scan`` reads every line the way ``digest._ROW`` does (the ORIGINAL tuple only: l4
name, state, src, dst, sport/dport, ICMP id, GRE keys) and interns, in the order the
lines come, every key the summary counts: sources, destinations, (source, destination),
(source, l4, dport), l4 names, (l4, state), (l4, dport) and whole rows (``unique``).
A key's id is the order of its first line, so "most common, ties in order of first
appearance" (``Counter.most_common``) is a stable sort of the counts by id.

Exactness: the Python path groups by the *text* of an address; here an address is a
number plus the form it was written in (IPv4; IPv6 compressed hex, full hex, or with a
dotted IPv4 tail), and a text is accepted only if it is exactly the canonical text of
that number in that form -- so equal keys are equal texts, and the text shown
(``summary._addr``: Python's form of the address) is rebuilt from the number.  The l4
and state names are rebuilt from their packed 6-bit codes.  A dport or port-like number
with a leading zero, anything longer than the fields allow, an empty line, a line shape
``_ROW`` would read differently, or a value the Python path would reject (TCP without
ports, dport > 65535, an invalid address) makes ``scan`` give up (``None``): the caller
then runs the Python path, which gives the same result or raises the same error.

The compiled kernel is ``scan_kernel._scan``; this module is its Python side and
imports numpy only.  It runs the ahead-of-time compiled copy of the kernel
(``ctscope.aot``: no numba import, which alone took longer than ``conntrack -L`` over
the whole table), else numba's JIT; with NUMBA_DISABLE_JIT=1 neither (``scan`` gives
None: interpreted, the kernel would be far slower than the regex).
"""
from __future__ import annotations

import ipaddress
import os

import numpy as np

from .. import aot
from .scan_layout import (_LITS, F_ASSURED, F_HW, F_OFFLOAD, F_UNREPLIED, F_UNREPLIED_END, GIVE_UP,
                          I_LINE, I_NL4, I_NST, I_STATUS, MAX_L4, MAX_ST, NSPACE, OK, S_DST, S_PAIR,
                          S_PORT, S_ROW, S_SD, S_SRC)

KERNEL = aot.Kernel("ctscope.live.scan_kernel", "_scan", "signature",
                    ("live/scan_kernel.py", "live/scan_layout.py", "jit.py"))
_KERNEL: list = []


def kernel():
    """The compiled ``_scan``: the ahead-of-time copy, else numba's JIT; None without
    either (NUMBA_DISABLE_JIT=1, no numba)."""
    if not _KERNEL:
        run = None
        if os.environ.get("NUMBA_DISABLE_JIT", "0").strip() in ("", "0"):
            run = aot.load(KERNEL)
            if run is None:
                try:
                    from .scan_kernel import _scan as run
                except ImportError:
                    run = None
        _KERNEL.append(run)
    return _KERNEL[0]


def _order(cnt: np.ndarray, top: int | None) -> np.ndarray:
    """Ids by count, descending, ties in id order (``Counter.most_common(top)``)."""
    n = cnt.shape[0]
    if top is None or top >= n:
        return np.argsort(-cnt, kind="stable")
    thr = np.partition(cnt, n - top)[n - top]
    above = np.flatnonzero(cnt > thr)
    above = above[np.argsort(-cnt[above], kind="stable")]
    eq = np.flatnonzero(cnt == thr)[:top - above.shape[0]]
    return np.concatenate((above, eq))


_NO_WORDS = np.frombuffer(bytes(8), np.uint64)[:0]
_L4_CHARS = "0123456789abcdefghijklmnopqrstuvwxyz"      # scan_layout._ALPHA_L4: index + 1
_ST_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"     # scan_layout._ALPHA_ST: index + 1


def _unpack(code: int, chars: str) -> str:
    """The name the kernel packed 6 bits per character."""
    out = []
    while code:
        out.append(chars[(code & 63) - 1])
        code >>= 6
    return "".join(reversed(out))


def _address(hi: int, lo: int, form: int) -> str:
    """``formats.summary._addr`` of the text the kernel read: it accepted only the
    canonical text of the number in its form, and ``_addr`` depends on the number only."""
    if form == 3:
        return str(ipaddress.IPv4Address(lo))
    return str(ipaddress.IPv6Address((hi << 64) | lo))


def warm() -> None:
    """Load the compiled scanner now, e.g. while the table is being read."""
    if kernel() is not None:
        scan(b"tcp 6 src=1.2.3.4 dst=1.2.3.4 sport=1 dport=1 \n", 1, "conntrack")


def readonly(data, dtype, count: int = -1) -> np.ndarray:
    a = np.frombuffer(data, dtype, count)
    a.flags.writeable = False         # the kernel's one signature (bytes are read-only)
    return a


def _lines(buf: np.ndarray, words: np.ndarray) -> int:
    info = np.zeros(8, np.int64)
    s = Scanner(0)
    kernel()(0, buf, words, _LITS, s.slots, s.keys, s.counts, s.l4keys, s.stkeys, s.l4cnt,
             s.l4nodport, s.stcnt, s.nids, info, s.g, s.tmp, s.flags)
    return int(info[I_LINE])


def scan(data: bytes, top: int, fmt: str):
    """``Digest`` of a FAST-format table, or None when the Python path must decide."""
    if kernel() is None or not data:
        return None
    buf = readonly(data, np.uint8)
    words = readonly(data, np.uint64, len(data) // 8)
    if not words.flags.aligned:         # (bytes objects are aligned) same type, unused
        words = _NO_WORDS
    s = Scanner(_lines(buf, words) + 1)
    return s.digest(top, fmt) if s.feed(buf, words) else None


class Scanner:
    """The kernel's state over a table read in pieces (``feed`` each piece, cut after a
    newline); ``capacity``: the most lines it can count (more: it gives up).

    Memory: ~250 bytes per line of capacity, whatever the size of the pieces -- a live
    table is read through a small buffer instead of being held whole."""

    def __init__(self, capacity: int):
        capacity = max(1, capacity)
        cap = 1 << max(4, (capacity + capacity // 2).bit_length())     # load <= 2/3
        self.slots = np.full((NSPACE, cap), -1, np.int32)
        self.keys = np.empty((NSPACE, capacity, 3), np.uint64)
        self.counts = np.empty((NSPACE, capacity), np.int64)
        self.info = np.zeros(8, np.int64)
        self.l4keys = np.zeros(MAX_L4, np.uint64)
        self.stkeys = np.zeros((MAX_ST, 3), np.uint64)
        self.l4cnt = np.zeros(MAX_L4, np.int64)
        self.l4nodport = np.zeros(MAX_L4, np.int64)
        self.stcnt = np.zeros(MAX_ST, np.int64)
        self.nids = np.zeros(NSPACE, np.int64)
        self.g = np.zeros(8, np.int64)
        self.tmp = np.zeros(64, np.uint8)
        self.flags = np.zeros(5, np.int64)
        self.ok = True

    def feed(self, buf: np.ndarray, words: np.ndarray = _NO_WORDS) -> bool:
        """Read the lines of ``buf`` (read-only uint8; ``words``: the same bytes as
        aligned uint64, or empty); False once the scanner has given up."""
        if self.ok and buf.shape[0]:
            self.info[I_STATUS] = GIVE_UP
            self.flags[F_UNREPLIED_END] = 0     # a position in this piece (flags never span lines)
            kernel()(1, buf, words, _LITS, self.slots, self.keys, self.counts, self.l4keys,
                     self.stkeys, self.l4cnt, self.l4nodport, self.stcnt, self.nids, self.info,
                     self.g, self.tmp, self.flags)
            self.ok = self.info[I_STATUS] == OK
        return self.ok

    def digest(self, top: int, fmt: str):
        """``Digest`` of everything fed, or None when the Python path must decide."""
        from ..formats.summary import Summary
        from .digest import _PORTS, Digest
        if not self.ok:
            return None
        info, keys, counts, nids = self.info, self.keys, self.counts, self.nids
        nl4, nst = int(info[I_NL4]), int(info[I_NST])
        l4s = [_unpack(int(c), _L4_CHARS) for c in self.l4keys[:nl4]]
        if any(self.l4nodport[k] and l4s[k].encode() in _PORTS for k in range(nl4)):
            return None            # "a line has an unreadable port tuple": the Python path says where
        s = Summary(total=int(info[I_LINE]))
        s.by_proto = {l4s[k]: int(self.l4cnt[k]) for k in _order(self.l4cnt[:nl4], None)}
        stc = self.stcnt[1:nst + 1]
        states = [f"{l4s[int(k[0])]} {_unpack(int(k[1]), _ST_CHARS)}{_unpack(int(k[2]), _ST_CHARS)}"
                  for k in self.stkeys[1:nst + 1]]
        s.by_state = {states[k]: int(stc[k]) for k in _order(stc, None)}
        f = self.flags
        s.flags = {"unreplied": int(f[F_UNREPLIED]), "assured": int(f[F_ASSURED]),
                   "offload": int(f[F_OFFLOAD] - f[F_HW]), "hw_offload": int(f[F_HW])}
        nsrc, ndst, nsd, npair = (int(nids[i]) for i in (S_SRC, S_DST, S_SD, S_PAIR))
        text = {S_SRC: {}, S_DST: {}}

        def addr(space, i):
            if i not in text[space]:
                text[space][i] = _address(*(int(x) for x in keys[space, i]))
            return text[space][i]
        cnt = counts[S_SRC, :nsrc]
        s.top_sources = [(addr(S_SRC, int(i)), int(cnt[i])) for i in _order(cnt, top)]
        cnt = counts[S_DST, :ndst]
        s.top_destinations = [(addr(S_DST, int(i)), int(cnt[i])) for i in _order(cnt, top)]
        cnt = counts[S_SD, :nsd]
        s.top_pairs = [(f"{addr(S_SRC, int(keys[S_SD, i, 0]))} -> {addr(S_DST, int(keys[S_SD, i, 1]))}",
                        int(cnt[i])) for i in _order(cnt, top)]
        cnt = counts[S_PAIR, :npair]
        pairs = []
        for i in _order(cnt, top):
            sid, l4, d = (int(x) for x in keys[S_PAIR, i])
            pairs.append((addr(S_SRC, sid), l4s[l4], d - 1 if d else None, int(cnt[i])))
        cnt = counts[S_PORT, :int(nids[S_PORT])]
        s.top_dports = [(f"{l4s[int(keys[S_PORT, i, 0])]}/{int(keys[S_PORT, i, 1])}", int(cnt[i]))
                        for i in _order(cnt, top)]
        s.unique = int(nids[S_ROW])
        return Digest(s, fmt, pairs, s.unique, None)
