"""Who fills the table: one pass over a table text (any format) giving the
``formats.summary`` counts plus the (source, protocol, destination port) pairs, the
"other" remainders of every top-N list, and the set of ORIGINAL tuples (for churn
between two readings and for deduplication).

Fast path (``/proc``, ``conntrack -L`` default/extended): the same single compiled
regex as ``formats.summary`` (C speed, no per-line Python); other formats (xml, JSON
lines, events) go through the full parsers.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from itertools import chain, repeat
from operator import itemgetter

from ..errors import InputError
from ..formats.summary import Summary, _addr, summarize_entries

FAST = ("proc", "conntrack", "extended")
_PORTS = frozenset(p.encode() for p in ("tcp", "udp", "udplite", "sctp", "dccp"))
# findall() row: 0 l4, 1 state, 2 "SRC dst=DST", 3 sport, 4 dport, 5 "id=N" (ICMP), 6 GRE keys.
# Only the ORIGINAL tuple is matched (the rest of the line is skipped: every group costs
# time at this scale); the flags are counted in the whole buffer, where they appear at
# most once per line.  Rows of one entry printed twice are equal (deduplication).
# A line the pattern does not know matches one of the last two alternatives instead, giving
# a row of empty fields (``_BAD``) that sends the table to the full parser: no separate
# pass counting the lines.
_ROW = re.compile(
    rb"^(?:(?:ipv[46] +\d+ +)?"
    rb"([a-z0-9]+) +\d+ +(?:\d+ +)?(?:([A-Z][A-Z0-9_]*) +)?"
    rb"(?:timeout=\d+, stream_timeout=\d+ +)?"
    rb"src=(\S+ dst=\S+) "
    rb"(?:sport=(\d+) dport=(\d+) |type=\d+ code=\d+ (id=\d+) |(srckey=0x[0-9a-f]+ dstkey=0x[0-9a-f]+) )?"
    rb"[^\n]*\n?|[^\n]+\n?|\n)", re.M)
_AGG = itemgetter(0, 1, 2, 4)             # what the counts need: few distinct values
_KEY = itemgetter(0, 2, 3, 4, 5, 6)       # the ORIGINAL tuple (churn between readings)
_BAD = (b"", b"", b"", b"")               # _AGG of a line the pattern does not know
_DST = b" dst="
_SEP = b"\n"            # joins a row's fields into one key (no field holds a newline)
_SLICE = 1 << 20


def _weighted(keys, counts) -> Counter:
    """``Counter`` of ``keys`` each counted ``counts`` times (C speed: every key object is
    repeated, its hash computed once; insertion order is the order of ``keys``)."""
    return Counter(chain.from_iterable(map(repeat, keys, counts)))


@dataclass
class Digest:
    summary: Summary
    fmt: str
    pairs: list[tuple[str, str, int | None, int]] = field(default_factory=list)  # src, proto, dport, n
    unique: int = 0
    keys: frozenset | None = None      # ORIGINAL tuples (asked for with keys=True)

    def other(self, name: str) -> int:
        """Entries not in the top-N list ``name`` (sources, destinations, dports, pairs)."""
        s = self.summary
        rows = {"sources": s.top_sources, "destinations": s.top_destinations,
                "dports": s.top_dports, "pairs": [(None, n) for *_, n in self.pairs]}[name]
        return max(0, s.total - sum(n for _, n in rows))


def detect(data: bytes) -> str:
    from ..formats.io import detect_format
    return detect_format(data[:8192].decode("utf-8", "replace").splitlines()[:50])


def digest(data: bytes, top: int = 10, fmt: str | None = None, keys: bool = False,
           name: str = "<table>") -> Digest:
    """Digest of a whole table file's bytes (raises ``InputError`` naming a bad line).

    Cost at 262,144 entries (~0.65 s CPU): per 1 MiB slice one ``findall`` (C), one
    ``Counter`` update over a few fields (C), one ``set`` update of rows (C) and the flag
    counts; then C-speed weighted counts over the distinct combinations."""
    return digest_chunks([data], top, fmt, keys, name)


def digest_chunks(chunks, top: int = 10, fmt: str | None = None, keys: bool = False,
                  name: str = "<table>") -> Digest:
    """``digest`` of a table arriving in pieces (complete lines are parsed as they come;
    the bytes are kept only for the full parser's error report).

    /proc and ``conntrack -L`` tables (without ``keys``) go to the compiled scanner
    (``scan_table``) first; what it does not fully understand comes back here."""
    if not keys and SCANNER:
        chunks = list(chunks)
        f = fmt
        if f is None:
            for chunk in chunks:
                if chunk[:65536].strip() or chunk.strip():
                    f = detect(chunk)
                    break
        if f in FAST:
            data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            scan = _scanner()
            d = scan(data, top, f) if scan is not None else None
            if d is not None:
                return d
            chunks = [data]
    import gc
    acc = _Acc(keys)
    pieces: list[bytes] = []
    tail = b""
    enabled = gc.isenabled()
    gc.disable()           # ~10 %: hundreds of thousands of row tuples, no cycles among them
    try:
        for chunk in chunks:
            pieces.append(chunk)
            if fmt is None:
                fmt = detect(chunk) if chunk[:65536].strip() or chunk.strip() else None
                if fmt is None:
                    continue
            cut = chunk.rfind(b"\n") + 1
            if fmt in FAST and acc.ok and cut:
                acc.add(tail + chunk[:cut] if tail else chunk[:cut] if cut < len(chunk) else chunk)
                tail = chunk[cut:]
            else:
                tail += chunk
        if fmt is None or fmt == "empty":
            return Digest(Summary(), fmt or "empty", keys=frozenset() if keys else None)
        if fmt in FAST and acc.ok:
            if tail:
                acc.add(tail)
            if acc.ok:
                return acc.finish(pieces, top, fmt, name)
    finally:
        if enabled:
            gc.enable()
    return _slow(b"".join(pieces), top, fmt, keys, name)


class _Acc:
    """Counts of complete lines, piece by piece."""

    def __init__(self, keys: bool):
        self.combos: Counter = Counter()
        self.rows: set = set()
        self.keys: set | None = set() if keys else None
        self.total = 0
        self.flags: Counter = Counter()
        self.ok = True

    def add(self, data: bytes) -> None:
        """Count the complete lines of ``data``, ``_SLICE`` bytes at a time: the rows of a
        slice are made, counted and freed while they are still in the CPU cache."""
        end = len(data)
        pos = 0
        while pos < end and self.ok:
            cut = data.find(b"\n", pos + _SLICE) + 1 or end
            self._add(data, pos, cut)
            pos = cut

    def _add(self, data: bytes, pos: int, end: int) -> None:
        rows = _ROW.findall(data, pos, end)
        self.combos.update(map(_AGG, rows))
        if _BAD in self.combos:
            self.ok = False         # the full parser decides (valid line the pattern misses, or error)
            return
        self.total += len(rows)
        if self.keys is None:
            self.rows.update(map(_SEP.join, rows))     # one live object per distinct row, not eight
        else:
            self.rows.update(rows)
            self.keys.update(map(_KEY, rows))
        self.flags[b"unreplied"] += data.count(b" [UNREPLIED] ", pos, end)
        self.flags[b"assured"] += data.count(b" [ASSURED]", pos, end)
        offload = data.count(b"OFFLOAD]", pos, end)
        if offload:
            hw = data.count(b"[HW_OFFLOAD]", pos, end)
            self.flags[b"offload"] += offload - hw
            self.flags[b"hw_offload"] += hw

    def finish(self, pieces: list[bytes], top: int, fmt: str, name: str) -> Digest:
        """Totals and top lists; a bad field found now is located by the full parser.

        Every count is a ``_weighted`` pass over the distinct (l4, state, addresses, dport)
        combinations, in the order the lines came (the order of ties in the top lists)."""
        def bad(message: str):
            _slow(b"".join(pieces), top, fmt, False, name)     # raises, naming the line
            raise InputError(message, name)

        combos, counts = list(self.combos), list(self.combos.values())
        l4s, addrs, dports = (list(map(itemgetter(i), combos)) for i in (0, 2, 3))
        split = list(map(bytes.partition, addrs, repeat(_DST)))
        srcs_of = list(map(itemgetter(0), split))
        srcs = _weighted(srcs_of, counts)
        dsts = _weighted(map(itemgetter(2), split), counts)
        pairs = _weighted(zip(srcs_of, l4s, dports), counts)
        src_dst = _weighted(addrs, counts)
        small = _weighted(zip(l4s, map(itemgetter(1), combos), dports), counts)
        proto, states, ports = Counter(), Counter(), Counter()
        if any(not dport and l4 in _PORTS for l4, _, dport in small):
            bad("a line has an unreadable port tuple")
        for (l4, st, dport), n in small.items():
            proto[l4] += n
            if st:
                states[l4, st] += n
            if dport:
                ports[l4, dport] += n
        if any(len(d) > 5 or (len(d) == 5 and d > b"65535") for _, d in ports):
            bad("a line has a port out of range")
        s = Summary(total=self.total)
        s.by_proto = {k.decode(): v for k, v in proto.most_common()}
        s.by_state = {f"{p.decode()} {st.decode()}": v for (p, st), v in states.most_common()}
        f = self.flags
        s.flags = {"unreplied": f[b"unreplied"], "assured": f[b"assured"], "offload": f[b"offload"],
                   "hw_offload": f[b"hw_offload"]}
        try:
            s.top_sources = [(_addr(a), n) for a, n in srcs.most_common(top)]
            s.top_destinations = [(_addr(a), n) for a, n in dsts.most_common(top)]
            s.top_pairs = [(f"{_addr(a)} -> {_addr(b)}", n) for (a, _, b), n in
                           ((k.partition(_DST), n) for k, n in src_dst.most_common(top))]
            top_pairs = [(_addr(a), p.decode(), int(d) if d else None, n)
                         for (a, p, d), n in pairs.most_common(top)]
        except (ValueError, UnicodeDecodeError):
            bad("a line has an invalid address")
        s.top_dports = [(f"{p.decode()}/{d.decode()}", n) for (p, d), n in ports.most_common(top)]
        s.unique = len(self.rows)
        return Digest(s, fmt, top_pairs, s.unique, frozenset(self.keys) if self.keys is not None else None)


SCANNER = True          # tests switch the compiled scanner off to test the Python path
_SCAN: list = []


def _scanner():
    """``scan_table.scan``, or None without a compiled kernel (NUMBA_DISABLE_JIT=1:
    interpreted it would be far slower than the regex; no numba).  Imported on first
    use: commands that read no table do not import numpy."""
    if not _SCAN:
        try:
            from . import scan_table
            _SCAN.append(scan_table.scan if scan_table.kernel() is not None else None)
        except ImportError:         # numpy missing or unreadable (seen: a root-only install run as nobody)
            _SCAN.append(None)
    return _SCAN[0]


def _slow(data: bytes, top: int, fmt: str, keys: bool, name: str) -> Digest:
    from ..formats.io import read_entries
    entries = list(read_entries(data.decode("utf-8", "replace").splitlines(), fmt, name))
    s = summarize_entries(entries, top)
    pairs = Counter((e.orig.src, e.l4, e.orig.dport) for e in entries).most_common(top)
    tuples = {e.key()[:11] for e in entries}
    return Digest(s, fmt, [(a, p, d, n) for (a, p, d), n in pairs], len(tuples),
                  frozenset(tuples) if keys else None)
