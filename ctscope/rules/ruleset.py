"""``load_rules`` and ``RuleSet``: which chains are modelled, conntrack users, and
the vectorised ``apply`` over a packet batch."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..packets.record import ROUTE_LOCAL_OUT, RULE_NONE
from . import iptables as IPT
from . import model as M
from . import nft as NFT
from .ipset import IpSets
from .names import CONNTRACK_PRIORITY
from .source import TableDef

MODELLED_HOOKS = ("prerouting", "output")


@dataclass
class ConntrackUse:
    where: str
    text: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.text}  ({self.reason})"


@dataclass
class RuleSet:
    """The modelled raw-table chains of all files, per hook, in priority order
    (iptables raw = -300; equal priorities in the order the files were given).

    ``apply``: ROUTE_LOCAL_OUT packets traverse the OUTPUT-hook chains, all others
    PREROUTING.  ``drop`` -> RULE_DROP (nothing after it runs); an untracked marker
    -> RULE_NOTRACK; a zone template -> ``zone``.  ``accept`` ends only the current
    base chain.  The packet mark starts at 0 and is carried across the raw chains.
    Assumptions that applied (rpfilter passes, ...) are listed in ``notes``."""

    bases: dict = field(default_factory=lambda: {h: [] for h in MODELLED_HOOKS})
    modelled: list = field(default_factory=list)        # "file:line: [table chain] rule"
    not_modelled: list = field(default_factory=list)
    notes: list = field(default_factory=list)           # modelling assumptions that applied
    tables: list = field(default_factory=list)
    _ct_users: list = field(default_factory=list)
    needs_interfaces: bool = False

    def conntrack_users(self) -> list[ConntrackUse]:
        """Every rule/chain, in any table, that needs conntrack (state/conntrack
        matches, ct expressions, NAT, CT targets other than --notrack, nat chains)."""
        return list(self._ct_users)

    @property
    def empty(self) -> bool:
        return not any(self.bases.values())

    def apply(self, batch: np.ndarray, ifnames: dict[int, str] | None = None) -> None:
        """Set ``batch['rule']`` and ``batch['zone']`` (in place).  Packets with
        ``skip`` != 0 or not IP never reach the hooks: RULE_NONE, zone 0."""
        ifnames = dict(ifnames or {})
        rule = np.full(len(batch), RULE_NONE, dtype=np.uint8)
        zone = np.zeros(len(batch), dtype=np.uint16)
        columns = {"l3": np.ascontiguousarray(batch["l3"])}
        l3 = columns["l3"]
        live = (batch["skip"] == 0) & ((l3 == 4) | (l3 == 6))
        out = batch["route"] == ROUTE_LOCAL_OUT
        for hook, sel in (("prerouting", live & ~out), ("output", live & out)):
            bases = self.bases[hook]
            if not bases or not sel.any():
                continue
            idx = np.flatnonzero(sel)
            ctx = M.Ctx(batch, idx, hook, ifnames, columns)
            M.evaluate_hook(ctx, bases)
            r, z = M.verdict_arrays(ctx)
            rule[idx] = r
            zone[idx] = z
        batch["rule"] = rule
        batch["zone"] = zone


# --- conntrack users ------------------------------------------------------------------

_XT_CT = [
    (re.compile(r"(^|\s)-m\s+state(\s|$)"), "state match (loads nf_conntrack)"),
    (re.compile(r"(^|\s)-m\s+conntrack(\s|$)"), "conntrack match"),
    (re.compile(r"(^|\s)-m\s+(connmark|connlimit|connbytes|connlabel|helper|cluster)(\s|$)"), "conntrack-based match"),
    (re.compile(r"(^|\s)-j\s+(DNAT|SNAT|MASQUERADE|REDIRECT|NETMAP|CONNMARK|CONNSECMARK|SYNPROXY)(\s|$)"), "NAT/conntrack target"),
]
_NFT_CT = [
    (re.compile(r"(^|\s)ct\s+(?!count\b)\w+"), "ct expression"),
    (re.compile(r"(^|\s)(dnat|snat|masquerade|redirect)(\s|$|;)"), "NAT statement"),
    (re.compile(r"(^|\s)synproxy(\s|$)"), "synproxy"),
]


def _scan_ct(table: TableDef, users: list) -> None:
    if table.kind == "iptables" and table.name == "nat":
        users.append(ConntrackUse(table.where, f"*nat ({table.label})", "nat table (iptable_nat needs conntrack)"))
    for ch in table.chains.values():
        if table.kind == "nft" and ch.ctype == "nat":
            users.append(ConntrackUse(ch.where, ch.header, "nat chain"))
        for r in ch.rules:
            text = " ".join(t.value if getattr(t, "kind", "") != "str" else f'"{t.value}"'
                            for t in r.tokens) if table.kind == "nft" else " ".join(r.tokens)
            pats = _NFT_CT if table.kind == "nft" else _XT_CT
            for rx, why in pats:
                if rx.search(text):
                    users.append(ConntrackUse(r.where, r.text, why))
                    break
            else:
                if table.kind == "iptables" and re.search(r"(^|\s)-j\s+CT(\s|$)", text) and "--notrack" not in text:
                    users.append(ConntrackUse(r.where, r.text, "CT target (zone/helper/timeout template)"))


# --- loading --------------------------------------------------------------------------

def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError as exc:
        raise InputError(f"cannot read rules file: {exc.strerror}", path) from None
    except UnicodeDecodeError:
        raise InputError("rules file is not UTF-8 text", path) from None


def parse_file(path: str, family: str) -> list[TableDef]:
    text = _read(path)
    if IPT.looks_like_iptables(text):
        return IPT.parse_iptables(text, path, family)
    if NFT.looks_like_nft(text):
        if family == "ipv6":
            raise InputError("--rules6 takes ip6tables-save files; pass nft rulesets with --rules", path)
        return NFT.parse_nft(text, path)
    if not text.strip():
        return []
    raise InputError("not an nft ruleset nor iptables-save output (or iptables commands)", f"{path}:1")


def _is_modelled(table: TableDef, ch) -> bool:
    if ch.hook not in MODELLED_HOOKS or ch.priority is None or ch.priority >= CONNTRACK_PRIORITY:
        return False
    if table.kind == "iptables":
        return table.name == "raw"
    return table.family in ("ip", "ip6", "inet") and ch.ctype in ("filter", "route")


def load_rules(paths4, paths6=(), ipset_paths=()) -> RuleSet:
    """Load rule files (``paths4``: nft rulesets or iptables-save/iptables commands,
    format detected; ``paths6``: ip6tables-save) and ipset save files."""
    ipsets = IpSets()
    for p in ipset_paths or ():
        ipsets.load(p)
    tables: list[TableDef] = []
    for p in paths4 or ():
        tables.extend(parse_file(p, "ipv4"))
    for p in paths6 or ():
        tables.extend(parse_file(p, "ipv6"))
    rs = RuleSet(tables=tables)
    order = 0
    xt_tables = {("ip" if t.family == "ipv4" else "ip6", t.name) for t in tables if t.kind == "iptables"}
    for t in tables:
        if _is_iptables_nft_copy(t, xt_tables):
            rs.notes.append(f"{t.where}: {t.label} is iptables-nft's copy of an iptables-save table "
                            f"also given: modelled once, from the iptables-save file")
            for name, ch in t.chains.items():
                rs.not_modelled.extend(f"{r.where}: [{t.label} {name}] {r.text}" for r in ch.rules)
            continue
        _scan_ct(t, rs._ct_users)
        mod = NFT if t.kind == "nft" else IPT
        base_names = [n for n, c in t.chains.items() if _is_modelled(t, c)]
        reach = _reachable(t, base_names, mod)
        compiled: dict[str, M.Chain] = {}
        for name in reach:
            ch = t.chains[name]
            chain = M.Chain(name, policy=(ch.policy or "accept").lower(), where=ch.where)
            for r in ch.rules:
                rule = mod.compile_rule(r, t, ch, ipsets, t.chains)
                chain.rules.append(rule)
                rs.modelled.append(rule.describe())
                for it in rule.items:
                    if isinstance(it, M.IfaceMatch):
                        rs.needs_interfaces = True
                    note = getattr(it, "note", "")
                    if note and note not in rs.notes:
                        rs.notes.append(note)
            if chain.policy not in ("accept", "drop"):
                raise InputError(f"unsupported chain policy '{chain.policy}'", ch.where)
            compiled[name] = chain
        for name, ch in t.chains.items():
            if name in reach:
                continue
            for r in ch.rules:
                rs.not_modelled.append(f"{r.where}: [{t.label} {name}] {r.text}")
        for name in base_names:
            ch = t.chains[name]
            rs.bases[ch.hook].append(M.BaseChain(compiled[name], ch.hook, ch.priority, t.families,
                                                 compiled, t.label, order))
            order += 1
    for hook in MODELLED_HOOKS:
        rs.bases[hook].sort(key=lambda b: (b.priority, b.order))
    rs.modelled.sort(key=_where_key)
    rs.not_modelled.sort(key=_where_key)
    return rs


def _where_key(desc: str):
    path, _, rest = desc.partition(":")
    line = rest.split(":", 1)[0]
    return (path, int(line) if line.isdigit() else 0)


def _is_iptables_nft_copy(t: TableDef, xt_tables: set) -> bool:
    """An nft listing shows the tables iptables-nft maintains (``table ip raw`` with
    chains PREROUTING/OUTPUT ...); when the iptables-save dump of the same table is
    given too, the nft copy must not be modelled a second time."""
    if t.kind != "nft" or (t.family, t.name) not in xt_tables or t.name not in IPT.BUILTIN:
        return False
    bases = [c for c in t.chains.values() if c.hook]
    return bool(bases) and all(c.name in IPT.BUILTIN[t.name] for c in bases)


def _reachable(t: TableDef, base_names: list[str], mod) -> list[str]:
    seen: list[str] = []
    stack = list(base_names)
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.append(n)
        for r in t.chains[n].rules:
            for _, target in mod.references(r):
                if target in t.chains and target not in seen:
                    stack.append(target)
    _check_loops(t, seen, mod)
    return seen


def _check_loops(t: TableDef, names: list[str], mod) -> None:
    graph = {n: [x for r in t.chains[n].rules for _, x in mod.references(r) if x in t.chains] for n in names}
    state: dict[str, int] = {}

    def visit(n, trail):
        state[n] = 1
        for m in graph.get(n, ()):
            if state.get(m) == 1:
                raise InputError(f"chain loop {' -> '.join(trail + [n, m])}", t.chains[m].where)
            if state.get(m) is None:
                visit(m, trail + [n])
        state[n] = 2

    for n in names:
        if state.get(n) is None:
            visit(n, [])
