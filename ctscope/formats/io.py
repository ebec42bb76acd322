"""Reading and writing whole files in any format, and the format detector."""
from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator

from ..errors import InputError
from .entry import FORMATS, L4_NUMS, Entry
from .jsonl import format_json, parse_json
from .text import format_conntrack, format_event, format_proc, parse_line
from .xml_flow import format_xml_flow, read_xml, write_xml

_SUMMARY_RE = re.compile(r"^conntrack v\S+ \(conntrack-tools\): \d+ flow")
_EVENT_RE = re.compile(r"^(\[\d+\.\d{6}\]\s+)?\s*\[(NEW|UPDATE|DESTROY)\]")
_EXPLODED_V6 = re.compile(r"(src|dst)=[0-9a-f]{4}:[0-9a-f]{4}:")
# formats detect_format() can answer, beyond the entry formats
ALL_FORMATS = FORMATS + ("stat", "conntrack-S", "empty", "unknown")


def open_lines(source, name: str | None = None) -> tuple[Iterable[str], str]:
    """(lines, name) for a path or an iterable of lines."""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                return fh.read().splitlines(), name or path
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror}", path) from None
    return source, name or "<input>"


def detect_format(source, sample: int = 50) -> str:
    """Name of the format of a saved file: one of ``ALL_FORMATS``.

    /proc vs ``conntrack -L -o extended`` (same grammar), judged on the first ``sample``
    lines: /proc if a line has uncompressed IPv6 or the GRE ``timeout=..,`` part, or
    ``zone=0`` (conntrack omits zone 0), or every line has ``zone=`` (6.18 always prints
    it), or every line ends in ``use=2`` (older kernels); otherwise extended.
    """
    lines, _ = open_lines(source)
    table: list[str] = []
    for line in lines:
        s = line.strip()
        if not s or _SUMMARY_RE.match(s):
            continue
        if not table:
            kind = _line_kind(s)
            if kind != "table":
                return kind
        table.append(s)
        if len(table) >= sample:
            break
    if not table:
        return "empty"
    if any(_EXPLODED_V6.search(s) or " stream_timeout=" in s or " zone=0 " in s for s in table):
        return "proc"
    if all(" zone=" in s for s in table) or all(s.endswith(" use=2") for s in table):
        return "proc"
    return "extended"


def _line_kind(s: str) -> str:
    if s.startswith(("<?xml", "<conntrack>", "<flow")):
        return "xml"
    if s.startswith("{"):
        return "jsonl"
    if s.startswith("entries "):
        return "stat"
    if s.startswith("cpu="):
        return "conntrack-S"
    if _EVENT_RE.match(s):
        return "events"
    first = s.split(None, 1)[0]
    if first in ("ipv4", "ipv6"):
        return "table"
    if first in L4_NUMS or first == "unknown":
        return "conntrack"
    return "unknown"


def read_entries(source, fmt: str | None = None, name: str | None = None) -> Iterator[Entry]:
    """Entries of a file/lines in ``fmt`` (detected when None)."""
    lines, name = open_lines(source, name)
    if not isinstance(lines, list):
        lines = list(lines)
    fmt = fmt or detect_format(lines)
    if fmt == "empty":
        return
    if fmt == "xml":
        yield from read_xml(lines, name)
        return
    if fmt not in FORMATS:
        raise InputError(f"not a conntrack table or event file (format: {fmt})", name)
    parse = parse_json if fmt == "jsonl" else parse_line
    for lineno, line in enumerate(lines, 1):
        if not line.strip() or (fmt != "jsonl" and _SUMMARY_RE.match(line.strip())):
            continue
        yield parse(line, f"{name}:{lineno}")


def format_entry(e: Entry, fmt: str) -> str:
    """One line of ``fmt`` (xml: one <flow> line)."""
    if fmt == "proc":
        return format_proc(e)
    if fmt in ("conntrack", "extended"):
        return format_conntrack(e, extended=fmt == "extended")
    if fmt == "events":
        return format_event(e, extended=True)
    if fmt == "jsonl":
        return format_json(e)
    if fmt == "xml":
        return format_xml_flow(e)
    raise ValueError(f"unknown format {fmt!r}")


def write_entries(entries: Iterable[Entry], fmt: str) -> Iterator[str]:
    """Lines of a whole file in ``fmt`` (xml with its header and <conntrack> wrapper)."""
    if fmt == "xml":
        yield from write_xml(entries)
        return
    for e in entries:
        yield format_entry(e, fmt)
