"""Default conntrack table size by kernel era, and what a table costs in memory.

Eras (kernel-conntrack.md §2.2; "ptr" = sizeof(void *) = ARCH/8):

* **seed formula, as written** -- the 2015 blog post: buckets = RAM/131072/(ARCH/32),
  max = 8 x buckets, no cap (a 64-bit 48 GiB machine: 196,608 buckets);
* **2.6 era** (ip_conntrack, early nf_conntrack): buckets = RAM/16384/sizeof(list_head)
  (list_head = 2 pointers, i.e. the same RAM/131072/(ARCH/32)), **8192 if RAM > 1 GiB**,
  at least 16; max = 8 x buckets;
* **hlist era** (~2.6.24 .. 3.x): buckets = RAM/16384/ptr, **16384 if RAM > 1 GiB**,
  at least 32; max = 4 x buckets;
* **late 3.x/4.x .. 5.14**: as hlist, plus **65536 if RAM > 4 GiB**; max = 4 x buckets;
* **>= 5.15**: ``ctscope.engine.settings.ram_defaults`` (1024 min, 65536 > 1 GiB, 262144
  > 4 GiB on 64-bit; max = buckets).

From the hlist era on the bucket count is rounded up to a whole page of bucket heads
(PAGE_SIZE/ptr); max is computed from the rounded value (assumption for 3.x, where
the source computed max first).  Memory: ~380 B per entry as a kernel reference
(struct nf_conn in its 256 B slab object plus the usual extensions), 256 B for the slab
object alone, plus one bucket head (ptr; 2 ptr for the 2.6 list_head) per bucket.
"""
from __future__ import annotations

import os
import struct
from dataclasses import asdict, dataclass, field

from ..engine.settings import host_ram, ram_defaults

GIB = 1 << 30
ENTRY_BYTES_REFERENCE = 380      # kernel reference incl. extensions
ENTRY_BYTES_SLAB = 256           # nf_conntrack slab object (6.x, x86_64)
PAGE = 4096


@dataclass
class SizeRow:
    """One labelled row of ``ctscope size``."""

    label: str
    kernels: str
    rule: str
    buckets: int
    max: int
    head_bytes: int                  # bytes per bucket head
    entry_bytes: int = ENTRY_BYTES_REFERENCE
    slab_bytes: int = ENTRY_BYTES_SLAB

    @property
    def factor(self) -> float:
        return self.max / self.buckets if self.buckets else 0.0

    @property
    def hash_bytes(self) -> int:
        return self.buckets * self.head_bytes

    @property
    def memory_at_max(self) -> int:
        """Reference memory with the table full: entries + hash table."""
        return self.max * self.entry_bytes + self.hash_bytes

    @property
    def slab_at_max(self) -> int:
        return self.max * self.slab_bytes + self.hash_bytes

    def as_dict(self) -> dict:
        d = asdict(self)
        d.update(factor=self.factor, hash_bytes=self.hash_bytes, memory_at_max=self.memory_at_max,
                 slab_at_max=self.slab_at_max)
        return d


def _round_page(buckets: int, ptr: int, page: int = PAGE) -> int:
    per_page = page // ptr
    return -(-buckets // per_page) * per_page


def seed_formula(ram: int, arch: int = 64) -> tuple[int, int]:
    """(buckets, max) by the seed's formula as written: RAM/131072/(ARCH/32), max 8x."""
    buckets = ram // 131072 // (arch // 32)
    return buckets, 8 * buckets


def era_26(ram: int, arch: int = 64) -> tuple[int, int]:
    """2.6 era: RAM/16384/sizeof(list_head), 8192 above 1 GiB, min 16; max 8x."""
    buckets = ram // 16384 // (2 * arch // 8)
    if ram > GIB:
        buckets = 8192
    buckets = max(buckets, 16)
    return buckets, 8 * buckets


def era_hlist(ram: int, arch: int = 64) -> tuple[int, int]:
    """hlist era: RAM/16384/ptr, 16384 above 1 GiB, min 32; max 4x."""
    buckets = ram // 16384 // (arch // 8)
    if ram > GIB:
        buckets = 16384
    buckets = _round_page(max(buckets, 32), arch // 8)
    return buckets, 4 * buckets


def era_late(ram: int, arch: int = 64) -> tuple[int, int]:
    """late 3.x/4.x .. 5.14: as hlist plus 65536 above 4 GiB; max 4x."""
    buckets = ram // 16384 // (arch // 8)
    if ram > 4 * GIB:
        buckets = 65536
    elif ram > GIB:
        buckets = 16384
    buckets = _round_page(max(buckets, 32), arch // 8)
    return buckets, 4 * buckets


def era_rows(ram: int, arch: int = 64) -> list[SizeRow]:
    """The default table size of every kernel era for ``ram`` bytes and ``arch`` bits."""
    ptr = arch // 8
    rows = []
    b, m = seed_formula(ram, arch)
    rows.append(SizeRow("seed formula (as written)", "2015 blog post",
                        "buckets = RAM/131072/(ARCH/32), max = 8 x buckets, no cap", b, m, 2 * ptr))
    b, m = era_26(ram, arch)
    rows.append(SizeRow("2.6 era default", "2.4.x .. ~2.6.2x",
                        "RAM/16384/sizeof(list_head); 8192 if RAM > 1 GiB; max = 8 x", b, m, 2 * ptr))
    b, m = era_hlist(ram, arch)
    rows.append(SizeRow("hlist era default", "~2.6.24 .. 3.x",
                        "RAM/16384/sizeof(hlist_head); 16384 if RAM > 1 GiB; max = 4 x", b, m, ptr))
    b, m = era_late(ram, arch)
    rows.append(SizeRow("late 3.x .. 5.14 default", "late 3.x, 4.x .. 5.14",
                        "as hlist; 65536 if RAM > 4 GiB; max = 4 x", b, m, ptr))
    b, m = ram_defaults(ram, arch)
    rows.append(SizeRow(">= 5.15 default", "5.15 .. 6.18",
                        "RAM/16384/ptr, min 1024; 65536 > 1 GiB; 262144 > 4 GiB (64-bit); max = buckets",
                        b, m, ptr))
    return rows


def requested_row(max_entries: int, arch: int = 64, buckets: int | None = None) -> SizeRow:
    """Memory for a requested nf_conntrack_max (buckets = max unless given: the 5.15+ ratio)."""
    buckets = buckets or max_entries
    return SizeRow(f"requested --max {max_entries}", "any", "nf_conntrack_max as requested, "
                   f"nf_conntrack_buckets = {buckets}", buckets, max_entries, arch // 8)


@dataclass
class MachineValues:
    """This machine's actual values, read (never written) from /proc and /sys."""

    ram: int = 0
    arch: int = 64
    max: int | None = None
    buckets: int | None = None
    count: int | None = None
    slab_objsize: int | None = None
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def read_machine(netfilter: str = "/proc/sys/net/netfilter") -> MachineValues:
    from ..live.slab import read_slab
    m = MachineValues(ram=host_ram(), arch=struct.calcsize("P") * 8)
    for name in ("max", "buckets", "count"):
        path = os.path.join(netfilter, f"nf_conntrack_{name}")
        try:
            with open(path) as fh:
                setattr(m, name, int(fh.read().strip()))
        except (OSError, ValueError) as exc:
            m.problems.append(f"{path}: {getattr(exc, 'strerror', None) or exc}")
    slab = read_slab()
    m.slab_objsize = slab.objsize
    if slab.objsize is None:
        m.problems += [f"{p.what}: {p.why}" for p in slab.problems]
    return m
