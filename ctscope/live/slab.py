"""``nf_conntrack`` slab cache: objects and object size (``/proc/slabinfo`` needs root;
``/sys/kernel/slab/nf_conntrack`` is the fallback) -- read only."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from .base import Problem, read_text


@dataclass
class SlabReading:
    active_objs: int | None = None
    num_objs: int | None = None
    objsize: int | None = None
    objperslab: int | None = None
    pagesperslab: int | None = None
    source: str = ""
    problems: list[Problem] = field(default_factory=list)

    @property
    def bytes_in_use(self) -> int | None:
        if self.num_objs is None or self.objperslab in (None, 0) or self.pagesperslab is None:
            return None
        slabs = -(-self.num_objs // self.objperslab)
        return slabs * self.pagesperslab * 4096

    def as_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "problems"}
        d["bytes_in_use"] = self.bytes_in_use
        d["problems"] = [p.as_dict() for p in self.problems]
        return d


def parse_slabinfo(text: str, cache: str = "nf_conntrack") -> SlabReading | None:
    """The ``cache`` line of /proc/slabinfo (name active num objsize perslab pages ...)."""
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0] == cache and len(parts) >= 6 and all(p.isdigit() for p in parts[1:6]):
            a, n, size, per, pages = (int(p) for p in parts[1:6])
            return SlabReading(active_objs=a, num_objs=n, objsize=size, objperslab=per, pagesperslab=pages)
    return None


def read_slab(slabinfo: str = "/proc/slabinfo", sysfs: str = "/sys/kernel/slab/nf_conntrack") -> SlabReading:
    problems: list[Problem] = []
    text = read_text(slabinfo, problems)
    if text is not None:
        r = parse_slabinfo(text)
        if r is not None:
            r.source, r.problems = slabinfo, problems
            return r
        problems.append(Problem(slabinfo, "no nf_conntrack line (no entry allocated yet, or cache merged)"))
    r = SlabReading(problems=problems, source=sysfs)
    for name, attr in (("object_size", "objsize"), ("objects", "active_objs"), ("objs_per_slab", "objperslab")):
        text = read_text(os.path.join(sysfs, name), r.problems)
        if text is not None and text.split() and text.split()[0].isdigit():
            setattr(r, attr, int(text.split()[0]))
    return r
