"""Read ``/proc/sys/net/netfilter/*`` (count, max, buckets, timeouts ...) -- read only."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from .base import Problem, read_text, why

NETFILTER_DIR = "/proc/sys/net/netfilter"
ALIAS_MAX = "/proc/sys/net/nf_conntrack_max"          # init netns only
HASHSIZE = "/sys/module/nf_conntrack/parameters/hashsize"


@dataclass
class SysctlReading:
    """Values by bare sysctl name (ints where they are ints)."""

    values: dict[str, int | str] = field(default_factory=dict)
    hashsize: int | None = None
    problems: list[Problem] = field(default_factory=list)

    def get(self, name: str) -> int | None:
        value = self.values.get(name)
        return value if isinstance(value, int) else None

    @property
    def count(self) -> int | None:
        return self.get("nf_conntrack_count")

    @property
    def max(self) -> int | None:
        return self.get("nf_conntrack_max")

    @property
    def buckets(self) -> int | None:
        return self.get("nf_conntrack_buckets")

    def as_dict(self) -> dict:
        return {"values": self.values, "hashsize": self.hashsize,
                "problems": [p.as_dict() for p in self.problems]}


def read_sysctls(directory: str = NETFILTER_DIR, alias: str = ALIAS_MAX,
                 hashsize: str = HASHSIZE) -> SysctlReading:
    """Every readable file of ``directory`` (nf_conntrack_*, nf_flowtable_*, nf_log ...)."""
    r = SysctlReading()
    try:
        names = sorted(os.listdir(directory))
    except OSError as exc:
        r.problems.append(Problem(directory, why(exc)))
        names = []
    for name in names:
        path = os.path.join(directory, name)
        if os.path.isdir(path):
            continue
        text = read_text(path, r.problems)
        if text is None:
            continue
        text = text.strip()
        r.values[name] = int(text) if text.lstrip("-").isdigit() else text
    if "nf_conntrack_max" not in r.values:
        text = read_text(alias, r.problems)
        if text is not None and text.strip().isdigit():
            r.values["nf_conntrack_max"] = int(text.strip())
    text = read_text(hashsize, r.problems)
    if text is not None and text.strip().isdigit():
        r.hashsize = int(text.strip())
    return r
