"""``ipset save`` files: ``create NAME TYPE [options]`` / ``add NAME ENTRY [options]``."""
from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from ..errors import InputError
from . import model as M
from .addr import AddrSet, parse_addr
from .names import port_number, proto_number

SUPPORTED = ("hash:ip", "hash:net", "bitmap:ip", "hash:ip,port", "hash:net,port", "list:set")


@dataclass
class IpSet:
    name: str
    type: str
    family: int
    where: str
    entries: list = field(default_factory=list)     # (text, nomatch, where)


class IpSets:
    def __init__(self):
        self.sets: dict[str, IpSet] = {}

    def load(self, path: str) -> None:
        try:
            with open(path, encoding="utf-8") as fh:
                lines = fh.read().splitlines()
        except OSError as exc:
            raise InputError(f"cannot read ipset file: {exc.strerror}", path) from None
        except UnicodeDecodeError:
            raise InputError("ipset file is not UTF-8 text", path) from None
        for n, line in enumerate(lines, 1):
            where = f"{path}:{n}"
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            try:
                toks = shlex.split(s)
            except ValueError as exc:           # "No closing quotation"
                raise InputError(f"{exc}: {s}", where) from None
            if toks[0] in ("create", "-N", "-exist") and len(toks) >= 3:
                fam = 4
                if "family" in toks:
                    f = toks[toks.index("family") + 1] if toks.index("family") + 1 < len(toks) else ""
                    fam = 6 if f == "inet6" else 4
                self.sets[toks[1]] = IpSet(toks[1], toks[2], fam, where)
            elif toks[0] in ("add", "-A") and len(toks) >= 3:
                st = self.sets.get(toks[1])
                if st is None:
                    raise InputError(f"'add' to an ipset that was not created: {s}", where)
                st.entries.append((toks[2], "nomatch" in toks[3:], where))
            else:
                raise InputError(f"unsupported ipset line: {s}", where)

    def match(self, name: str, dirs: list[str], neg: bool, rule) -> M.Match:
        st = self.sets.get(name)
        if st is None:
            raise InputError(f"ipset '{name}' is not defined (pass its 'ipset save' file with "
                             f"--ipset FILE) in rule: {rule.text}", rule.where)
        if st.type not in SUPPORTED:
            raise InputError(f"unsupported expression 'ipset type {st.type}' in rule: {rule.text}", rule.where)
        if any(d not in ("src", "dst") for d in dirs):
            raise InputError(f"unsupported expression '--match-set {name} {','.join(dirs)}' in rule: "
                             f"{rule.text}", rule.where)
        return self._match(st, dirs, neg, rule, depth=0)

    def _match(self, st: IpSet, dirs, neg, rule, depth) -> M.Match:
        try:
            if st.type == "list:set":
                if depth > 4:
                    raise InputError(f"ipset list:set nesting too deep: {st.name}", st.where)
                parts = tuple(self._match(self.sets[e], dirs, False, rule, depth + 1) for e, _, _ in st.entries)
                return M.AnyOf(parts, neg)
            dims = st.type.split(":")[1].count(",") + 1
            if len(dirs) < dims:
                return M.ConstMatch(neg, f"ipset {st.name} needs {dims} directions")
            field = dirs[0]
            if dims == 1:
                good = AddrSet.from_texts([e for e, nm, _ in st.entries if not nm], st.family)
                bad = AddrSet.from_texts([e for e, nm, _ in st.entries if nm], st.family)
                return M.AddrMatch(field, good.minus(bad), neg)
            groups: dict[tuple, list] = {}
            for e, _, _ in st.entries:
                addr, port = e.rsplit(",", 1)
                proto = 6
                if ":" in port:
                    pname, port = port.split(":", 1)
                    proto = proto_number(pname)
                _, a, b = parse_addr(addr, st.family)
                groups.setdefault((proto, port_number(port)), []).append((a, b))
            g = tuple((p, q, AddrSet.from_intervals(st.family, iv)) for (p, q), iv in groups.items())
            return M.IpsetPortMatch(g, field, "dport" if dirs[1] == "dst" else "sport", neg)
        except (ValueError, KeyError) as exc:
            raise InputError(f"bad ipset entry in set '{st.name}' ({exc}) used by rule: {rule.text}",
                             st.where) from None
