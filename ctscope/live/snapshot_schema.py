"""The shape of a ``ctscope snapshot`` file, as data, and its check.

A snapshot read back (``doctor --input``, ``list --input``) is checked against
``SCHEMA`` before anything analyses it, so a hand-edited or damaged file gives one line
naming the field ("table.summary.by_proto.tcp: expected an integer ≥ 0, got 'x'")
instead of a crash deep in the report.  Every part is optional (``--no-table``,
``--no-log`` and unprivileged runs leave parts out) and unknown keys are ignored
(newer files); a part that is present must have the shape ``snapshot.collect`` writes.

Hand-written rather than JSON Schema: the file is small, the check is run on every
read, and the messages name the field the way the rest of ctscope does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import InputError

_I64 = 2 ** 63 - 1


@dataclass(frozen=True)
class Int:
    lo: int = 0
    hi: int = _I64


@dataclass(frozen=True)
class Num:                   # int or float (epoch seconds)
    lo: float = 0.0
    hi: float = 1e11         # year 5138: beyond it datetime cannot format the time


@dataclass(frozen=True)
class Opt:                   # the value or null
    of: object


@dataclass(frozen=True)
class MapOf:                 # {str: value}
    of: object


@dataclass(frozen=True)
class ListOf:
    of: object


@dataclass(frozen=True)
class Row:                   # a list of exactly these: ["198.18.0.7", 812]
    of: tuple


@dataclass(frozen=True)
class OneOf:
    of: tuple


@dataclass(frozen=True)
class Record:                # an object with every one of these keys (a list's items)
    fields: dict


INT, NUM, STR, BOOL = Int(), Num(), str, bool
USEC = Int(hi=10 ** 17)      # microseconds since boot: ~3,000 years
PROBLEMS = ListOf(Record({"what": STR, "why": STR}))
TOP = ListOf(Row((STR, INT)))
SUMMARY = {"total": INT, "unique": Opt(INT), "by_proto": MapOf(INT), "by_state": MapOf(INT),
           "flags": MapOf(INT), "top_sources": TOP, "top_destinations": TOP, "top_dports": TOP,
           "top_pairs": TOP}
SCHEMA = {
    "kind": STR, "version": INT, "time": NUM, "boot_time": NUM, "hostname": STR, "kernel": STR,
    "netns": STR, "netns_inode": Opt(INT), "table_text": STR,
    "sysctl": {"values": {**{k: INT for k in ("nf_conntrack_max", "nf_conntrack_count",
                                                     "nf_conntrack_buckets", "nf_conntrack_udp_timeout")},
                          "*": OneOf((Int(lo=-_I64), STR))},       # a file's number, or its text
               "hashsize": Opt(INT), "problems": PROBLEMS},
    "stat": Opt({"entries": Opt(INT), "totals": MapOf(INT), "cpus": INT}),
    "stat_problems": PROBLEMS,
    "table": {"lines": INT, "unique": INT, "duplicates": Int(lo=-_I64), "count": Opt(INT),
              "note": STR, "reads": INT, "format": STR, "summary": Opt(SUMMARY),
              "top_source_ports": ListOf(Record({"src": STR, "proto": STR, "dport": Opt(INT), "count": INT})),
              "problems": PROBLEMS},
    "kernel_log": {"table_full": INT, "by_netns": MapOf(INT), "suppressed": MapOf(INT),
                   "first_usec": Opt(USEC), "last_usec": Opt(USEC), "samples": ListOf(STR),
                   "events": ListOf(Record({"usec": Opt(USEC), "netns": Opt(STR), "message": STR})),
                   "source": Opt(STR), "problems": PROBLEMS},
    "slab": {"active_objs": Opt(INT), "num_objs": Opt(INT), "objsize": Opt(INT),
             "objperslab": Opt(INT), "pagesperslab": Opt(INT), "bytes_in_use": Opt(INT),
             "source": Opt(STR), "problems": PROBLEMS},
    "module": {"kind": STR, "evidence": ListOf(STR), "cmdline_options": ListOf(STR),
               "problems": PROBLEMS},
    "config": {"findings": ListOf(Record({"path": STR, "lineno": INT, "kind": STR, "key": STR, "value": STR})),
               "effective": MapOf(STR), "problems": PROBLEMS},
    "rules": {"nft": Opt(STR), "iptables": Opt(STR), "ip6tables": Opt(STR), "problems": PROBLEMS},
    "kube_proxy": {"found": BOOL, "pid": Opt(INT), "source": STR, "max_per_core": Opt(INT),
                   "min": Opt(INT), "implied_max": Opt(INT), "problems": ListOf(STR)},
}


def check(snap: dict, name: str) -> None:
    """Raise ``InputError`` naming the first field of ``snap`` that is not as ``SCHEMA``."""
    why = _why(snap, SCHEMA, "")
    if why:
        raise InputError(f"not a valid ctscope snapshot: {why}", name)


def _why(value, spec, at: str) -> str | None:
    where = at or "the file"
    if isinstance(spec, Opt):
        return None if value is None else _why(value, spec.of, at)
    if isinstance(spec, OneOf):
        whys = [_why(value, sub, at) for sub in spec.of]
        return None if None in whys else whys[0]
    if isinstance(spec, Record):
        if not isinstance(value, dict):
            return f"{where}: expected an object, got {_show(value)}"
        missing = [k for k in spec.fields if k not in value]
        if missing:
            return f'{where}: "{missing[0]}" is missing'
        spec = spec.fields
    if isinstance(spec, dict):              # known keys; "*": any other key
        if not isinstance(value, dict):
            return f"{where}: expected an object, got {_show(value)}"
        rest = spec.get("*")
        for key, v in value.items():
            sub = spec.get(key, rest) if key != "*" else rest
            why = _why(v, sub, f"{at}.{key}" if at else str(key)) if sub is not None else None
            if why:
                return why
        return None
    if isinstance(spec, MapOf):
        if not isinstance(value, dict):
            return f"{where}: expected an object, got {_show(value)}"
        for key, v in value.items():
            why = _why(v, spec.of, f"{at}.{key}")
            if why:
                return why
        return None
    if isinstance(spec, (ListOf, Row)):
        if not isinstance(value, list):
            return f"{where}: expected a list, got {_show(value)}"
        if isinstance(spec, Row):
            if len(value) != len(spec.of):
                return f"{where}: expected a list of {len(spec.of)}, got {len(value)} items"
            subs = spec.of
        else:
            subs = (spec.of,) * len(value)
        for i, (v, sub) in enumerate(zip(value, subs)):
            why = _why(v, sub, f"{at}[{i}]")
            if why:
                return why
        return None
    if isinstance(spec, Int):
        if isinstance(value, bool) or not isinstance(value, int) or not spec.lo <= value <= spec.hi:
            return f"{where}: expected an integer{_range(spec)}, got {_show(value)}"
        return None
    if isinstance(spec, Num):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not math.isfinite(value) or not spec.lo <= value <= spec.hi:
            return f"{where}: expected a number{_range(spec)}, got {_show(value)}"
        return None
    if not isinstance(value, spec) or (spec is int and isinstance(value, bool)):
        return f"{where}: expected {'a string' if spec is str else 'true or false'}, got {_show(value)}"
    return None


def _range(spec) -> str:
    if spec.lo == 0:
        return " ≥ 0" if spec.hi in (_I64, 1e11) else f" in 0..{spec.hi:g}"
    return ""


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
