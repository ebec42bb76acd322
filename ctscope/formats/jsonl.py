"""JSON lines: one ``Entry.to_dict()`` object per line (fields that are None/False left out)."""
from __future__ import annotations

import json
from dataclasses import fields

from ..errors import InputError
from .entry import Entry, Tuple
from .checks import check_tuple

_TUPLE_FIELDS = {f.name for f in fields(Tuple)}
_ENTRY_FIELDS = {f.name: f for f in fields(Entry)}
_STR_FIELDS = {"l3", "l4", "state", "secctx", "helper", "event", "userspace"}
_BOOL_FIELDS = {"unreplied", "assured", "offload", "hw_offload"}


def format_json(e: Entry) -> str:
    """One JSON line (without newline)."""
    return json.dumps(e.to_dict(), separators=(",", ":"))


def _tuple(obj, name: str, where: str) -> Tuple:
    if not isinstance(obj, dict) or not obj.keys() <= _TUPLE_FIELDS:
        raise InputError(f"'{name}' must be an object with keys from {sorted(_TUPLE_FIELDS)}", where)
    for key, value in obj.items():
        want = str if key in ("src", "dst") else int
        if type(value) is not want or (want is int and value < 0):
            raise InputError(f"'{name}.{key}' must be a {'string' if want is str else 'non-negative integer'}", where)
    return Tuple(**{"src": None, "dst": None, **obj})


def parse_json(line: str, where: str = "<json>") -> Entry:
    """Read one JSON line written by ``format_json``."""
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise InputError(f"bad JSON: {str(exc)[:80]}", where) from None
    if not isinstance(obj, dict):
        raise InputError("a JSON line must hold an object", where)
    unknown = obj.keys() - _ENTRY_FIELDS.keys()
    if unknown:
        raise InputError(f"unknown key {sorted(unknown)[0][:30]!r}", where)
    if "orig" not in obj or "reply" not in obj:
        raise InputError("'orig' and 'reply' are required", where)
    kwargs = {}
    for key, value in obj.items():
        if key in ("orig", "reply"):
            kwargs[key] = _tuple(value, key, where)
        elif key in _STR_FIELDS:
            if not isinstance(value, str):
                raise InputError(f"'{key}' must be a string", where)
            kwargs[key] = value
        elif key in _BOOL_FIELDS:
            if not isinstance(value, bool):
                raise InputError(f"'{key}' must be true or false", where)
            kwargs[key] = value
        else:
            if type(value) is not int or value < 0:
                raise InputError(f"'{key}' must be a non-negative integer", where)
            kwargs[key] = value
    e = Entry(**kwargs)
    check_tuple(e, e.orig, "original", where)
    check_tuple(e, e.reply, "reply", where)
    return e
