"""Fast summary of a table: counts by protocol / state / flags, top talkers.

Fast path (``/proc/net/nf_conntrack``, ``conntrack -L`` default and extended): the
whole file is read as bytes and one compiled regex (``re.findall``, C speed) pulls
the few fields needed from every line; ``collections.Counter`` over ``itemgetter``
maps (also C speed) aggregates them.  No per-line Python code runs.  If the number
of matches differs from the number of lines, a slow pass with the full parser finds
the bad line and raises ``InputError`` naming it.  Only what the summary reports is
checked on the fast path: line structure, every destination port, the top addresses.
Other formats (events, xml, jsonl) go through the full parsers.
"""
from __future__ import annotations

import ipaddress
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from operator import add, itemgetter

from ..errors import InputError

# findall() row fields: 0 l4 name, 1 state, 2 ORIGINAL tuple text, 3 "A dst=B", 4 src,
# 5 dst, 6 "dport=N" (or b""), 7 "[UNREPLIED] " (or b"")
_LINE = re.compile(
    rb"^(?:ipv[46] +\d+ +)?"
    rb"([a-z0-9]+) +\d+ +"                                    # l4 name, number
    rb"(?:\d+ +)?"                                            # timeout
    rb"(?:([A-Z][A-Z0-9_]*) +)?"                              # state
    rb"(?:timeout=\d+, stream_timeout=\d+ +)?"                # GRE private part
    rb"(src=((\S+) dst=(\S+)) "
    rb"(?:sport=\d+ (dport=\d+) |type=\d+ code=\d+ id=\d+ |srckey=0x[0-9a-f]+ dstkey=0x[0-9a-f]+ )?)"
    rb"(?:zone-orig=\d+ )?(?:packets=\d+ bytes=\d+ )?(\[UNREPLIED\] )?"
    rb"src=[^\n]*\n?", re.M)
# the reply-side flags appear at most once per line: counted in the whole buffer at C speed


@dataclass
class Summary:
    """What ``summarize`` returns; every count is a number of entries."""

    total: int = 0
    by_proto: dict[str, int] = field(default_factory=dict)
    by_state: dict[str, int] = field(default_factory=dict)      # "tcp ESTABLISHED"
    flags: dict[str, int] = field(default_factory=dict)         # unreplied/assured/offload/...
    top_sources: list[tuple[str, int]] = field(default_factory=list)
    top_destinations: list[tuple[str, int]] = field(default_factory=list)
    top_dports: list[tuple[str, int]] = field(default_factory=list)   # "tcp/443"
    top_pairs: list[tuple[str, int]] = field(default_factory=list)    # "src -> dst"
    unique: int | None = None       # distinct ORIGINAL tuples (asked for with unique=True)

    def as_dict(self) -> dict:
        return {k: (dict(v) if isinstance(v, dict) else [list(x) for x in v]
                    if isinstance(v, list) else v) for k, v in self.__dict__.items()}


def _addr(raw: bytes) -> str:
    return str(ipaddress.ip_address(raw.decode("ascii")))


def _read(source) -> tuple[bytes, str]:
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        try:
            with open(path, "rb") as fh:
                return fh.read(), path
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror}", path) from None
    if isinstance(source, bytes):
        return source, "<input>"
    return "\n".join(s.rstrip("\n") for s in source).encode("utf-8", "replace"), "<input>"


def summarize(source, top: int = 10, fmt: str | None = None, unique: bool = False) -> Summary:
    """Summary of a table file (path), bytes, or lines.

    ``unique=True`` also counts distinct (protocol, ORIGINAL tuple) pairs: a lower bound
    of the distinct entries, equal to it unless zones separate identical tuples."""
    data, name = _read(source)
    if fmt is None:
        from .io import detect_format
        fmt = detect_format(data[:4096].decode("utf-8", "replace").splitlines()[:5])
    if fmt in ("proc", "conntrack", "extended"):
        rows = _LINE.findall(data)
        nlines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
        if len(rows) != nlines and _slow_count(data, name, fmt) != len(rows):
            # valid lines the fast pattern does not know (raises on invalid ones)
            return _summarize_slow(data, name, fmt, top, unique)
        s = _aggregate(rows, top, data, name, fmt)
        if unique:   # tuple texts all distinct -> so are (protocol, tuple) pairs
            s.unique = len(set(map(itemgetter(2), rows)))
            if s.unique != len(rows):
                s.unique = len(set(map(itemgetter(0, 2), rows)))
        return s
    if fmt == "empty":
        return Summary()
    return _summarize_slow(data, name, fmt, top, unique)


def _entries(data: bytes, name: str, fmt: str):
    from .io import read_entries
    return read_entries(data.decode("utf-8", "replace").splitlines(), fmt, name)


def _summarize_slow(data: bytes, name: str, fmt: str, top: int, unique: bool) -> Summary:
    entries = list(_entries(data, name, fmt))
    s = summarize_entries(entries, top)
    if unique:
        s.unique = len({e.key()[:11] for e in entries})
    return s


def _slow_count(data: bytes, name: str, fmt: str) -> int:
    """Number of entries by the full parser (raises InputError at the first bad line)."""
    return sum(1 for _ in _entries(data, name, fmt))


def _locate_error(data: bytes, name: str, fmt: str) -> None:
    _slow_count(data, name, fmt)


def _aggregate(rows: list[tuple], top: int, data: bytes, name: str, fmt: str) -> Summary:
    s = Summary(total=len(rows))
    proto = Counter(map(itemgetter(0), rows))
    s.by_proto = {k.decode(): v for k, v in proto.most_common()}
    states = Counter(map(itemgetter(0, 1), rows))
    s.by_state = {f"{p.decode()} {st.decode()}": v for (p, st), v in states.most_common() if st}
    offload = data.count(b"OFFLOAD]")
    hw = data.count(b"[HW_OFFLOAD]") if offload else 0
    s.flags = {"unreplied": len(rows) - Counter(map(itemgetter(7), rows))[b""],
               "assured": data.count(b"[ASSURED]"), "offload": offload - hw, "hw_offload": hw}
    try:
        s.top_sources = [(_addr(a), n) for a, n in Counter(map(itemgetter(4), rows)).most_common(top)]
        s.top_destinations = [(_addr(a), n) for a, n in Counter(map(itemgetter(5), rows)).most_common(top)]
        s.top_pairs = [(" -> ".join(map(_addr, pair.split(b" dst="))), n)
                       for pair, n in Counter(map(itemgetter(3), rows)).most_common(top)]
    except (ValueError, UnicodeDecodeError):
        _locate_error(data, name, fmt)
        raise InputError("a line has an invalid address", name) from None
    # key b"tcp" + b"dport=443" (b"icmp" + b""): no tuple allocated per row
    ports = Counter(map(add, map(itemgetter(0), rows), map(itemgetter(6), rows)))
    split = {key: key.partition(b"dport=")[::2] for key in ports}
    if any(len(d) > 5 or (len(d) == 5 and d > b"65535") for _, d in split.values()):
        _locate_error(data, name, fmt)
        raise InputError("a line has a port out of range", name)
    s.top_dports = [(f"{split[k][0].decode()}/{split[k][1].decode()}", n)
                    for k, n in ports.most_common(top + len(proto)) if split[k][1]][:top]
    return s


def summarize_entries(entries, top: int = 10) -> Summary:
    """Summary of parsed ``Entry`` objects (any format; the slow path)."""
    proto, states, flags = Counter(), Counter(), Counter()
    srcs, dsts, pairs, ports = Counter(), Counter(), Counter(), Counter()
    total = 0
    for e in entries:
        total += 1
        proto[e.l4] += 1
        if e.state:
            states[f"{e.l4} {e.state}"] += 1
        for f in ("unreplied", "assured", "offload", "hw_offload"):
            flags[f] += getattr(e, f)
        srcs[e.orig.src] += 1
        dsts[e.orig.dst] += 1
        pairs[f"{e.orig.src} -> {e.orig.dst}"] += 1
        if e.orig.dport is not None:
            ports[f"{e.l4}/{e.orig.dport}"] += 1
    return Summary(total=total, by_proto=dict(proto.most_common()), by_state=dict(states.most_common()),
                   flags={f: flags[f] for f in ("unreplied", "assured", "offload", "hw_offload")},
                   top_sources=srcs.most_common(top), top_destinations=dsts.most_common(top),
                   top_dports=ports.most_common(top), top_pairs=pairs.most_common(top))
