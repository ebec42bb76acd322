"""Kernel log lines about a full table -- read from ``/dev/kmsg`` (non-blocking, from
the start of the ring buffer, nothing consumed for other readers) or ``dmesg``.

Wordings (kernel-conntrack.md §3.2): ``nf_conntrack: table full, dropping packet``
(init netns, and all netns before 6.17/6.18), ``nf_conntrack: table full in netns
<inode>, dropping packet``; the pr_fmt prefix may appear twice.  The message is
rate limited by ``net_ratelimit()``, which later prints ``net_ratelimit: N callbacks
suppressed`` -- so the real number of drops is at least lines + suppressed (the
suppressed count is shared with all other net_ratelimit users).
"""
from __future__ import annotations

import errno
import os
import re
import subprocess
from dataclasses import dataclass, field

from .base import Problem, why

TABLE_FULL = re.compile(r"nf_conntrack: (?:nf_conntrack: )?table full(?: in netns (\d+))?, dropping packet")
SUPPRESSED = re.compile(r"([\w.-]+): (\d+) callbacks suppressed")
_DMESG_TS = re.compile(r"^\[\s*(\d+)\.(\d+)\]\s?")
MAX_EVENTS = 50


@dataclass
class KernelLogReport:
    table_full: int = 0
    by_netns: dict[str, int] = field(default_factory=dict)   # "init" or the netns inode
    suppressed: dict[str, int] = field(default_factory=dict) # ratelimit owner -> callbacks
    first_usec: int | None = None
    last_usec: int | None = None
    samples: list[str] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)    # the last MAX_EVENTS lines of each netns
    source: str = ""
    problems: list[Problem] = field(default_factory=list)

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["problems"] = [p.as_dict() for p in self.problems]
        return d


def scan(records, report: KernelLogReport | None = None) -> KernelLogReport:
    """Count table-full and 'callbacks suppressed' lines in (usec or None, message) pairs."""
    rep = report or KernelLogReport()
    for usec, msg in records:
        m = TABLE_FULL.search(msg)
        if m:
            rep.table_full += 1
            key = m.group(1) or "init"
            rep.by_netns[key] = rep.by_netns.get(key, 0) + 1
            if usec is not None:
                rep.first_usec = usec if rep.first_usec is None else rep.first_usec
                rep.last_usec = usec
            if len(rep.samples) < 5:
                rep.samples.append(msg.strip())
            rep.events.append({"usec": usec, "netns": key, "message": msg.strip()})
            if rep.by_netns[key] > MAX_EVENTS:      # keep the last lines of every namespace
                rep.events.remove(next(e for e in rep.events if e["netns"] == key))
            continue
        s = SUPPRESSED.search(msg)
        if s:
            rep.suppressed[s.group(1)] = rep.suppressed.get(s.group(1), 0) + int(s.group(2))
    return rep


def parse_kmsg_record(raw: str) -> tuple[int | None, str]:
    """'6,1234,5678901,-;message' -> (usec, message)."""
    head, _, msg = raw.partition(";")
    parts = head.split(",")
    usec = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else None
    return usec, msg.split("\n", 1)[0]


def parse_dmesg_line(line: str) -> tuple[int | None, str]:
    """'[  12.345678] message' -> (usec, message)."""
    m = _DMESG_TS.match(line)
    if not m:
        return None, line
    return int(m.group(1)) * 1_000_000 + int(m.group(2).ljust(6, "0")[:6]), line[m.end():]


def read_kmsg(path: str = "/dev/kmsg", max_records: int = 200_000):
    """Records of the kernel ring buffer (raises OSError if it cannot be opened)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        for _ in range(max_records):
            try:
                raw = os.read(fd, 8192)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno == errno.EPIPE:      # record overwritten while reading: go on
                    continue
                raise
            if not raw:
                return
            yield parse_kmsg_record(raw.decode("utf-8", "replace"))
    finally:
        os.close(fd)


def kernel_log(kmsg: str = "/dev/kmsg", dmesg: tuple[str, ...] = ("dmesg",)) -> KernelLogReport:
    """Scan /dev/kmsg, else ``dmesg`` output; say why neither could be read."""
    rep = KernelLogReport()
    try:
        scan(read_kmsg(kmsg), rep)
        rep.source = kmsg
        return rep
    except OSError as exc:
        rep.problems.append(Problem(kmsg, why(exc)))
    try:
        out = subprocess.run(list(dmesg), capture_output=True, text=True, timeout=30, errors="replace")
    except (OSError, subprocess.TimeoutExpired) as exc:
        rep.problems.append(Problem(" ".join(dmesg), str(exc)))
        return rep
    if out.returncode != 0:
        rep.problems.append(Problem(" ".join(dmesg), out.stderr.strip()[:200] or f"exit {out.returncode}"))
        return rep
    scan(map(parse_dmesg_line, out.stdout.splitlines()), rep)
    rep.source = " ".join(dmesg)
    return rep


def boot_time(stat: str = "/proc/stat") -> float | None:
    """Wall-clock time of boot (``btime`` of /proc/stat), for kernel log timestamps."""
    try:
        with open(stat) as fh:
            for line in fh:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def wallclock(usec: int | None, btime: float | None) -> str | None:
    """ISO 8601 UTC time of a kernel log timestamp (monotonic usec since boot; suspend
    time is not counted, so it can be early on laptops)."""
    if usec is None or btime is None:
        return None
    import datetime
    t = datetime.datetime.fromtimestamp(btime + usec / 1e6, tz=datetime.timezone.utc)
    return t.isoformat(timespec="seconds").replace("+00:00", "Z")
