"""Count "table full" kernel log lines, by network namespace, as a counter.

``/dev/kmsg`` stays open for the exporter's life; every refresh reads only the
records added since the last one (each open file has its own position; the first
read starts at the oldest record still in the ring buffer).  Records are never
consumed for other readers.  Wordings and the per-netns form are those of
``ctscope.live.kmsg.TABLE_FULL`` (kernel-conntrack.md §3.2): lines that name a
netns inode count for that namespace; lines without one come from the initial
namespace (or from a kernel older than 6.18, which never names it).

Reading /dev/kmsg needs CAP_SYSLOG when ``kernel.dmesg_restrict=1`` (the usual
default); without it the counter is missing and the info metric says why.
"""
from __future__ import annotations

import errno
import os
from collections import Counter

from ..live.base import why
from ..live.kmsg import TABLE_FULL, parse_kmsg_record


class TableFullLog:
    """Incremental reader of /dev/kmsg; ``counts`` maps netns inode (or 'init') to lines."""

    def __init__(self, path: str = "/dev/kmsg", max_records: int = 100_000):
        self.path = path
        self.max_records = max_records
        self.counts: Counter = Counter()
        self.error: str = ""
        self._fd: int | None = None
        self.init_inode = _init_netns_inode()
        try:
            self._fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            self.error = why(exc) + (" (needs CAP_SYSLOG: kernel.dmesg_restrict=1)"
                                     if exc.errno in (errno.EPERM, errno.EACCES) else "")

    @property
    def available(self) -> bool:
        return self._fd is not None

    def poll(self) -> int:
        """Read the new records; return how many table-full lines they held."""
        if self._fd is None:
            return 0
        found = 0
        for _ in range(self.max_records):
            try:
                raw = os.read(self._fd, 8192)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.EPIPE:        # records overwritten: skip ahead
                    continue
                self.error = why(exc)
                break
            if not raw:
                break
            _usec, msg = parse_kmsg_record(raw.decode("utf-8", "replace"))
            m = TABLE_FULL.search(msg)
            if m:
                self.counts[m.group(1) or "init"] += 1
                found += 1
        return found

    def lines_for(self, inode: int | None, is_initial: bool) -> int:
        """Table-full lines of the namespace ``inode`` (plus the unnamed ones if it is
        the initial namespace)."""
        n = self.counts.get(str(inode), 0) if inode is not None else 0
        return n + (self.counts.get("init", 0) if is_initial else 0)

    def is_initial(self, inode: int | None) -> bool | None:
        """Is ``inode`` the initial namespace?  None if /proc/1/ns/net is unreadable."""
        if self.init_inode is None or inode is None:
            return None
        return inode == self.init_inode

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _init_netns_inode() -> int | None:
    """Inode of PID 1's network namespace (needs ptrace-read access to PID 1)."""
    try:
        return os.stat("/proc/1/ns/net").st_ino
    except OSError:
        return None
