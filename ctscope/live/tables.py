"""Read ``/proc/net/stat/nf_conntrack`` and ``/proc/net/nf_conntrack`` -- read only.

The table is summarised with the fast path of ``ctscope.formats.summary``; duplicate
lines (a dump restarted while the hash was resized prints an entry twice) are counted
by the ORIGINAL tuple and zone, and the unique count is compared with
``nf_conntrack_count`` (which also counts unconfirmed entries and expired ones the GC
has not reaped yet, kernel-conntrack.md §3.1).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..errors import InputError
from ..formats.stats import StatTable, parse_proc_stat
from ..formats.summary import Summary
from .base import Problem, why
from .digest import Digest, digest

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
    digest: Digest | None = None
    reads: int = 0                   # 2 when the first walk disagreed badly with the count
    text: bytes | None = None        # the raw table (asked for with keep_text=True)

    def as_dict(self) -> dict:
        d = self.digest
        return {"lines": self.lines, "unique": self.unique, "duplicates": self.duplicates,
                "count": self.count, "note": self.note, "reads": self.reads,
                "summary": self.summary.as_dict() if self.summary else None,
                "top_source_ports": [{"src": a, "proto": p, "dport": dp, "count": n}
                                     for a, p, dp, n in (d.pairs if d else [])],
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


def disagrees(count: int | None, unique: int) -> bool:
    """True when the walk and nf_conntrack_count differ by more than the unconfirmed and
    not-yet-reaped entries explain (1 % of the count, at least 64)."""
    return count is not None and abs(count - unique) > max(64, count // 100)


def read_table(path: str = TABLE_PATH, count: int | None = None, top: int = 10,
               keep_text: bool = False, count_path: str | None = None) -> TableReading:
    """Summary of the live table, duplicates removed from the line count.

    The walk is not atomic: on a busy host it can skip or repeat lines.  If the unique
    entries and ``count`` disagree badly, the table is read once more (and ``count``
    re-read from ``count_path``) and the closer reading is kept; ``note`` says so."""
    r = TableReading(count=count)
    best = None
    for attempt in range(2):
        # kernel time, GIL released: overlaps the scanner's load (and, when a command
        # called start_reading() first, its own imports and the other readers)
        reader = (_early.pop(path, None) if attempt == 0 else None) or _Read(path)
        if attempt == 0:
            _warm()
        try:
            data = reader.result()
        except OSError as exc:
            r.problems.append(Problem(path, why(exc)))
            return r
        r.reads += 1
        try:
            d = digest(data, top=top, name=path)
        except InputError as exc:
            r.problems.append(Problem(path, f"unreadable line: {exc}"))
            return r
        unique = d.unique
        if unique != d.summary.total and d.fmt == "proc":   # repeats: compare zones too (slow, rare)
            unique = len(set(map(_key, filter(None, data.split(b"\n")))))
        if best is None or (count is not None and abs(count - unique) < abs(count - best[2])):
            best = (data, d, unique)
        if attempt == 0 and disagrees(count, unique) and count_path:
            text = _read_int(count_path)
            count = r.count = text if text is not None else count
            if not disagrees(count, unique):
                break
            continue
        break
    data, d, unique = best
    r.digest, r.summary = d, d.summary
    r.lines, r.unique = d.summary.total, unique
    r.duplicates = r.lines - r.unique
    r.text = data if keep_text else None
    if count is not None:
        diff = count - r.unique
        if diff > 0:
            r.note = (f"nf_conntrack_count is {diff} above the entries listed: unconfirmed "
                      "entries and expired entries not yet reaped by the GC are counted too")
        elif diff < 0:
            r.note = f"{-diff} more entries listed than counted: the table changed while it was read"
        else:
            r.note = "nf_conntrack_count matches the entries listed"
        if r.reads > 1:
            r.note += f" (read {r.reads} times: the first walk disagreed with the count)"
    return r


_early: dict = {}


def start_reading(path: str = TABLE_PATH) -> None:
    """Start reading ``path`` now, in a thread; the next ``read_table(path)`` uses it.
    The walk of a 262,144-entry table is ~0.4 s of kernel time that can run while the
    command is still importing and reading the small files."""
    if path not in _early:
        _early[path] = _Read(path)


class _Read:
    """The bytes of ``path``, read while the caller goes on; ``result()`` returns them or
    raises the OSError.

    The file is opened here (so errors and the network namespace are this process's)
    and copied by a ``cat`` child into an unlinked file in /dev/shm.  Not a thread: a
    /proc seq_file returns one page per read() (12,000 reads for 262,144 entries), and
    a Python thread needs the GIL back after each one -- with the main thread busy
    importing, a 0.35-s walk took 1.4 s (measured).  Without ``cat`` or /dev/shm it
    falls back to that thread."""

    def __init__(self, path: str):
        import subprocess
        import tempfile
        self.path, self.data, self.error, self.proc, self.thread = path, None, None, None, None
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            self.error = exc
            return
        try:
            self.out = tempfile.TemporaryFile(dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
            self.proc = subprocess.Popen(["cat"], stdin=fd, stdout=self.out, stderr=subprocess.DEVNULL)
        except OSError:
            import threading
            self.thread = threading.Thread(target=self._run, daemon=True, name="read-table")
            self.thread.start()
        finally:
            os.close(fd)

    def _run(self):
        try:
            with open(self.path, "rb") as fh:
                self.data = fh.read()
        except OSError as exc:
            self.error = exc

    def result(self) -> bytes:
        if self.proc is not None:
            rc = self.proc.wait()
            with self.out:
                if rc != 0:            # an I/O error mid-walk: read it here, with its errno
                    self._run()
                else:
                    self.out.seek(0)
                    self.data = self.out.read()
        elif self.thread is not None:
            self.thread.join()
        if self.error is not None:
            raise self.error
        return self.data


def _warm() -> None:
    """Import and load the compiled table scanner (numpy, numba, its cache entry)."""
    from .digest import SCANNER, _scanner
    if SCANNER and _scanner() is not None:
        try:
            from .scan_table import warm
            warm()
        except Exception:        # the digest falls back to the Python path by itself
            pass


def _read_int(path: str) -> int | None:
    try:
        with open(path) as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return None
