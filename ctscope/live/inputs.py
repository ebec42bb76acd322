"""Offline inputs, analysed like a live host: a ``ctscope snapshot`` file, or a saved
table (``cat /proc/net/nf_conntrack``, ``conntrack -L`` default / ``-o extended`` /
``-o xml``, ctscope JSON lines) -- format detected.  A table file has no settings:
the count is the number of entries, max only if given (``--max``)."""
from __future__ import annotations

import json
import os

from ..errors import InputError
from .digest import digest
from .snapshot import KIND
from .snapshot_schema import check


def read_bytes(path: str) -> bytes:
    if path == "-":
        import sys
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path) from None


def is_snapshot(data: bytes) -> bool:
    head = data[:200].lstrip()
    return head.startswith(b"{") and f'"kind": "{KIND}"'.encode() in head.replace(b'":"', b'": "')


def load_snapshot(data: bytes, path: str) -> dict:
    try:
        snap = json.loads(data)
    except ValueError as exc:
        raise InputError(f"not a ctscope snapshot (bad JSON: {str(exc)[:80]})", path) from None
    if not isinstance(snap, dict) or snap.get("kind") != KIND:
        raise InputError("not a ctscope snapshot file", path)
    check(snap, path)                   # each part's shape: one line naming a bad field
    snap["source"] = f"snapshot {path}"
    return snap


def table_reading(data: bytes, path: str, top: int = 10) -> dict:
    """The ``table`` part of a snapshot, from a saved table file's bytes."""
    d = digest(data, top=top, name=path)
    return {"lines": d.summary.total, "unique": d.unique, "duplicates": d.summary.total - d.unique,
            "count": None, "note": f"{d.fmt} file", "format": d.fmt, "summary": d.summary.as_dict(),
            "top_source_ports": [{"src": a, "proto": p, "dport": dp, "count": n} for a, p, dp, n in d.pairs],
            "problems": []}


def load_input(path: str, top: int = 10) -> dict:
    """A snapshot dict from a saved file (snapshot or table)."""
    data = read_bytes(path)
    if is_snapshot(data):
        snap = load_snapshot(data, path)
        text = snap.get("table_text")
        stored = (snap.get("table") or {}).get("summary") or {}
        if text is not None and len(stored.get("top_sources") or []) < min(top, stored.get("total", top)):
            snap["table"] = {**snap.get("table", {}), **table_reading(text.encode(), path, top)}
        return snap
    return {"kind": "table-file", "source": f"file {os.path.basename(path)}",
            "table": table_reading(data, path, top), "sysctl": {"values": {}}}


def table_text(snap: dict) -> bytes | None:
    text = snap.get("table_text")
    return text.encode("utf-8") if isinstance(text, str) else None
