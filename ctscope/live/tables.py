"""Read ``/proc/net/stat/nf_conntrack`` and ``/proc/net/nf_conntrack`` -- read only.

The table is summarised with the fast path of ``ctscope.formats.summary``; duplicate
lines (a dump restarted while the hash was resized prints an entry twice) are counted
by the ORIGINAL tuple and zone, and the unique count is compared with
``nf_conntrack_count`` (which also counts unconfirmed entries and expired ones the GC
has not reaped yet, kernel-conntrack.md §3.1).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import InputError
from ..formats.stats import StatTable, parse_proc_stat
from ..formats.summary import Summary, summarize
from .base import Problem, why

STAT_PATH = "/proc/net/stat/nf_conntrack"
TABLE_PATH = "/proc/net/nf_conntrack"


def read_stat(path: str = STAT_PATH) -> tuple[StatTable | None, list[Problem]]:
    """Per-CPU statistics summed by name, or None and why."""
    problems: list[Problem] = []
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            return parse_proc_stat(fh.read().splitlines(), path), problems
    except OSError as exc:
        problems.append(Problem(path, why(exc) + "; 'conntrack -S' (ctnetlink) still works"))
    except InputError as exc:
        problems.append(Problem(path, str(exc)))
    return None, problems


@dataclass
class TableReading:
    lines: int = 0
    unique: int = 0
    duplicates: int = 0
    summary: Summary | None = None
    count: int | None = None
    note: str = ""
    problems: list[Problem] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"lines": self.lines, "unique": self.unique, "duplicates": self.duplicates,
                "count": self.count, "note": self.note,
                "summary": self.summary.as_dict() if self.summary else None,
                "problems": [p.as_dict() for p in self.problems]}


def _key(line: bytes) -> bytes:
    """ORIGINAL tuple + protocol + zones of one table line (timeouts/counters left out)."""
    i = line.find(b"src=")
    j = line.find(b" src=", i + 4)
    orig = line[i:j]
    k = orig.find(b" packets=")
    if k >= 0:
        orig = orig[:k]
    head = line[:i].split()
    z = line.rfind(b" zone=")
    zone = line[z:line.find(b" ", z + 1)] if z >= 0 else b""
    return b" ".join(head[:4] if head[:1] in ([b"ipv4"], [b"ipv6"]) else head[:2]) + orig.replace(
        b" [UNREPLIED]", b"") + zone


def read_table(path: str = TABLE_PATH, count: int | None = None, top: int = 10) -> TableReading:
    """Summary of the live table, duplicates removed from the line count."""
    r = TableReading(count=count)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        r.problems.append(Problem(path, why(exc)))
        return r
    try:
        r.summary = summarize(data, top=top, fmt="proc", unique=True)
    except InputError as exc:
        r.problems.append(Problem(path, f"unreadable line: {exc}"))
        return r
    r.lines = r.unique = r.summary.total
    if r.summary.unique != r.lines:   # some tuples repeat: compare zones too (slow, rare)
        r.unique = len(set(map(_key, filter(None, data.split(b"\n")))))
    r.duplicates = r.lines - r.unique
    if count is not None:
        diff = count - r.unique
        if diff > 0:
            r.note = (f"nf_conntrack_count is {diff} above the entries listed: unconfirmed "
                      "entries and expired entries not yet reaped by the GC are counted too")
        elif diff < 0:
            r.note = f"{-diff} more entries listed than counted: the table changed while it was read"
        else:
            r.note = "nf_conntrack_count matches the entries listed"
    return r
