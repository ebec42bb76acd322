"""Repeated readings for ``ctscope top``: count/max, counters and the table digest,
plus rates between two readings -- new and destroyed entries per second (ORIGINAL
tuples that appeared / went; entries that lived less than one interval are not
seen) and drops per second (stat ``drop``).  Read only; the table needs root, the
rest is shown without it."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from .base import why
from .digest import Digest, digest
from .sysctl import read_sysctls
from .tables import TABLE_PATH, read_stat


@dataclass
class Sample:
    time: float
    count: int | None = None
    max: int | None = None
    stats: dict = field(default_factory=dict)
    digest: Digest | None = None
    new_per_s: float | None = None
    destroyed_per_s: float | None = None
    drops_per_s: float | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def usage(self) -> float | None:
        return self.count / self.max if self.count is not None and self.max else None


def only_protocol(data: bytes, proto: str) -> bytes:
    """The lines of a /proc or conntrack table whose L4 protocol is ``proto``."""
    pat = re.compile(rb"^(?:ipv[46] +\d+ +)?" + re.escape(proto.encode()) + rb" [^\n]*\n?", re.M)
    return b"".join(m.group(0) if m.group(0).endswith(b"\n") else m.group(0) + b"\n"
                    for m in pat.finditer(data))


class Sampler:
    def __init__(self, netns: str | None = None, top: int = 10, path: str = TABLE_PATH):
        self.netns, self.top, self.path = netns, top, path
        self.last: Sample | None = None
        self._keys = None

    def _read_local(self, s: Sample) -> bytes | None:
        sysctls = read_sysctls()
        s.count, s.max = sysctls.count, sysctls.max
        s.problems += [f"{p.what}: {p.why}" for p in sysctls.problems if "nf_conntrack_count" in p.what]
        stat, problems = read_stat()
        s.stats = stat.totals() if stat else {}
        s.problems += [f"{p.what}: {p.why}" for p in problems]
        try:
            with open(self.path, "rb") as fh:
                return fh.read()
        except OSError as exc:
            s.problems.append(f"{self.path}: {why(exc)} -- who fills the table is not shown")
            return None

    def _read_netns(self, s: Sample) -> bytes | None:
        from .netns import read_netns
        snap = read_netns(self.netns, ["--table-text", "--no-log", "--top", "1"])
        values = snap["sysctl"]["values"]
        s.count, s.max = values.get("nf_conntrack_count"), values.get("nf_conntrack_max")
        s.stats = (snap.get("stat") or {}).get("totals", {})
        text = snap.get("table_text")
        if text is None:
            s.problems += [f"{p['what']}: {p['why']}" for p in snap.get("table", {}).get("problems", [])]
            return None
        return text.encode()

    def sample(self, proto: str | None = None) -> Sample:
        s = Sample(time.monotonic())
        data = self._read_netns(s) if self.netns else self._read_local(s)
        keys = None
        if data is not None:
            d_all = digest(data, top=self.top, keys=True)
            keys = d_all.keys
            s.digest = digest(only_protocol(data, proto), top=self.top) if proto else d_all
        prev = self.last
        if prev is not None:
            dt = s.time - prev.time
            if dt > 0 and keys is not None and self._keys is not None:
                s.new_per_s = len(keys - self._keys) / dt
                s.destroyed_per_s = len(self._keys - keys) / dt
            if dt > 0 and "drop" in s.stats and "drop" in prev.stats:
                s.drops_per_s = (s.stats["drop"] - prev.stats["drop"]) / dt
        self.last, self._keys = s, keys
        return s
