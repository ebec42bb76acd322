"""Rule model and its vectorised evaluation.

A rule is a sequence of *items*, evaluated left to right exactly as the kernel does
(nft expressions in order, iptables matches then target): a ``Match`` narrows the set
of packets, a statement (``Action`` without a verdict) acts on the packets that
reached it, and the rule ends with at most one verdict.  A chain is evaluated for a
boolean mask of packets at once; ``jump``/``goto``/``return`` are handled by
recursion on masks, so the cost is one numpy pass per rule item, never a Python loop
over packets.

Conntrack attachment, per packet (``CT_*``), follows the kernel:

* ``notrack`` (nft_notrack_eval) and ``-j NOTRACK``/``-j CT --notrack`` (xt_CT) only
  act on a packet that has nothing attached yet;
* ``-j CT --zone N`` (xt_CT: ``if (skb->_nfct != 0) return XT_CONTINUE``) only acts on
  a packet with nothing attached: the first CT target wins, an earlier NOTRACK wins;
* nft ``ct zone set N`` (nft_ct_set_zone_eval: ``if (ct) return``) skips a packet that
  already carries a template but *replaces* an untracked marker (untracked has no
  conntrack pointer), so ``notrack`` followed by ``ct zone set`` is tracked in zone N.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..packets.record import (PF_LOCAL_DST, PF_LOCAL_SRC, RULE_DROP,
                              RULE_NOTRACK)
from .addr import AddrSet, keys_from_words
from .names import PORT_PROTOS

CT_NONE, CT_UNTRACKED, CT_TEMPLATE = 0, 1, 2
HOOK_PREROUTING, HOOK_OUTPUT = "prerouting", "output"


class Ctx:
    """Per-hook evaluation state over the packets ``idx`` of a batch (one hook).

    Columns are gathered lazily into contiguous arrays (``col``), so that only the
    fields the rules read are copied."""

    def __init__(self, batch: np.ndarray, idx: np.ndarray, hook: str, ifnames: dict[int, str],
                 columns: dict | None = None):
        self.batch = batch
        self.columns = {} if columns is None else columns   # whole-batch contiguous columns, shared
        self.idx = idx
        self.hook = hook
        self.ifnames = ifnames
        self.n = n = len(idx)
        self.mark = np.zeros(n, dtype=np.uint32)
        self.ct = np.zeros(n, dtype=np.uint8)
        self.zone = np.zeros(n, dtype=np.uint16)
        self.dropped = np.zeros(n, dtype=bool)
        self._cols: dict[str, np.ndarray] = {}
        self._cache: dict = {}

    def col(self, name: str) -> np.ndarray:
        c = self._cols.get(name)
        if c is None:
            full = self.columns.get(name)
            if full is None:
                full = self.columns[name] = np.ascontiguousarray(self.batch[name])
            c = self._cols[name] = full if self.n == len(full) else full[self.idx]
        return c

    def col_intp(self, name: str) -> np.ndarray:
        key = ("intp", name)
        if key not in self._cache:
            self._cache[key] = self.col(name).astype(np.intp)
        return self._cache[key]

    def family(self, fam: int) -> np.ndarray:
        key = ("fam", fam)
        if key not in self._cache:
            self._cache[key] = self.col("l3") == fam
        return self._cache[key]

    def iface_known(self) -> np.ndarray:
        """Per ifindex value: does ``ifnames`` name it (table over 0..max ifindex)."""
        if "known" not in self._cache:
            size = int(self.col("ifindex").max(initial=0)) + 1
            known = np.zeros(size, dtype=bool)
            for i in self.ifnames:
                if 0 <= i < size:
                    known[i] = True
            self._cache["known"] = known
        return self._cache["known"]


class Match:
    where = ""       # file:line of the rule (for interface errors)
    text = ""

    def mask(self, ctx: Ctx, m: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


def _flip(v: np.ndarray, neg: bool) -> np.ndarray:
    return ~v if neg else v


_PROTO_TABLES: dict = {}


def proto_mask(ctx, protos) -> np.ndarray:
    """Packets whose protocol is in ``protos`` (cached per hook evaluation)."""
    key = ("proto", protos)
    hit = ctx._cache.get(key)
    if hit is None:
        p = ctx.col("proto")
        if len(protos) <= 5:
            hit = np.zeros(ctx.n, dtype=bool)
            for x in protos:
                hit |= p == x
        else:
            hit = _proto_table(protos)[p.astype(np.intp)]
        ctx._cache[key] = hit
    return hit


def _proto_table(protos) -> np.ndarray:
    t = _PROTO_TABLES.get(protos)
    if t is None:
        t = np.zeros(256, dtype=bool)
        t[list(protos)] = True
        _PROTO_TABLES[protos] = t
    return t


@dataclass
class ProtoMatch(Match):
    protos: frozenset
    neg: bool = False

    def mask(self, ctx, m):
        return _flip(proto_mask(ctx, self.protos), self.neg)


@dataclass
class NfprotoMatch(Match):
    family: int
    neg: bool = False

    def mask(self, ctx, m):
        return _flip(ctx.col("l3") == self.family, self.neg)


def _addr_contains(ctx: Ctx, aset: AddrSet, field: str, fam_mask: np.ndarray) -> np.ndarray:
    """Membership of the packets' ``field`` address (only meaningful where the packet
    is of the set's family)."""
    if not aset.intervals or not fam_mask.any():
        return np.zeros(ctx.n, dtype=bool)
    if aset.family == 4:
        return aset.contains_v4(ctx.col(f"{field}_lo"))
    out = np.zeros(ctx.n, dtype=bool)
    sel = np.flatnonzero(fam_mask)
    keys = keys_from_words(ctx.col(f"{field}_hi")[sel], ctx.col(f"{field}_lo")[sel])
    out[sel] = aset.contains(keys)
    return out


def ranges_mask(values: np.ndarray, ranges) -> np.ndarray:
    out = np.zeros(len(values), dtype=bool)
    for lo, hi in ranges:
        if lo == hi:
            out |= values == lo
        elif lo == 0:
            out |= values <= hi
        elif hi >= np.iinfo(values.dtype).max:
            out |= values >= lo
        else:
            out |= (values >= lo) & (values <= hi)
    return out


@dataclass
class PortMatch(Match):
    """``field`` is ``sport``, ``dport`` or ``either`` (multiport ``--ports``).  The
    packet must carry one of ``protos`` (the negation covers the port test only)."""

    field: str
    ranges: tuple
    neg: bool = False
    protos: frozenset = frozenset(PORT_PROTOS)

    def _hit(self, ctx, col: str) -> np.ndarray:
        v = ctx.col(col)
        if len(self.ranges) <= 6:
            return ranges_mask(v, self.ranges)
        t = self.__dict__.get("_port_table")
        if t is None:
            t = np.zeros(65536, dtype=bool)
            for lo, hi in self.ranges:
                t[lo:hi + 1] = True
            self.__dict__["_port_table"] = t
        return t[ctx.col_intp(col)]

    def mask(self, ctx, m):
        p = proto_mask(ctx, frozenset(self.protos))
        if self.field == "either":
            hit = self._hit(ctx, "sport") | self._hit(ctx, "dport")
        else:
            hit = self._hit(ctx, self.field)
        return p & _flip(hit, self.neg)


@dataclass
class IcmpTypeMatch(Match):
    """ICMP/ICMPv6 type (and code): the record keeps ``type << 8 | code`` in
    ``dport``.  ``types`` holds (type, code or None) alternatives."""

    proto: int
    types: tuple
    neg: bool = False

    def mask(self, ctx, m):
        d = ctx.col("dport")
        hit = np.zeros(ctx.n, dtype=bool)
        for t, c in self.types:
            hit |= ((d >> 8) == t) if c is None else (d == ((t << 8) | c))
        return proto_mask(ctx, frozenset({self.proto})) & _flip(hit, self.neg)


@dataclass
class TcpFlagsMatch(Match):
    """``(flags & fmask) == comp`` (mode ``eq``), ``!= 0`` (``any``), or membership of
    ``flags & fmask`` in ``values`` (``in``)."""

    fmask: int
    comp: int = 0
    mode: str = "eq"
    neg: bool = False
    values: tuple = ()

    def mask(self, ctx, m):
        f = ctx.col("tcpflags") & self.fmask
        if self.mode == "any":
            hit = f != 0
        elif self.mode == "in":
            hit = np.isin(f, list(self.values))
        else:
            hit = f == self.comp
        return (ctx.col("proto") == 6) & _flip(hit, self.neg)


@dataclass
class AddrMatch(Match):
    field: str          # "src" | "dst"
    addrs: AddrSet
    neg: bool = False

    def mask(self, ctx, m):
        fam = ctx.family(self.addrs.family)
        return fam & _flip(_addr_contains(ctx, self.addrs, self.field, fam), self.neg)


@dataclass
class IfaceMatch(Match):
    """``direction`` ``in`` (PREROUTING) or ``out`` (OUTPUT): the capture interface
    (``ifindex``) is the input interface of a received packet and the output
    interface of a locally generated one.  On the other hook the kernel has no such
    device: nft's meta load breaks the rule (no match, even negated); iptables compares
    against the empty name."""

    direction: str
    patterns: tuple      # (name, is_prefix)
    neg: bool = False
    nft: bool = False

    def _name_hits(self, name: str) -> bool:
        return any(name.startswith(p) if pre else name == p for p, pre in self.patterns)

    def mask(self, ctx, m):
        n = ctx.n
        hook_dir = "in" if ctx.hook == HOOK_PREROUTING else "out"
        if hook_dir != self.direction:
            if self.nft:
                return np.zeros(n, dtype=bool)
            return np.full(n, self._name_hits("") != self.neg)
        idx = ctx.col_intp("ifindex")
        known = ctx.iface_known()
        bad = m & ~known[idx]
        if bad.any():
            missing = int(idx[np.argmax(bad)])
            raise InputError(
                f"rule needs the name of interface index {missing} (packets captured "
                f"without an interface name); pass --iface NAME or --ifname {missing}=NAME: "
                f"{self.text}", self.where)
        table = np.zeros(len(known), dtype=bool)
        for i, name in ctx.ifnames.items():
            if 0 <= i < len(table):
                table[i] = self._name_hits(name)
        return _flip(table[idx], self.neg)


@dataclass
class MarkMatch(Match):
    value: int
    mmask: int = 0xFFFFFFFF
    neg: bool = False

    def mask(self, ctx, m):
        return _flip((ctx.mark & np.uint32(self.mmask)) == np.uint32(self.value & self.mmask), self.neg)


@dataclass
class AddrTypeMatch(Match):
    """``-m addrtype --src-type/--dst-type LOCAL`` / ``fib daddr type local``: from the
    path model's ``PF_LOCAL_SRC``/``PF_LOCAL_DST``."""

    field: str
    neg: bool = False

    def mask(self, ctx, m):
        bit = PF_LOCAL_SRC if self.field == "src" else PF_LOCAL_DST
        return _flip((ctx.col("pflags") & bit) != 0, self.neg)


@dataclass
class ConstMatch(Match):
    """A match whose outcome is fixed by the model's assumptions (e.g. ``-m rpfilter``:
    captured packets are assumed to pass the reverse-path check)."""

    value: bool
    note: str = ""

    def mask(self, ctx, m):
        return np.full(ctx.n, self.value)


CT_STATE_OF = {CT_NONE: "invalid", CT_UNTRACKED: "untracked", CT_TEMPLATE: "new"}


@dataclass
class CtStateMatch(Match):
    """``ct state`` / ``--ctstate`` before conntrack ran: nothing attached reads as
    invalid, the untracked marker as untracked, a zone/helper template as new."""

    states: frozenset
    neg: bool = False

    def mask(self, ctx, m):
        hit = np.zeros(ctx.n, dtype=bool)
        for code, name in CT_STATE_OF.items():
            if name in self.states:
                hit |= ctx.ct == code
        return _flip(hit, self.neg)


@dataclass
class IpsetPortMatch(Match):
    """ipset ``hash:ip,port`` / ``hash:net,port``: groups of (proto, port) -> addresses."""

    groups: tuple        # ((proto, port, AddrSet), ...)
    addr_field: str
    port_field: str
    neg: bool = False

    def mask(self, ctx, m):
        hit = np.zeros(ctx.n, dtype=bool)
        for proto, port, aset in self.groups:
            sel = (ctx.col("proto") == proto) & (ctx.col(self.port_field) == port) & ctx.family(aset.family)
            if sel.any():
                hit |= sel & _addr_contains(ctx, aset, self.addr_field, ctx.family(aset.family))
        return _flip(hit, self.neg)


@dataclass
class AnyOf(Match):
    """Disjunction (ipset ``list:set``; nft sets mixing families)."""

    parts: tuple
    neg: bool = False

    def mask(self, ctx, m):
        hit = np.zeros(ctx.n, dtype=bool)
        for p in self.parts:
            hit |= p.mask(ctx, m)
        return _flip(hit, self.neg)


# --- statements and verdicts ----------------------------------------------------

@dataclass
class Action:
    kind: str              # notrack | zone | mark | noop | accept | drop | return | jump | goto | continue
    xt: bool = False       # iptables (xt_CT) semantics for notrack/zone
    zone: int = 0
    and_mask: int = 0xFFFFFFFF
    xor: int = 0
    target: str = ""
    note: str = ""         # a modelling assumption this statement relies on

    @property
    def is_verdict(self) -> bool:
        return self.kind in ("accept", "drop", "return", "jump", "goto", "continue")

    def apply(self, ctx: Ctx, m: np.ndarray) -> None:
        # branch-free blends: boolean-mask assignment (np.where, ct[m] = ...) is ~100x
        # slower than bitwise arithmetic on unpredictable masks
        if self.kind == "notrack":
            sel = m & (ctx.ct == CT_NONE)
            ctx.ct |= sel.view(np.uint8)                       # 0 -> CT_UNTRACKED (1)
        elif self.kind == "zone":
            sel = m & ((ctx.ct == CT_NONE) if self.xt else (ctx.ct != CT_TEMPLATE))
            m8 = np.negative(sel.view(np.uint8))                # 0xff where selected
            ctx.ct = (ctx.ct & ~m8) | (np.uint8(CT_TEMPLATE) & m8)
            m16 = np.negative(sel.astype(np.uint16))
            ctx.zone = (ctx.zone & ~m16) | (np.uint16(self.zone) & m16)
        elif self.kind == "mark":
            new = (ctx.mark & np.uint32(self.and_mask)) ^ np.uint32(self.xor)
            m32 = np.negative(m.astype(np.uint32))
            ctx.mark = (ctx.mark & ~m32) | (new & m32)


@dataclass
class Rule:
    items: list
    where: str
    text: str
    table: str = ""
    chain: str = ""

    @property
    def verdict(self):
        last = self.items[-1] if self.items else None
        return last if isinstance(last, Action) and last.is_verdict else None

    def describe(self) -> str:
        return f"{self.where}: [{self.table} {self.chain}] {self.text}"


@dataclass
class Chain:
    name: str
    rules: list = field(default_factory=list)
    policy: str = "accept"      # base chains only
    where: str = ""


@dataclass
class BaseChain:
    chain: Chain
    hook: str
    priority: int
    families: frozenset      # {4}, {6} or {4, 6}
    chains: dict             # name -> Chain of the same table (jump targets)
    table: str
    order: int = 0


MAX_DEPTH = 64


def run_chain(ctx: Ctx, base: BaseChain, chain: Chain, active: np.ndarray, depth: int = 0) -> np.ndarray:
    """Evaluate ``chain`` for the packets in ``active``; return the packets that fall
    off its end or hit ``return`` (they continue in the caller)."""
    if depth > MAX_DEPTH:
        raise InputError(f"chain recursion deeper than {MAX_DEPTH} at chain '{chain.name}'", chain.where)
    active = active.copy()
    returned = np.zeros_like(active)
    for rule in chain.rules:
        if not active.any():
            break
        m = active.copy()
        for item in rule.items:
            if isinstance(item, Action):
                if not item.is_verdict:
                    item.apply(ctx, m)
                continue
            m &= item.mask(ctx, m)
            if not m.any():
                break
        if not m.any():
            continue
        v = rule.verdict
        if v is None or v.kind == "continue":
            continue
        if v.kind == "accept":
            active &= ~m
        elif v.kind == "drop":
            ctx.dropped |= m
            active &= ~m
        elif v.kind == "return":
            returned |= m
            active &= ~m
        else:
            r = run_chain(ctx, base, base.chains[v.target], m, depth + 1)
            if v.kind == "jump":
                active = (active & ~m) | r
            else:  # goto: returns to our caller
                returned |= r
                active &= ~m
    return returned | active


def evaluate_hook(ctx: Ctx, bases: list[BaseChain]) -> None:
    """Run every modelled base chain of one hook in priority order."""
    l3 = ctx.col("l3")
    for base in bases:
        fam = ctx.family(4) | ctx.family(6) if len(base.families) == 2 else ctx.family(next(iter(base.families)))
        active = fam & ~ctx.dropped
        if not active.any():
            continue
        fell = run_chain(ctx, base, base.chain, active)
        if base.chain.policy == "drop":
            ctx.dropped |= fell


def verdict_arrays(ctx: Ctx) -> tuple[np.ndarray, np.ndarray]:
    kept = ~ctx.dropped
    rule = ((ctx.ct == CT_UNTRACKED) & kept).view(np.uint8) * np.uint8(RULE_NOTRACK) \
        + ctx.dropped.view(np.uint8) * np.uint8(RULE_DROP)
    zone = ctx.zone * ((ctx.ct == CT_TEMPLATE) & kept).astype(np.uint16)
    return rule.astype(np.uint8), zone
