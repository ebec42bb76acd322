"""Read ``/proc/net/stat/nf_conntrack`` and ``/proc/net/nf_conntrack`` -- read only.

The table is summarised by the compiled scanner while the kernel walks it
(``_Read.scan``), else from its whole text (``digest``); duplicate
lines (a dump restarted while the hash was resized prints an entry twice) are counted
by the ORIGINAL tuple and zone, and the unique count is compared with
``nf_conntrack_count`` (which also counts unconfirmed entries and expired ones the GC
has not reaped yet, kernel-conntrack.md §3.1).
"""
from __future__ import annotations

import contextlib
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
    re-read from ``count_path``) and the closer reading is kept; ``note`` says so.

    First try (no ``keep_text``, ``count`` known, compiled scanner): the table is
    scanned as the walk produces it, through a 4-MiB buffer (``_Read.scan``) -- never held
    whole.  Anything that needs the text (a line the scanner does not take, repeated
    lines to tell apart by zone, a reading to compare with another) reads it again whole."""
    r = TableReading(count=count)
    best = None
    reader = _early.pop(path, None)
    if reader is None:
        reader = _Read(path)          # the walk (kernel time, another process) runs while we load
    if reader.error is None:
        _warm()
    if not keep_text and count is not None and reader.error is None:
        d = reader.scan(top, count)
        if d is not None and d.unique == d.summary.total and not disagrees(count, d.unique):
            r.reads = 1
            return _finish(r, None, d, d.unique, count)
        reader = _Read(path)          # read again, whole
    for attempt in range(2):
        if attempt:
            reader = _Read(path)
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
    return _finish(r, data if keep_text else None, d, unique, count)


def _finish(r: TableReading, text: bytes | None, d: Digest, unique: int,
            count: int | None) -> TableReading:
    r.digest, r.summary = d, d.summary
    r.lines, r.unique = d.summary.total, unique
    r.duplicates = r.lines - r.unique
    r.text = text
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
    """Start the walk of ``path`` now; the next ``read_table(path)`` uses it.  The walk
    of a 262,144-entry table is ~0.35 s of kernel time that can run while the command
    is still importing."""
    if path not in _early:
        _early[path] = _Read(path)


_PIECE = 4 << 20        # the scan buffer
_FEED = 512 << 10       # bytes gathered before each call of the scanner
_SO_SNDBUFFORCE = 32    # include/uapi/asm-generic/socket.h


class _Read:
    """One walk of ``path``: ``scan()`` digests it as it comes, ``result()`` returns its
    bytes (either, once).

    The file is opened here (so errors and the network namespace are this process's)
    and copied by a ``dd`` child into a socket: a /proc seq_file returns one page per
    read() (12,000 reads for 262,144 entries), ~0.35 s of kernel time that runs on
    another CPU while this process imports and scans.  Measured on these VMs:

    * not a Python thread: it needs the GIL back after every read (a 0.35-s walk took
      1.4 s while the main thread imported);
    * not a file in /dev/shm, nor the whole table in memory: 47 MB of new pages cost
      0.2-0.4 s more -- the scan reads it through one reused 4-MiB buffer;
    * a socket, not a pipe: its send buffer (16 MiB as root, SO_SNDBUFFORCE) keeps the
      walk going while this process is still importing, where a 1-MiB pipe stalled it,
      and SO_RCVLOWAT makes each read return a scanner's worth (512 KiB, ``dd`` writes
      256 KiB blocks) instead of thousands of page-sized reads.

    Without ``dd`` or sockets, the file itself is read."""

    def __init__(self, path: str):
        import socket
        import subprocess
        self.path, self.error, self.proc, self.fd = path, None, None, -1
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            self.error = exc
            return
        try:
            rsock, wsock = socket.socketpair()
        except OSError:
            self.fd = fd
            return
        # both best effort: unprivileged, the default send buffer only pauses the walk
        # while this process imports; without the low mark, reads are smaller and more
        with contextlib.suppress(OSError):
            wsock.setsockopt(socket.SOL_SOCKET, _SO_SNDBUFFORCE, 16 << 20)      # root only
        with contextlib.suppress(OSError):
            rsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, _FEED)
        try:
            self.proc = subprocess.Popen(["dd", "ibs=64K", "obs=256K", "status=none"], stdin=fd,
                                         stdout=wsock.fileno(), stderr=subprocess.DEVNULL)
        except OSError:
            rsock.close()
            self.fd = fd
        else:
            os.close(fd)
            self.fd = rsock.detach()
        finally:
            wsock.close()

    def _open(self):
        if self.error is not None:
            raise self.error
        fd, self.fd = self.fd, -1
        return open(fd, "rb", buffering=0)

    def _done(self, complete: bool) -> bool:
        """Reap ``dd``; True if it copied the whole file (else it is stopped)."""
        if self.proc is None:
            return complete
        if not complete and self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait() == 0 and complete

    def result(self) -> bytes:
        with self._open() as fh:
            data = fh.readall()
        if not self._done(True):       # an I/O error mid-walk: read it here, with its errno
            with open(self.path, "rb") as fh:
                data = fh.read()
        return data

    def scan(self, top: int, count: int):
        """``Digest`` of the walk scanned as it comes, or None (no compiled scanner, a
        line it does not take, more lines than ``count`` allows for, an I/O error)."""
        from .digest import SCANNER, _scanner
        if not SCANNER or _scanner() is None or self.error is not None:
            return None
        import numpy as np

        from .scan_table import Scanner, readonly
        scanner = Scanner(count + count // 4 + 4096)      # room for the table growing meanwhile
        buf = bytearray(_PIECE)
        data, words = readonly(buf, np.uint8), readonly(buf, np.uint64)
        view = memoryview(buf)
        filled, ok = 0, True
        with self._open() as fh:
            while ok:
                n = fh.readinto(view[filled:])
                filled += n
                if not n:                       # the end: the last line may lack its newline
                    ok = scanner.feed(data[:filled], words[:filled // 8])
                    break
                if filled < _FEED:
                    continue
                cut = buf.rfind(b"\n", 0, filled) + 1
                if cut == 0:
                    ok = filled < _PIECE        # a 4-MiB line is not a table line
                    continue
                ok = scanner.feed(data[:cut], words[:cut // 8])
                buf[:filled - cut] = view[cut:filled]
                filled -= cut
        del data, words, view
        return scanner.digest(top, "proc") if self._done(ok) else None


def _warm() -> None:
    """Import and load the compiled table scanner (numpy and the ahead-of-time copy, or
    numba and its cache entry)."""
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
