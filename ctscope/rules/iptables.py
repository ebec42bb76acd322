"""iptables-save / ip6tables-save files (and shell scripts of ``iptables`` commands,
as written in howtos) -> ``TableDef``; and compilation of rules in modelled chains.

Only the raw table's PREROUTING/OUTPUT (priority -300, before conntrack at -200) and
the user chains they reach are modelled; everything else is kept as text.
"""
from __future__ import annotations

import re
import shlex

from ..errors import InputError
from . import model as M
from .addr import AddrSet
from .names import PORT_PROTOS, TCP_FLAGS, icmp_type, port_number, proto_number
from .source import ChainDef, RawRule, TableDef

BUILTIN = {
    "raw": ("PREROUTING", "OUTPUT"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "security": ("INPUT", "FORWARD", "OUTPUT"),
}
HOOKS = {"PREROUTING": "prerouting", "INPUT": "input", "FORWARD": "forward",
         "OUTPUT": "output", "POSTROUTING": "postrouting"}
PRIORITY = {"raw": -300, "mangle": -150, "nat": -100, "filter": 0, "security": 50}

_CMD = re.compile(r"^(?:\$\s*)?(?:sudo\s+)?(?:/\S*/)?(ip6?tables)(?:-legacy|-nft)?\s+(.*)$")


def looks_like_iptables(text: str) -> bool:
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        return s.startswith(("*", ":", "-A ", "-I ", "-N ", "COMMIT")) or bool(_CMD.match(s)) \
            or s.startswith("[")
    return False


def _split(line: str, where: str) -> list[str]:
    try:
        return shlex.split(line, comments=False, posix=True)
    except ValueError as exc:
        raise InputError(f"cannot split rule ({exc}): {line}", where) from None


def parse_iptables(text: str, path: str, family: str) -> list[TableDef]:
    """Parse ``iptables-save`` output or a script of ``iptables`` commands."""
    tables: dict[tuple, TableDef] = {}
    current: TableDef | None = None

    def table(name: str, fam: str, where: str) -> TableDef:
        key = (fam, name)
        if key not in tables:
            t = TableDef("iptables", fam, name, where, path=path)
            for c in BUILTIN.get(name, ()):
                t.chains[c] = ChainDef(c, where, hook=HOOKS[c], priority=PRIORITY.get(name),
                                       header=f"{name} {c}")
            tables[key] = t
        return tables[key]

    lines = text.splitlines()
    lineno = 0
    while lineno < len(lines):
        start = lineno + 1
        line = lines[lineno]
        lineno += 1
        while line.rstrip().endswith("\\") and lineno < len(lines):
            line = line.rstrip()[:-1] + " " + lines[lineno]
            lineno += 1
        s = line.strip()
        where = f"{path}:{start}"
        if not s or s.startswith("#"):
            continue
        cmd = _CMD.match(s)
        if cmd:
            fam = "ipv6" if cmd.group(1) == "ip6tables" else "ipv4"
            toks = _split(cmd.group(2), where)
            tname = "filter"
            rest = []
            i = 0
            while i < len(toks):
                if toks[i] in ("-t", "--table") and i + 1 < len(toks):
                    tname = toks[i + 1]
                    i += 2
                elif toks[i] in ("-w", "--wait") :
                    i += 1
                    if i < len(toks) and toks[i].isdigit():
                        i += 1
                else:
                    rest.append(toks[i])
                    i += 1
            _command(table(tname, fam, where), rest, where, s)
            continue
        if s.startswith("*"):
            current = table(s[1:].strip(), family, where)
            continue
        if s == "COMMIT":
            current = None
            continue
        if current is None:
            raise InputError(f"unsupported line outside a '*table' ... 'COMMIT' block: {s}", where)
        if s.startswith(":"):
            parts = s[1:].split()
            if not parts:
                raise InputError(f"bad chain declaration: {s}", where)
            name = parts[0]
            pol = parts[1] if len(parts) > 1 else "-"
            ch = current.chains.get(name)
            if ch is None:
                ch = current.chains[name] = ChainDef(name, where, header=f"{current.name} {name}")
            if pol != "-":
                ch.policy = pol.lower()
            continue
        toks = _split(s, where)
        if toks and re.fullmatch(r"\[\d+:\d+\]", toks[0]):
            toks = toks[1:]
        _command(current, toks, where, s)
    return list(tables.values())


def _command(t: TableDef, toks: list[str], where: str, text: str) -> None:
    if not toks:
        return
    op = toks[0]
    if op in ("-A", "--append", "-I", "--insert") and len(toks) >= 2:
        ch = t.chains.get(toks[1])
        if ch is None:
            raise InputError(f"rule for undeclared chain '{toks[1]}': {text}", where)
        rest = toks[2:]
        if op in ("-I", "--insert"):
            pos = 1
            if rest and rest[0].isdigit():
                pos = int(rest[0])
                rest = rest[1:]
            ch.rules.insert(pos - 1, RawRule(rest, where, text))
        else:
            ch.rules.append(RawRule(rest, where, text))
    elif op in ("-N", "--new-chain") and len(toks) == 2:
        t.chains.setdefault(toks[1], ChainDef(toks[1], where, header=f"{t.name} {toks[1]}"))
    elif op in ("-P", "--policy") and len(toks) == 3:
        if toks[1] not in t.chains:
            raise InputError(f"policy for unknown chain '{toks[1]}': {text}", where)
        t.chains[toks[1]].policy = toks[2].lower()
    elif op in ("-F", "--flush"):
        for ch in ([t.chains[toks[1]]] if len(toks) > 1 and toks[1] in t.chains else t.chains.values()):
            ch.rules.clear()
    else:
        raise InputError(f"unsupported iptables command '{op}': {text}", where)


def references(rule: RawRule) -> list[tuple[str, str]]:
    """Chains a rule jumps/goes to: [('jump'|'goto', name)]."""
    out = []
    toks = rule.tokens
    for i, tok in enumerate(toks[:-1]):
        if tok in ("-j", "--jump"):
            out.append(("jump", toks[i + 1]))
        elif tok in ("-g", "--goto"):
            out.append(("goto", toks[i + 1]))
    return out


# --- compilation of a modelled rule -----------------------------------------------

def _ports(text: str, where: str, rule: str) -> tuple:
    ranges = []
    for part in text.split(","):
        if ":" in part:
            a, b = part.split(":", 1)
            lo = port_number(a) if a else 0
            hi = port_number(b) if b else 65535
        else:
            lo = hi = port_number(part)
        if lo > hi:
            raise ValueError(part)
        ranges.append((lo, hi))
    return tuple(ranges)


def _parse_mark(text: str) -> tuple[int, int]:
    if "/" in text:
        v, m = text.split("/", 1)
        return int(v, 0), int(m, 0)
    return int(text, 0), 0xFFFFFFFF


def compile_rule(rule: RawRule, table: TableDef, chain: ChainDef, ipsets, known_chains) -> M.Rule:
    """Compile the tokens of one rule in a modelled chain; unsupported -> InputError."""
    fam = 6 if table.family == "ipv6" else 4
    toks = rule.tokens
    items: list = []
    target: M.Action | None = None
    proto: int | None = None
    i = 0
    neg = False

    def unsupported(what: str):
        raise InputError(f"unsupported expression '{what}' in rule: {rule.text}", rule.where)

    def value() -> str:
        nonlocal i
        i += 1
        if i >= len(toks):
            unsupported(toks[i - 1] + " (missing value)")
        return toks[i]

    def port_protos(opt):
        if proto is None or proto not in PORT_PROTOS:
            unsupported(f"{opt} without -p tcp/udp/sctp/dccp/udplite")
        return frozenset({proto})

    while i < len(toks):
        tok = toks[i]
        if tok == "!":
            neg = True
            i += 1
            continue
        opt_neg, neg = neg, False
        try:
            if tok in ("-p", "--protocol"):
                p = proto_number(value())
                if p == 0:
                    if opt_neg:
                        unsupported("! -p all")
                else:
                    proto = p
                    items.append(M.ProtoMatch(frozenset({p}), opt_neg))
            elif tok in ("-s", "--source", "--src", "-d", "--destination", "--dst"):
                v = value()
                aset = AddrSet.from_texts(v.split(","), fam)
                field = "src" if tok in ("-s", "--source", "--src") else "dst"
                items.append(M.AddrMatch(field, aset, opt_neg))
            elif tok in ("-i", "--in-interface", "-o", "--out-interface"):
                v = value()
                pat = (v[:-1], True) if v.endswith("+") else (v, False)
                d = "in" if tok in ("-i", "--in-interface") else "out"
                im = M.IfaceMatch(d, (pat,), opt_neg, nft=False)
                im.where, im.text = rule.where, rule.text
                items.append(im)
            elif tok in ("-m", "--match"):
                mod = value()
                if mod not in ("tcp", "udp", "sctp", "dccp", "udplite", "multiport", "comment", "set", "icmp", "icmp6",
                               "mark", "addrtype", "rpfilter", "state", "conntrack"):
                    unsupported(f"-m {mod}")
            elif tok in ("--dport", "--destination-port", "--sport", "--source-port",
                         "--dports", "--destination-ports", "--sports", "--source-ports", "--ports"):
                v = value()
                field = "either" if tok == "--ports" else ("dport" if "d" in tok[2:4] else "sport")
                items.append(M.PortMatch(field, _ports(v, rule.where, rule.text), opt_neg, port_protos(tok)))
            elif tok in ("--icmp-type", "--icmpv6-type"):
                v = value()
                want = 58 if fam == 6 else 1
                if proto != want:
                    unsupported(f"{tok} without -p {'icmpv6' if fam == 6 else 'icmp'}")
                if v.lower() == "any":
                    pass
                else:
                    items.append(M.IcmpTypeMatch(want, (icmp_type(v, fam == 6),), opt_neg))
            elif tok == "--syn":
                port_protos(tok)
                items.append(M.TcpFlagsMatch(0x17, 0x02, "eq", opt_neg))
            elif tok == "--tcp-flags":
                mask_t, comp_t = value(), value()
                fm = _flags(mask_t)
                items.append(M.TcpFlagsMatch(fm, _flags(comp_t) & fm, "eq", opt_neg))
            elif tok == "--comment":
                value()
            elif tok == "--match-set":
                name, dirs = value(), value()
                items.append(ipsets.match(name, dirs.split(","), opt_neg, rule))
            elif tok in ("--return-nomatch", "--update-counters", "--update-subcounters"):
                pass
            elif tok in ("--packets-eq", "--packets-lt", "--packets-gt", "--bytes-eq", "--bytes-lt", "--bytes-gt"):
                unsupported(tok)
            elif tok == "--mark":
                v, m = _parse_mark(value())
                items.append(M.MarkMatch(v, m, opt_neg))
            elif tok in ("--src-type", "--dst-type"):
                types = value().upper().split(",")
                if types != ["LOCAL"]:
                    unsupported(f"{tok} {','.join(types)}")
                items.append(M.AddrTypeMatch("src" if tok == "--src-type" else "dst", opt_neg))
            elif tok in ("--limit-iface-in", "--limit-iface-out"):
                unsupported(tok)
            elif tok in ("--loose", "--validmark", "--accept-local"):
                pass
            elif tok == "--invert":
                # -m rpfilter --invert: matches packets failing the reverse-path check
                items.append(M.ConstMatch(False, "rpfilter: captured packets assumed to pass"))
            elif tok in ("--state", "--ctstate"):
                states = frozenset(s.strip().lower() for s in value().split(","))
                items.append(M.CtStateMatch(states, opt_neg))
            elif tok in ("-j", "--jump", "-g", "--goto"):
                name = value()
                target = _target(name, tok in ("-g", "--goto"), known_chains, unsupported)
            elif target is not None and target.kind in ("notrack", "zone", "template") and tok in (
                    "--notrack", "--zone", "--zone-orig", "--helper", "--ctevents", "--expevents",
                    "--timeout"):
                if tok == "--notrack":
                    target.kind = "notrack"
                elif tok in ("--zone", "--zone-orig"):
                    z = value()
                    if not z.isdigit():
                        unsupported(f"{tok} {z}")
                    target.zone = int(z)
                    if tok == "--zone-orig":
                        target.note = "CT --zone-orig modelled as --zone (one zone per packet record)"
                    if target.kind != "notrack":
                        target.kind = "zone"
                else:
                    value()
            elif target is not None and target.kind == "mark" and tok in (
                    "--set-xmark", "--set-mark", "--and-mark", "--or-mark", "--xor-mark"):
                v = value()
                if tok == "--set-xmark":
                    x, m = _parse_mark(v)
                    target.and_mask, target.xor = ~m & 0xFFFFFFFF, x
                elif tok == "--set-mark":
                    x, m = _parse_mark(v)
                    target.and_mask, target.xor = ~(m | x) & 0xFFFFFFFF, x
                elif tok == "--and-mark":
                    target.and_mask, target.xor = int(v, 0), 0
                elif tok == "--or-mark":
                    target.and_mask, target.xor = ~int(v, 0) & 0xFFFFFFFF, int(v, 0)
                else:
                    target.and_mask, target.xor = 0xFFFFFFFF, int(v, 0)
            elif target is not None and tok == "--reject-with":
                value()
            elif target is not None and target.kind == "noop" and tok.startswith(("--log-", "--nflog-", "--ulog-")):
                if tok not in ("--log-uid", "--log-tcp-sequence", "--log-tcp-options", "--log-ip-options",
                               "--log-macdecode"):
                    value()
            elif tok in ("-c", "--set-counters"):
                value()
                value()
            else:
                unsupported(tok)
        except (ValueError, KeyError) as exc:
            if isinstance(exc, InputError):
                raise
            unsupported(f"{tok} {toks[i] if i < len(toks) else ''}".strip())
        i += 1
    if neg:
        unsupported("!")
    if target is not None:
        if target.kind == "template":
            target.kind = "zone"      # CT with helper/timeout/events only: template, zone 0
        target.xt = True
        items.append(target)
    return M.Rule(items, rule.where, rule.text, table.label, chain.name)


def _flags(text: str) -> int:
    if text.upper() == "ALL":
        return 0x3F
    if text.upper() == "NONE":
        return 0
    v = 0
    for f in text.lower().split(","):
        v |= TCP_FLAGS[f]
    return v


def _target(name: str, is_goto: bool, known_chains, unsupported) -> M.Action:
    if name in known_chains:
        return M.Action("goto" if is_goto else "jump", target=name)
    if is_goto:
        unsupported(f"-g {name} (no such chain)")
    u = name.upper()
    if u == "NOTRACK":
        return M.Action("notrack")
    if u == "CT":
        return M.Action("template")
    if u == "ACCEPT":
        return M.Action("accept")
    if u in ("DROP", "REJECT"):
        return M.Action("drop")
    if u == "RETURN":
        return M.Action("return")
    if u == "MARK":
        return M.Action("mark")
    if u in ("LOG", "NFLOG", "TRACE", "ULOG"):
        return M.Action("noop")
    unsupported(f"-j {name}")
