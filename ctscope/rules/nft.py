"""nft rulesets (``nft list ruleset`` output and ``nft -f`` scripts) -> ``TableDef``;
and compilation of rules in modelled chains.

Tables, chains, sets and maps in block form, plus the command forms ``add|create
table/chain/rule/set/element``, ``insert rule``, ``flush ruleset|table|chain``,
``delete table`` and ``define``.  Only base chains of type filter/route hooked at
prerouting/output with a priority below conntrack's (-200), in families ip, ip6 and
inet, and the chains they jump to, are modelled.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InputError
from . import model as M
from .addr import AddrSet
from .names import NFT_PRIORITIES, PORT_PROTOS, TCP_FLAGS, icmp_type, port_number, proto_number
from .source import ChainDef, RawRule, TableDef

_TOKEN = re.compile(r"""
    (?P<nl>\n) | (?P<ws>[ \t\r]+) | (?P<comment>\#[^\n]*) | (?P<cont>\\\n)
  | (?P<str>"(?:[^"\\\n]|\\.)*")
  | (?P<op>==|!=|<=|>=|[{}();,<>&|^=@$])
  | (?P<word>[A-Za-z0-9_.:/\-\*\+\[\]%~]+)
""", re.X)

FAMILIES = ("ip", "ip6", "inet", "arp", "bridge", "netdev")
OBJECTS = ("counter", "quota", "limit", "flowtable", "secmark", "synproxy", "tunnel")


@dataclass
class Tok:
    kind: str      # word, str, op, nl
    value: str
    line: int
    pos: int = 0   # offsets in the source text
    end: int = 0

    @property
    def text(self) -> str:
        return self.value


def tokenize(text: str, path: str) -> list[Tok]:
    out: list[Tok] = []
    pos, line = 0, 1
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            bad = text[pos:].split(None, 1)[0] if text[pos:].strip() else text[pos]
            raise InputError(f"unexpected text '{bad[:30]}'", f"{path}:{line}")
        kind = m.lastgroup
        val = m.group()
        if kind == "nl":
            out.append(Tok("nl", "\n", line, pos, m.end()))
            line += 1
        elif kind == "cont":
            line += 1
        elif kind == "str":
            out.append(Tok("str", val[1:-1].replace('\\"', '"'), line, pos, m.end()))
        elif kind in ("op", "word"):
            out.append(Tok(kind, val, line, pos, m.end()))
        pos = m.end()
    return _substitute(out, path)


def _substitute(toks: list[Tok], path: str) -> list[Tok]:
    """Apply ``define NAME = value`` / ``$NAME``."""
    defs: dict[str, list[Tok]] = {}
    out: list[Tok] = []
    i = 0
    while i < len(toks):
        t = toks[i]
        if t.kind == "word" and t.value in ("define", "redefine") and (not out or out[-1].kind == "nl"):
            if i + 2 >= len(toks) or toks[i + 2].value != "=":
                raise InputError("bad 'define'", f"{path}:{t.line}")
            name = toks[i + 1].value
            j = i + 3
            val = []
            depth = 0
            while j < len(toks) and not (toks[j].kind == "nl" and depth == 0) and toks[j].value != ";":
                depth += {"{": 1, "}": -1}.get(toks[j].value, 0) if toks[j].kind == "op" else 0
                if toks[j].kind != "nl":
                    if toks[j].value == "$" and toks[j].kind == "op" and (j + 1 >= len(toks) or toks[j + 1].value not in defs):
                        name = toks[j + 1].value if j + 1 < len(toks) else ""
                        raise InputError(f"undefined variable '${name}'", f"{path}:{toks[j].line}")
                    val.extend(defs[toks[j + 1].value] if toks[j].value == "$" and toks[j].kind == "op" else [toks[j]])
                    if toks[j].value == "$" and toks[j].kind == "op":
                        j += 1
                j += 1
            defs[name] = val
            i = j
            continue
        if t.kind == "op" and t.value == "$":
            if i + 1 >= len(toks) or toks[i + 1].value not in defs:
                name = toks[i + 1].value if i + 1 < len(toks) else ""
                raise InputError(f"undefined variable '${name}'", f"{path}:{t.line}")
            out.extend(Tok(x.kind, x.value, t.line, t.pos, toks[i + 1].end) for x in defs[toks[i + 1].value])
            i += 2
            continue
        out.append(t)
        i += 1
    return out


class _Reader:
    def __init__(self, toks: list[Tok], path: str, lines: list[str], source: str = ""):
        self.toks, self.i, self.path, self.lines, self.source = toks, 0, path, lines, source

    def peek(self, k=0) -> Tok | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def next(self) -> Tok:
        t = self.peek()
        if t is None:
            raise InputError("unexpected end of file", f"{self.path}:{self.toks[-1].line if self.toks else 1}")
        self.i += 1
        return t

    def expect(self, value: str) -> Tok:
        t = self.next()
        if t.value != value or t.kind == "str":
            raise InputError(f"expected '{value}', found '{t.value}'", self.where(t))
        return t

    def where(self, t: Tok) -> str:
        return f"{self.path}:{t.line}"

    def skip_nl(self):
        while self.peek() is not None and (self.peek().kind == "nl" or self.peek().value == ";"):
            self.i += 1

    def statement(self, stop_at_brace=True) -> list[Tok]:
        """Tokens up to the end of a statement (newline or ';' outside braces)."""
        out: list[Tok] = []
        depth = 0
        while self.peek() is not None:
            t = self.peek()
            if t.kind == "op" and t.value == "}" and depth == 0 and stop_at_brace:
                break
            if depth == 0 and (t.kind == "nl" or (t.kind == "op" and t.value == ";")):
                self.i += 1
                break
            self.i += 1
            if t.kind == "op" and t.value == "{":
                depth += 1
            elif t.kind == "op" and t.value == "}":
                depth -= 1
            if t.kind == "nl":
                continue
            out.append(t)
        return out

    def block(self) -> list[Tok]:
        """Skip a balanced '{ ... }', return its inner tokens."""
        self.expect("{")
        depth, out = 1, []
        while True:
            t = self.next()
            if t.kind == "op" and t.value == "{":
                depth += 1
            elif t.kind == "op" and t.value == "}":
                depth -= 1
                if depth == 0:
                    return out
            out.append(t)

    def text(self, toks: list[Tok]) -> str:
        if not toks:
            return ""
        if self.source and toks[-1].end > toks[0].pos:
            return " ".join(self.source[toks[0].pos:toks[-1].end].split())
        a, b = toks[0].line, toks[-1].line
        return " ".join(self.lines[n - 1].strip() for n in range(a, b + 1))


def looks_like_nft(text: str) -> bool:
    return bool(re.search(r"^\s*(table|add|create|insert|flush|define|delete|destroy)\s", text, re.M)) \
        and not re.search(r"^\s*\*\w+\s*$", text, re.M)


def parse_nft(text: str, path: str) -> list[TableDef]:
    lines = text.splitlines()
    r = _Reader(tokenize(text, path), path, lines, text)
    tables: dict[tuple, TableDef] = {}

    def table_ref(toks: list[Tok], t0: Tok) -> tuple[str, str, list[Tok]]:
        if toks and toks[0].value in FAMILIES and len(toks) >= 2 and toks[1].kind in ("word", "str"):
            return toks[0].value, toks[1].value, toks[2:]
        if toks:
            return "ip", toks[0].value, toks[1:]
        raise InputError("missing table name", r.where(t0))

    def get_table(fam, name, t0) -> TableDef:
        key = (fam, name)
        if key not in tables:
            tables[key] = TableDef("nft", fam, name, r.where(t0), path=path)
        return tables[key]

    while True:
        r.skip_nl()
        t0 = r.peek()
        if t0 is None:
            break
        w = t0.value
        if w == "table" or (w in ("add", "create") and r.peek(1) and r.peek(1).value == "table"):
            if w != "table":
                r.next()
            r.next()
            head = []
            while r.peek() is not None and r.peek().value not in ("{", ";") and r.peek().kind != "nl":
                head.append(r.next())
            fam, name, rest = table_ref(head, t0)
            if rest:
                raise InputError(f"unexpected '{rest[0].value}' after table name", r.where(rest[0]))
            t = get_table(fam, name, t0)
            if r.peek() is not None and r.peek().value == "{":
                _table_body(r, t)
            continue
        if w in ("add", "create", "insert", "flush", "delete", "destroy", "list", "reset"):
            toks = r.statement(stop_at_brace=False)
            what = toks[1].value if len(toks) > 1 else ""
            if w == "flush" and what == "ruleset":
                tables.clear()
                continue
            if w in ("delete", "destroy") and what == "table":
                fam, name, _ = table_ref([x for x in toks[2:]], t0)
                if w == "delete" and (fam, name) not in tables:
                    raise InputError(f"delete of table {fam} {name} that does not exist", r.where(t0))
                tables.pop((fam, name), None)
                continue
            if w == "flush" and what in ("table", "chain"):
                fam, name, rest = table_ref(toks[2:], t0)
                t = tables.get((fam, name))
                if t:
                    for c in t.chains.values():
                        if what == "table" or (rest and c.name == rest[0].value):
                            c.rules.clear()
                continue
            if w in ("add", "create") and what == "chain":
                fam, name, rest = table_ref(toks[2:], t0)
                t = get_table(fam, name, t0)
                if not rest:
                    raise InputError("missing chain name", r.where(t0))
                cname = rest[0].value
                ch = t.chains.setdefault(cname, ChainDef(cname, r.where(t0), header=r.text(toks)))
                if len(rest) > 1 and rest[1].value == "{":
                    sub = _Reader(rest[2:-1] + [Tok("op", "}", rest[-1].line)], path, lines, text)
                    _chain_body(sub, t, ch)
                continue
            if w in ("add", "insert") and what == "rule":
                fam, name, rest = table_ref(toks[2:], t0)
                t = tables.get((fam, name))
                if t is None or not rest or rest[0].value not in t.chains:
                    raise InputError(f"rule for a chain that does not exist: {r.text(toks)}", r.where(t0))
                body = rest[1:]
                pos = None
                if len(body) >= 2 and body[0].value in ("position", "index", "handle"):
                    raise InputError(f"unsupported expression '{body[0].value}' in rule: {r.text(toks)}",
                                     r.where(t0))
                rr = RawRule(body, r.where(t0), r.text(toks))
                rules = t.chains[rest[0].value].rules
                rules.insert(0, rr) if w == "insert" else rules.append(rr)
                continue
            if w in ("add", "create") and what in ("set", "map"):
                fam, name, rest = table_ref(toks[2:], t0)
                t = get_table(fam, name, t0)
                sub = _Reader(rest[1:], path, lines, text)
                t.sets[rest[0].value] = _set_body(sub, r.where(t0), rest[0].value, inner=True)
                continue
            if w in ("add", "create") and what == "element":
                fam, name, rest = table_ref(toks[2:], t0)
                t = tables.get((fam, name))
                if t is None or not rest or rest[0].value not in t.sets:
                    raise InputError(f"element for a set that does not exist: {r.text(toks)}", r.where(t0))
                t.sets[rest[0].value]["elements"].extend(_elements(rest[1:]))
                continue
            raise InputError(f"unsupported nft command: {r.text(toks)}", r.where(t0))
        if w == "include":
            raise InputError("'include' is not supported: pass each file with --rules", r.where(t0))
        raise InputError(f"unexpected '{w}' at top level", r.where(t0))
    return list(tables.values())


def _table_body(r: _Reader, t: TableDef) -> None:
    r.expect("{")
    while True:
        r.skip_nl()
        tok = r.next()
        w = tok.value
        if tok.kind == "op" and w == "}":
            return
        if w == "chain":
            name = r.next().value
            ch = t.chains.get(name)
            if ch is None:
                ch = t.chains[name] = ChainDef(name, r.where(tok), header=f"chain {name}")
            if r.peek() is not None and r.peek().value == "{":
                r.expect("{")
                _chain_body(r, t, ch)
        elif w in ("set", "map"):
            name = r.next().value
            r.expect("{")
            t.sets[name] = _set_body(r, r.where(tok), name)
        elif w in OBJECTS or w == "ct":
            # named stateful objects: counter/quota/limit/ct helper/ct timeout/... NAME { ... }
            while r.peek() is not None and r.peek().value != "{":
                r.next()
            r.block()
        elif w in ("flags", "comment"):
            r.statement()
        else:
            raise InputError(f"unexpected '{w}' in table {t.family} {t.name}", r.where(tok))


def _chain_body(r: _Reader, t: TableDef, ch: ChainDef) -> None:
    while True:
        r.skip_nl()
        tok = r.peek()
        if tok is None:
            raise InputError(f"chain '{ch.name}' is not closed", ch.where)
        if tok.kind == "op" and tok.value == "}":
            r.next()
            return
        toks = r.statement()
        if not toks:
            continue
        w = toks[0].value
        if w == "type" and toks[0].kind == "word":
            _chain_type(toks, ch, r)
        elif w == "policy" and toks[0].kind == "word" and len(toks) == 2:
            ch.policy = toks[1].value
        elif w == "comment" and toks[0].kind == "word" and len(toks) == 2:
            pass
        elif w in ("devices", "device") and toks[0].kind == "word":
            pass
        else:
            ch.rules.append(RawRule(toks, r.where(toks[0]), r.text(toks)))


def _chain_type(toks: list[Tok], ch: ChainDef, r: _Reader) -> None:
    vals = [x.value for x in toks]
    try:
        ch.ctype = vals[1]
        ch.hook = vals[vals.index("hook") + 1]
        k = vals.index("priority") + 1
    except (ValueError, IndexError):
        raise InputError(f"bad chain type declaration: {r.text(toks)}", r.where(toks[0])) from None
    expr = vals[k:]
    if "policy" in expr:
        ch.policy = expr[expr.index("policy") + 1]
        expr = expr[:expr.index("policy")]
    ch.header = f"chain {ch.name} {{ {r.text(toks)} }}"
    try:
        base = expr[0]
        prio = NFT_PRIORITIES[base] if base in NFT_PRIORITIES else int(base)
        rest = expr[1:]
        if len(rest) == 1 and re.fullmatch(r"[+-]\d+", rest[0]):
            prio += int(rest[0])
        elif len(rest) == 2 and rest[0] in ("+", "-"):
            prio += int(rest[1]) * (1 if rest[0] == "+" else -1)
        elif rest:
            raise ValueError
    except (ValueError, IndexError):
        raise InputError(f"unsupported chain priority '{' '.join(expr)}': {r.text(toks)}",
                         r.where(toks[0])) from None
    ch.priority = prio


def _set_body(r: _Reader, where: str, name: str, inner: bool = False) -> dict:
    info = {"type": [], "flags": [], "elements": [], "where": where, "name": name, "map": False}
    while True:
        r.skip_nl()
        tok = r.peek()
        if tok is None:
            if inner:
                return info
            raise InputError(f"set '{name}' is not closed", where)
        if tok.kind == "op" and tok.value == "}":
            r.next()
            return info
        toks = r.statement()
        if not toks:
            continue
        w = toks[0].value
        if w in ("type", "typeof"):
            info["type"] = [x.value for x in toks[1:]]
            info["map"] = ":" in info["type"]
        elif w == "flags":
            info["flags"] = [x.value for x in toks[1:] if x.value != ","]
        elif w == "elements":
            body = toks[2:] if len(toks) > 1 and toks[1].value == "=" else toks[1:]
            info["elements"].extend(_elements(body))


def _elements(toks: list[Tok]) -> list[list[Tok]]:
    """Split ``{ a, b c, d }`` into element token groups."""
    if toks and toks[0].value == "{":
        toks = toks[1:-1] if toks[-1].value == "}" else toks[1:]
    out, cur, depth = [], [], 0
    for t in toks:
        if t.kind == "op" and t.value in "{(":
            depth += 1
        elif t.kind == "op" and t.value in "})":
            depth -= 1
        if depth == 0 and t.kind == "op" and t.value == ",":
            if cur:
                out.append(cur)
            cur = []
        elif t.kind != "nl":
            cur.append(t)
    if cur:
        out.append(cur)
    return out


def references(rule: RawRule) -> list[tuple[str, str]]:
    out = []
    toks = rule.tokens
    for i, t in enumerate(toks[:-1]):
        if t.kind == "word" and t.value in ("jump", "goto"):
            out.append((t.value, toks[i + 1].value))
    return out


# --- compilation -------------------------------------------------------------------

META_KEYS = ("iifname", "oifname", "iif", "oif", "mark", "l4proto", "nfproto", "protocol",
             "nftrace", "skuid", "skgid", "pkttype", "length", "priority", "iiftype", "oiftype",
             "cpu", "cgroup", "rtclassid", "ibrname", "obrname", "iifgroup", "oifgroup", "secmark")
REL_OPS = {"==": "eq", "eq": "eq", "!=": "ne", "ne": "ne", "<": "lt", "lt": "lt", ">": "gt",
           "gt": "gt", "<=": "le", "le": "le", ">=": "ge", "ge": "ge"}
L4 = {"tcp": 6, "udp": 17, "udplite": 136, "sctp": 132, "dccp": 33}
CT_STATES = ("invalid", "established", "related", "new", "untracked")


class _Compiler:
    def __init__(self, rule: RawRule, table: TableDef):
        self.rule, self.table, self.toks, self.i = rule, table, rule.tokens, 0
        self.items: list = []

    def unsupported(self, what: str, hint: str = ""):
        hint = f" ({hint})" if hint else ""
        raise InputError(f"unsupported expression '{what}'{hint} in rule: {self.rule.text}", self.rule.where)

    def peek(self, k=0):
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def next(self) -> Tok:
        t = self.peek()
        if t is None:
            self.unsupported(self.toks[-1].value + " (incomplete)")
        self.i += 1
        return t

    def at(self, *values) -> bool:
        t = self.peek()
        return t is not None and t.value in values and t.kind != "str"

    # value := '{' elems '}' | '@' name | word (',' word)*   (comma lists only for bitmasks)
    def relation(self, allow_list=False):
        op = "eq"
        t = self.peek()
        if t is not None and t.kind in ("word", "op") and t.value in REL_OPS:
            op = REL_OPS[self.next().value]
        t = self.next()
        if t.kind == "word" and t.value in (".", "vmap", "map"):
            self.unsupported(t.value if t.value != "." else ". (concatenation)")
        if t.kind == "op" and t.value == "{":
            depth, body = 1, []
            while True:
                x = self.next()
                if x.kind == "op" and x.value == "{":
                    depth += 1
                elif x.kind == "op" and x.value == "}":
                    depth -= 1
                    if depth == 0:
                        break
                body.append(x)
            elems = [self._elem(e) for e in _elements(body)]
            return op, elems, True
        if t.kind == "op" and t.value == "@":
            name = self.next().value
            s = self.table.sets.get(name)
            if s is None:
                self.unsupported(f"@{name} (no such set in table {self.table.family} {self.table.name})")
            if s["map"] or "." in s["type"]:
                self.unsupported(f"@{name} (map or concatenated set)")
            return op, [self._elem(e) for e in s["elements"]], True
        if t.kind == "op":
            self.unsupported(t.value)
        vals = [t.value]
        while allow_list and self.at(","):
            self.next()
            vals.append(self.next().value)
        return op, vals, False

    def _elem(self, toks: list[Tok]) -> str:
        if not toks:
            self.unsupported("empty set element")
        if toks[0].kind == "op":
            self.unsupported(toks[0].value)
        # ignore per-element qualifiers: timeout/expires/counter/comment
        return toks[0].value

    def compile(self) -> list:
        while self.peek() is not None:
            t = self.next()
            w = t.value
            if t.kind != "word":
                self.unsupported(w)
            if w == "meta":
                key = self.next().value
                self.meta(key)
            elif w in META_KEYS and w not in ("protocol", "l4proto", "nfproto", "length", "priority"):
                self.meta(w)
            elif w in ("ip", "ip6"):
                self.ip(w)
            elif w in L4 or w == "th":
                self.l4(w)
            elif w in ("icmp", "icmpv6"):
                self.icmp(w)
            elif w == "ct":
                self.ct()
            elif w == "fib":
                self.fib()
            elif w == "counter":
                if self.at("name"):
                    self.next(); self.next()
                while self.at("packets", "bytes"):
                    self.next(); self.next()
            elif w == "log":
                while self.at("prefix", "level", "group", "snaplen", "queue-threshold", "flags"):
                    k = self.next().value
                    self.next()
                    if k == "flags":
                        while self.at(","):
                            self.next(); self.next()
            elif w == "comment":
                self.next()
            elif w == "notrack":
                self.items.append(M.Action("notrack"))
            elif w in ("accept", "drop", "return", "continue"):
                self.items.append(M.Action(w))
                self._end()
            elif w == "reject":
                if self.at("with"):
                    self.next(); self.next()
                    if self.peek() is not None and self.peek().value not in ("comment",):
                        self.next()
                self.items.append(M.Action("drop"))
                self._end()
            elif w in ("jump", "goto"):
                self.items.append(M.Action(w, target=self.next().value))
                self._end()
            elif w == "xt":
                what = " ".join(x.value for x in self.toks[self.i - 1:self.i + 2])
                self.unsupported(what, "an iptables extension in a table written by iptables-nft: "
                                       "pass the iptables-save output with --rules instead")
            else:
                self.unsupported(w)
        return self.items

    def _end(self):
        while self.at("comment"):
            self.next(); self.next()
        if self.peek() is not None:
            self.unsupported(self.peek().value + " (after the verdict)")

    def meta(self, key: str):
        if key not in META_KEYS:
            self.unsupported(f"meta {key}")
        if self.at("set"):
            self.next()
            if key == "nftrace":
                self.next()
                return
            if key != "mark":
                self.unsupported(f"meta {key} set")
            self.mark_set()
            return
        if key == "mark":
            mmask = 0xFFFFFFFF
            if self.at("&", "and"):
                self.next()
                mmask = int(self.next().value, 0)
            op, vals, _ = self.relation()
            if len(vals) != 1 or op not in ("eq", "ne"):
                self.unsupported("meta mark " + " ".join(vals))
            self.items.append(M.MarkMatch(int(vals[0], 0), mmask, op == "ne"))
        elif key in ("iifname", "oifname", "iif", "oif"):
            op, vals, _ = self.relation()
            if op not in ("eq", "ne"):
                self.unsupported(f"{key} {op}")
            pats = []
            for v in vals:
                if key in ("iif", "oif") and v.isdigit():
                    self.unsupported(f"{key} {v} (interface index; use the name)")
                if v.endswith("*") and not v.endswith("\\*") and key.endswith("name"):
                    pats.append((v[:-1], True))
                else:
                    pats.append((v.replace("\\*", "*"), False))
            im = M.IfaceMatch("in" if key.startswith("i") else "out", tuple(pats), op == "ne", nft=True)
            im.where, im.text = self.rule.where, self.rule.text
            self.items.append(im)
        elif key == "l4proto":
            self.proto_rel(None)
        elif key in ("nfproto", "protocol"):
            op, vals, _ = self.relation()
            fams = {"ipv4": 4, "ip": 4, "ipv6": 6, "ip6": 6}
            if len(vals) != 1 or vals[0] not in fams or op not in ("eq", "ne"):
                self.unsupported(f"meta {key} {' '.join(vals)}")
            self.items.append(M.NfprotoMatch(fams[vals[0]], op == "ne"))
        else:
            self.unsupported(f"meta {key}")

    def mark_set(self):
        t = self.next()
        if t.value in ("mark", "meta"):
            if t.value == "meta":
                self.next()
            ops = {"&": "and", "and": "and", "|": "or", "or": "or", "^": "xor", "xor": "xor"}
            a, x = 0xFFFFFFFF, 0
            while self.at(*ops):
                o = ops[self.next().value]
                v = int(self.next().value, 0)
                if o == "and":
                    a, x = a & v, x & v
                elif o == "or":
                    a, x = a & ~v & 0xFFFFFFFF, x | v
                else:
                    x ^= v
            self.items.append(M.Action("mark", and_mask=a, xor=x))
        else:
            try:
                v = int(t.value, 0)
            except ValueError:
                self.unsupported(f"mark set {t.value}")
            self.items.append(M.Action("mark", and_mask=0, xor=v & 0xFFFFFFFF))

    def proto_rel(self, family):
        op, vals, _ = self.relation()
        try:
            protos = frozenset(proto_number(v) for v in vals)
        except ValueError:
            self.unsupported(" ".join(vals))
        if op not in ("eq", "ne"):
            self.unsupported(op)
        if family:
            self.items.append(M.NfprotoMatch(family))
        self.items.append(M.ProtoMatch(protos, op == "ne"))

    def ip(self, w: str):
        fam = 4 if w == "ip" else 6
        field = self.next().value
        if field in ("saddr", "daddr"):
            op, vals, _ = self.relation()
            if op not in ("eq", "ne"):
                if len(vals) != 1:
                    self.unsupported(op)
                vals = [_cmp_to_range(op, vals[0], fam)]
                op = "eq"
            try:
                aset = AddrSet.from_texts(vals, fam)
            except ValueError as exc:
                self.unsupported(f"{w} {field} {' '.join(vals)} ({exc})")
            self.items.append(M.AddrMatch("src" if field == "saddr" else "dst", aset, op == "ne"))
        elif (w, field) in (("ip", "protocol"), ("ip6", "nexthdr")):
            self.proto_rel(fam)
        elif field == "version":
            op, vals, _ = self.relation()
            self.items.append(M.NfprotoMatch(int(vals[0]), op == "ne"))
        else:
            self.unsupported(f"{w} {field}")

    def l4(self, w: str):
        field = self.next().value
        protos = frozenset(PORT_PROTOS) if w == "th" else frozenset({L4[w]})
        if field in ("sport", "dport"):
            op, vals, _ = self.relation()
            try:
                ranges = _port_ranges(op, vals)
            except ValueError:
                self.unsupported(f"{w} {field} {' '.join(vals)}")
            self.items.append(M.PortMatch(field, ranges, op == "ne", protos))
        elif w == "tcp" and field == "flags":
            self.tcp_flags()
        else:
            self.unsupported(f"{w} {field}")

    def icmp(self, w: str):
        field = self.next().value
        v6 = w == "icmpv6"
        op, vals, _ = self.relation()
        if op not in ("eq", "ne"):
            self.unsupported(f"{w} {field} {op}")
        try:
            if field == "type":
                types = tuple((icmp_type(v, v6)[0], None) for v in vals)
            elif field == "code":
                self.unsupported(f"{w} code")
            else:
                self.unsupported(f"{w} {field}")
        except ValueError:
            self.unsupported(f"{w} {field} {' '.join(vals)}")
        self.items.append(M.IcmpTypeMatch(58 if v6 else 1, types, op == "ne"))

    def tcp_flags(self):
        fm = None
        if self.at("&", "and"):
            self.next()
            fm = self._flagexpr()
        op, vals, is_set = self.relation(allow_list=True)
        try:
            if is_set:
                values = tuple(self._flagval(v) for v in vals)
                self.items.append(M.TcpFlagsMatch(fm or 0xFF, mode="in", neg=op == "ne", values=values))
                return
            v = 0
            for x in vals:
                v |= self._flagval(x)
            if self.at("/"):
                self.next()
                fm = self._flagexpr()
            if fm is not None:
                self.items.append(M.TcpFlagsMatch(fm, v & fm, "eq", op == "ne"))
            elif op == "eq" and not any(t.value == "==" for t in self.toks[:self.i]):
                self.items.append(M.TcpFlagsMatch(v, mode="any"))      # implicit: any of the bits
            else:
                self.items.append(M.TcpFlagsMatch(0xFF, v, "eq", op == "ne"))
        except KeyError as exc:
            self.unsupported(f"tcp flags {exc}")

    def _flagval(self, text: str) -> int:
        v = 0
        for part in text.split("|"):
            v |= TCP_FLAGS[part] if part in TCP_FLAGS else int(part, 0)
        return v

    def _flagexpr(self) -> int:
        v = 0
        if self.at("("):
            self.next()
            while not self.at(")"):
                x = self.next().value
                if x not in ("|", ","):
                    v |= self._flagval(x)
            self.next()
            return v
        v = self._flagval(self.next().value)
        while self.at(",", "|"):
            self.next()
            v |= self._flagval(self.next().value)
        return v

    def ct(self):
        key = self.next().value
        if self.at("set"):
            self.next()
            if key == "zone":
                v = self.next().value
                if not v.isdigit():
                    self.unsupported(f"ct zone set {v}")
                self.items.append(M.Action("zone", zone=int(v)))
                return
            if key in ("mark", "helper", "timeout", "expectation", "label", "event", "secmark"):
                # need a conntrack entry; none exists before conntrack ran: no effect
                self.next()
                while self.at("&", "|", "^", "and", "or", "xor", "mark", "meta"):
                    self.next()
                    if self.peek() is not None and self.peek().value not in ("&", "|", "^"):
                        self.next()
                return
            self.unsupported(f"ct {key} set")
        if key == "state":
            op, vals, _ = self.relation(allow_list=True)
            states = frozenset(vals)
            if not states <= set(CT_STATES) or op not in ("eq", "ne"):
                self.unsupported(f"ct state {','.join(vals)}")
            self.items.append(M.CtStateMatch(states, op == "ne"))
            return
        self.unsupported(f"ct {key}")

    def fib(self):
        flags = []
        while self.peek() is not None and (self.at("saddr", "daddr", "mark", "iif", "oif", ".")):
            if self.at("oif") and flags and flags[-1] != ".":
                break
            flags.append(self.next().value)
        flags = [f for f in flags if f != "."]
        result = self.next().value if self.peek() is not None else ""
        if result not in ("type", "oif", "oifname") or not flags or flags[0] not in ("saddr", "daddr"):
            self.unsupported("fib " + " ".join(flags + [result]))
        op, vals, _ = self.relation()
        if op not in ("eq", "ne"):
            self.unsupported(f"fib ... {result} {op}")
        if result == "type":
            if vals != ["local"] or flags not in (["daddr"], ["saddr"]):
                self.unsupported("fib " + " ".join(flags) + " type " + " ".join(vals))
            self.items.append(M.AddrTypeMatch("dst" if flags == ["daddr"] else "src", op == "ne"))
            return
        # reverse-path lookup (rpfilter): captured packets are assumed to have a route back
        if flags[0] != "saddr" or vals not in (["missing"], ["0"], ['""']):
            self.unsupported("fib " + " ".join(flags) + f" {result} " + " ".join(vals))
        self.items.append(M.ConstMatch(op == "ne", "rpfilter: captured packets assumed to pass"))


def _cmp_to_range(op: str, v: str, fam: int) -> str:
    top = "255.255.255.255" if fam == 4 else "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
    bottom = "0.0.0.0" if fam == 4 else "::"
    import ipaddress
    a = ipaddress.ip_address(v)
    if op in ("lt", "le"):
        hi = a if op == "le" else a - 1
        return f"{bottom}-{hi}"
    lo = a if op == "ge" else a + 1
    return f"{lo}-{top}"


def _port_ranges(op: str, vals: list[str]) -> tuple:
    if op in ("lt", "le", "gt", "ge"):
        if len(vals) != 1:
            raise ValueError
        p = port_number(vals[0])
        return {"lt": ((0, p - 1),), "le": ((0, p),), "gt": ((p + 1, 65535),), "ge": ((p, 65535),)}[op]
    ranges = []
    for v in vals:
        if "-" in v:
            a, b = v.split("-", 1)
            lo, hi = port_number(a), port_number(b)
            if lo > hi:
                raise ValueError(v)
        else:
            lo = hi = port_number(v)
        ranges.append((lo, hi))
    return tuple(ranges)


def compile_rule(rule: RawRule, table: TableDef, chain: ChainDef, ipsets, known_chains) -> M.Rule:
    comp = _Compiler(rule, table)
    try:
        items = comp.compile()
    except ValueError as exc:       # a number that is not one (mark, flags, version ...)
        t = comp.toks[min(comp.i, len(comp.toks)) - 1] if comp.toks else None
        comp.unsupported(t.value if t is not None else str(exc), "not a number")
    for it in items:
        if isinstance(it, M.Action) and it.kind in ("jump", "goto") and it.target not in known_chains:
            raise InputError(f"unsupported expression '{it.kind} {it.target}' (no such chain) in rule: "
                             f"{rule.text}", rule.where)
    return M.Rule(items, rule.where, rule.text, table.label, chain.name)
