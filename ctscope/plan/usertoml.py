"""User-defined scenarios from a TOML file (``plan --scenarios FILE``).

    [[scenario]]
    name = "bigger-table"            # letters, digits, '-', '_'
    description = "what the team proposed"
    set = { nf_conntrack_max = 65536, nf_conntrack_tcp_timeout_time_wait = 60 }
    sysctl_file = ["tuned.conf"]     # sysctl.conf syntax; paths relative to this file
    rules = ["notrack.nft"]          # nft / iptables-save, added to the baseline's rules
    rules6 = []                      # ip6tables-save
    replace_rules = false            # true: these rules instead of the baseline's

Settings start from the baseline's and are changed by ``sysctl_file`` then ``set``.
"""
from __future__ import annotations

import os
import re

from ..errors import InputError
from .scenario import Scenario, derive_settings

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
_KEYS = {"name", "description", "set", "sysctl_file", "rules", "rules6", "replace_rules"}


def _toml(path: str) -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            raise InputError("reading TOML needs Python >= 3.11 (or the tomli package)", path) from None
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise InputError(f"cannot read scenarios: {exc.strerror}", path) from None
    except UnicodeDecodeError as exc:
        with open(path, "rb") as fh:
            line = fh.read()[:exc.start].count(b"\n") + 1
        raise InputError("not UTF-8 text", f"{path}:{line}") from None
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        line = m.group(1) if m else None
        if line is None and "end of document" in str(exc):
            with open(path, "rb") as fh:
                line = str(max(1, fh.read().count(b"\n") + 1))
        raise InputError(f"not valid TOML: {exc}", f"{path}:{line}" if line else path) from None


def _line_of(path: str, name: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for i, line in enumerate(fh, 1):
                if re.search(r'name\s*=\s*["\']' + re.escape(str(name)) + r'["\']', line):
                    return f"{path}:{i}"
    except OSError:
        pass
    return path


def _list(value, key: str, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise InputError(f"'{key}' must be a path or a list of paths", where)


def load_scenarios(path: str, base: Scenario, loader, taken: set) -> list[Scenario]:
    data = _toml(path)
    items = data.get("scenario")
    if not isinstance(items, list) or not items:
        raise InputError("expected one or more [[scenario]] tables", path)
    here = os.path.dirname(os.path.abspath(path))
    out = []
    for i, item in enumerate(items, 1):
        name = item.get("name")
        where = _line_of(path, name) if name else path
        if not isinstance(name, str) or not _NAME.match(name):
            raise InputError(f"scenario {i}: 'name' must be letters, digits, '-' or '_'", where)
        unknown = set(item) - _KEYS
        if unknown:
            raise InputError(f"scenario {name}: unknown key(s) {', '.join(sorted(unknown))}", where)
        if name in taken:
            raise InputError(f"scenario name {name!r} is already used", where)
        taken.add(name)
        changes = {}
        settings = derive_settings(base.settings, {})
        for f in _list(item.get("sysctl_file", []), "sysctl_file", where):
            before = dict(settings.values)
            settings.load_file(os.path.join(here, f))
            changes.update({k: v for k, v in settings.values.items() if before.get(k) != v})
        sets = item.get("set", {})
        if not isinstance(sets, dict):
            raise InputError(f"scenario {name}: 'set' must be a table of sysctl = integer", where)
        for k, v in sets.items():
            if isinstance(v, bool) or not isinstance(v, int):
                raise InputError(f"scenario {name}: {k} must be an integer", where)
            settings.set(k, str(v), where)
        for k, v in settings.values.items():
            if base.settings.values.get(k) != v:
                changes[k] = v
        r4 = [os.path.join(here, p) for p in _list(item.get("rules", []), "rules", where)]
        r6 = [os.path.join(here, p) for p in _list(item.get("rules6", []), "rules6", where)]
        replace = bool(item.get("replace_rules", False))
        rules = loader.load(extra4=r4, extra6=r6, replace=replace) if (r4 or r6 or replace) else base.rules
        desc = str(item.get("description", "")) or "user scenario"
        own_rules = bool(r4 or r6 or replace)
        sc = Scenario(name, "user", desc, settings, rules, sysctl=changes,
                      why=[f"user scenario from {os.path.basename(path)}: {desc}"], rule_paths=(r4, r6),
                      emittable=not own_rules,
                      notes=["its rule files are yours: install them as written"] if own_rules else [])
        out.append(sc)
    return out
