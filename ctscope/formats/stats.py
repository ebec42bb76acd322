"""Per-CPU statistics: ``/proc/net/stat/nf_conntrack`` and ``conntrack -S``.

The /proc file is read **by header name** (columns moved between kernels: ``searched`` ->
``clashres`` in 5.10, ``delete_list`` -> ``chainlength`` in 5.15), values are hex and
per CPU; ``entries`` repeats the netns count on every line and is not summed.
``StatTable.totals()`` maps everything to the ``conntrack -S`` names.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import InputError

# conntrack -S names, in the order conntrack-tools 1.4.7 prints them
S_NAMES = ("found", "invalid", "insert", "insert_failed", "drop", "early_drop", "error",
           "search_restart", "clash_resolve", "chaintoolong")
# /proc column -> conntrack -S name
PROC_TO_S = {"clashres": "clash_resolve", "chainlength": "chaintoolong", "icmp_error": "error"}
S_TO_PROC = {v: k for k, v in PROC_TO_S.items()}
PROC_HEADER = ("entries  clashres found new invalid ignore delete chainlength insert insert_failed "
               "drop early_drop icmp_error  expect_new expect_create expect_delete search_restart")
_HEX_RE = re.compile(r"^[0-9a-fA-F]{1,16}$")
_CPU_RE = re.compile(r"^cpu=(\d+)\s+(.*)$")
_KV_RE = re.compile(r"^([a-z_]+[0-9]*)=(\d+)$")


@dataclass
class StatTable:
    """Counters per CPU, keyed by conntrack -S names (plus any other column names)."""

    cpus: list[dict[str, int]] = field(default_factory=list)
    entries: int | None = None

    def totals(self) -> dict[str, int]:
        """Sum over CPUs of every counter, the -S names always present."""
        out = dict.fromkeys(S_NAMES, 0)
        for cpu in self.cpus:
            for key, value in cpu.items():
                out[key] = out.get(key, 0) + value
        return out


def parse_proc_stat(lines, name: str = "/proc/net/stat/nf_conntrack") -> StatTable:
    """Parse the /proc stat file (header + one hex line per CPU)."""
    rows = [(n, line.split()) for n, line in enumerate(lines, 1) if line.strip()]
    if not rows:
        raise InputError("empty statistics file", name)
    header = rows[0][1]
    if "entries" not in header or any(not re.match(r"^[a-z_]+$", h) for h in header):
        raise InputError("first line is not the statistics header", f"{name}:{rows[0][0]}")
    table = StatTable()
    for lineno, values in rows[1:]:
        where = f"{name}:{lineno}"
        if len(values) != len(header):
            raise InputError(f"{len(values)} values for {len(header)} columns", where)
        cpu: dict[str, int] = {}
        for col, text in zip(header, values):
            if not _HEX_RE.match(text):
                raise InputError(f"{col}: {text[:20]!r} is not hexadecimal", where)
            value = int(text, 16)
            if col == "entries":
                table.entries = value
            elif col not in ("new", "ignore", "delete") or value:
                cpu[PROC_TO_S.get(col, col)] = value
        table.cpus.append(cpu)
    return table


def format_proc_stat(table: StatTable) -> list[str]:
    """The 6.18 /proc stat file (header and one %08x line per CPU)."""
    out = [PROC_HEADER]
    cols = PROC_HEADER.split()
    for cpu in table.cpus:
        vals = []
        for col in cols:
            value = (table.entries or 0) if col == "entries" else cpu.get(PROC_TO_S.get(col, col), 0)
            vals.append(f"{value:08x}")
        out.append(f"{vals[0]}  {' '.join(vals[1:13])}  {' '.join(vals[13:])}")
    return out


def parse_conntrack_s(lines, name: str = "<conntrack -S>") -> StatTable:
    """Parse ``conntrack -S`` output (``cpu=N<TAB>key=value ...``)."""
    table = StatTable()
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{name}:{lineno}"
        m = _CPU_RE.match(line.strip())
        if not m:
            raise InputError(f"expected 'cpu=N key=value ...', got {line.strip()[:40]!r}", where)
        if int(m.group(1)) != len(table.cpus):
            raise InputError(f"cpu={m.group(1)} out of order", where)
        cpu: dict[str, int] = {}
        for tok in m.group(2).split():
            kv = _KV_RE.match(tok)
            if not kv:
                raise InputError(f"expected key=value, got {tok[:30]!r}", where)
            if kv.group(1) == "entries":
                table.entries = int(kv.group(2))
            else:
                cpu[PROC_TO_S.get(kv.group(1), kv.group(1))] = int(kv.group(2))
        table.cpus.append(cpu)
    if not table.cpus:
        raise InputError("no 'cpu=' lines", name)
    return table


def format_conntrack_s(table: StatTable) -> list[str]:
    """``conntrack -S`` lines as 1.4.7 prints them (``cpu=%-4u`` TAB ..., trailing space)."""
    out = []
    for n, cpu in enumerate(table.cpus):
        body = "".join(f"{k}={cpu.get(k, 0)} " for k in S_NAMES)
        out.append(f"cpu={n:<4d}\t{body}")
    return out
