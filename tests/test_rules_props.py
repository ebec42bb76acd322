"""Property tests for the rule parsers and the vectorised evaluation.

Random raw-table rulesets are generated as plain Python objects, printed in
iptables-save and nft syntax, parsed back by ``load_rules`` and applied to random
packet batches; the verdicts must equal a brute-force, packet-by-packet Python
interpretation of the generated objects (written here, independent of ctscope's
numpy masks).
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctscope.packets.record import (ROUTE_FORWARD, ROUTE_LOCAL_IN, ROUTE_LOCAL_OUT, RULE_DROP,
                                    RULE_NONE, RULE_NOTRACK, empty_batch)
from ctscope.rules import load_rules

IFNAMES = {1: "eth0", 2: "eth1", 3: "cali12ab", 4: "lo"}
V4_POOL = [0x0A000001, 0x0A000102, 0x0AFF0001, 0xC0A80A07, 0xC0000201, 0x7F000001]
V6_POOL = [0x20010DB8 << 96 | 1, 0x20010DB8 << 96 | 0x10000, 0xFD00 << 112 | 5, 1]
PORT_POOL = [0, 1, 22, 53, 80, 81, 82, 443, 1000, 4789, 11211, 65535]
PROTO_POOL = [6, 17, 1, 132]


# --- generated rule objects -------------------------------------------------------

@dataclass
class GMatch:
    kind: str           # proto, sport, dport, saddr, daddr, iface, mark
    neg: bool = False
    named: bool = False  # addresses printed as an ipset / nft named set
    proto: int = 0
    ranges: tuple = ()
    nets: tuple = ()    # ipaddress networks, one family
    iface: tuple = ()   # (name, wildcard)
    mark: tuple = ()    # (value, mask)
    states: tuple = ()  # ct states: invalid, untracked, new
    flags: tuple = ()   # tcp flags (mask, value)


@dataclass
class GRule:
    matches: list
    action: tuple       # ("notrack",) ("zone", n) ("accept",) ("drop",) ("return",) ("jump", chain) ("mark", and, xor) ("noop",)
    pre_mark: tuple | None = None   # nft only: a mark statement before the matches


@dataclass
class GRuleset:
    flavor: str                     # "xt" | "nft"
    base: dict                      # hook -> list[GRule]
    policy: dict                    # hook -> "accept" | "drop"
    users: dict = field(default_factory=dict)   # name -> list[GRule] (jump targets, acyclic)


def nets_st(family):
    pool = V4_POOL if family == 4 else V6_POOL
    width = 32 if family == 4 else 128
    cls = ipaddress.IPv4Network if family == 4 else ipaddress.IPv6Network

    @st.composite
    def one(draw):
        base = draw(st.sampled_from(pool))
        plen = draw(st.sampled_from([width, width - 8, width - 16, width - 24]))
        return cls((base, plen), strict=False)
    return st.lists(one(), min_size=1, max_size=3)


ranges_st = st.lists(
    st.tuples(st.sampled_from(PORT_POOL), st.integers(0, 3)).map(lambda t: (t[0], min(65535, t[0] + t[1]))),
    min_size=1, max_size=3).map(tuple)


@st.composite
def matches_st(draw, flavor, hook, in_user_chain):
    """Few matches per rule, with values from the packet pools, so that rules match
    often and verdicts interact (jump/return, notrack vs zone, marks)."""
    out = []
    family = draw(st.sampled_from([4, 6])) if flavor == "nft" else 4
    proto = draw(st.sampled_from([None, None, 6, 17, 1]))
    if proto is not None:
        out.append(GMatch("proto", draw(st.booleans()) if flavor == "nft" and proto == 1 else False, proto=proto))
    if proto in (6, 17):
        for k in ("sport", "dport"):
            if draw(st.integers(0, 2)) == 0:
                out.append(GMatch(k, draw(st.booleans()), proto=proto, ranges=draw(ranges_st)))
    for k in ("saddr", "daddr"):
        if draw(st.integers(0, 4)) == 0:
            nets = draw(nets_st(family))
            neg = draw(st.booleans())
            named = draw(st.booleans())
            out.append(GMatch(k, neg, named=named, nets=tuple(nets)))
    if not in_user_chain and draw(st.integers(0, 4)) == 0:
        name = draw(st.sampled_from(["eth0", "eth", "cali", "lo", "eth1"]))
        wild = name in ("eth", "cali") or draw(st.booleans())
        out.append(GMatch("iface", draw(st.booleans()), iface=(name, wild)))
    if proto == 6 and draw(st.integers(0, 2)) == 0:
        out.append(GMatch("flags", draw(st.booleans()),
                          flags=draw(st.sampled_from([(0x17, 0x02), (0x12, 0x12), (0x04, 0x04), (0x3F, 0x10)]))))
    if draw(st.integers(0, 3)) == 0:
        out.append(GMatch("ctstate", draw(st.booleans()), states=tuple(draw(st.lists(
            st.sampled_from(["invalid", "untracked", "new"]), min_size=1, max_size=2, unique=True)))))
    if draw(st.integers(0, 2)) == 0:
        out.append(GMatch("mark", draw(st.booleans()),
                          mark=(draw(st.sampled_from([0, 1, 0x10000])), draw(st.sampled_from([0xFFFFFFFF, 0x10000, 0xFF])))))
    draw(st.randoms()).shuffle(out)
    if flavor == "xt":
        _xt_single_if_negated(out)
    return out


def _xt_single_if_negated(matches):
    """iptables: '! not allowed with multiple source or destination IP addresses'."""
    addr = [m for m in matches if m.kind in ("saddr", "daddr") and not m.named]
    if any(m.neg for m in addr):
        for m in addr:
            m.nets = m.nets[:1]


@st.composite
def action_st(draw, users_available):
    kinds = ["notrack", "notrack", "zone", "zone", "accept", "drop", "return", "mark", "mark", "noop"]
    if users_available:
        kinds += ["jump", "jump", "jump", "goto", "goto", "goto"]
    k = draw(st.sampled_from(kinds))
    if k == "zone":
        return ("zone", draw(st.integers(1, 5)))
    if k in ("jump", "goto"):
        return (k, draw(st.sampled_from(users_available)))
    if k == "mark":
        v = draw(st.sampled_from([1, 0x10000, 0x40000]))
        return draw(st.sampled_from([("mark", 0, v), ("mark", ~v & 0xFFFFFFFF, v), ("mark", ~v & 0xFFFFFFFF, 0)]))
    return (k,)


@st.composite
def ruleset_st(draw, flavor):
    n_users = draw(st.sampled_from([0, 1, 2, 2]))
    names = [f"user{i}" for i in range(n_users)]
    users = {}
    for i in reversed(range(n_users)):      # a user chain may jump only to later ones: no loops
        later = names[i + 1:]
        users[names[i]] = draw(st.lists(
            st.builds(GRule, matches_st(flavor, None, True), action_st(later)), min_size=1, max_size=4))
    base, policy = {}, {}
    for hook in ("prerouting", "output"):
        rules = draw(st.lists(st.builds(GRule, matches_st(flavor, hook, False), action_st(names)), max_size=6))
        if flavor == "nft":
            for r in rules:
                if draw(st.integers(0, 4)) == 0:
                    r.pre_mark = ("mark", 0, draw(st.sampled_from([1, 0x10000])))
        base[hook] = rules
        policy[hook] = draw(st.sampled_from(["accept"] * 5 + ["drop"]))
    return GRuleset(flavor, base, policy, users)


# --- printers -----------------------------------------------------------------------

def _xt_ports(ranges):
    return ",".join(str(a) if a == b else f"{a}:{b}" for a, b in ranges)


def _nets_text(nets):
    return [str(n.network_address) if n.prefixlen == n.max_prefixlen else str(n) for n in nets]


def print_ipsets(sets: dict) -> str:
    out = []
    for name, nets in sets.items():
        fam = "inet6" if nets[0].version == 6 else "inet"
        out.append(f"create {name} hash:net family {fam} hashsize 1024 maxelem 65536")
        out += [f"add {name} {n}" for n in nets]
    return "\n".join(out) + "\n"


def print_xt(rs: GRuleset, rnd, sets: dict) -> str:
    lines = ["*raw", f":PREROUTING {rs.policy['prerouting'].upper()} [0:0]",
             f":OUTPUT {rs.policy['output'].upper()} [0:0]"]
    lines += [f":{n} - [0:0]" for n in rs.users]
    chains = [("PREROUTING", "prerouting", rs.base["prerouting"]), ("OUTPUT", "output", rs.base["output"])]
    chains += [(n, None, r) for n, r in rs.users.items()]
    for cname, hook, rules in chains:
        for r in rules:
            parts = [f"-A {cname}"]
            for m in r.matches:
                bang = "! " if m.neg else ""
                if m.kind == "proto":
                    parts.append(f"{bang}-p {'tcp' if m.proto == 6 else 'udp' if m.proto == 17 else m.proto}")
            for m in r.matches:
                bang = "! " if m.neg else ""
                if m.kind in ("saddr", "daddr") and m.named:
                    name = f"gen{len(sets)}"
                    sets[name] = list(m.nets)
                    parts.append(f"-m set {bang}--match-set {name} {'src' if m.kind == 'saddr' else 'dst'}")
                elif m.kind in ("saddr", "daddr"):
                    parts.append(f"{bang}{'-s' if m.kind == 'saddr' else '-d'} {','.join(map(str, m.nets))}")
                elif m.kind == "iface":
                    name = m.iface[0] + ("+" if m.iface[1] else "")
                    parts.append(f"{bang}{'-i' if hook == 'prerouting' else '-o'} {name}")
                elif m.kind in ("sport", "dport"):
                    spelling = rnd.choice(["tcp", "multiport", "seed"]) if len(m.ranges) == 1 else rnd.choice(["multiport", "seed"])
                    if spelling == "seed" and any(p.startswith(("-m tcp", "-m udp")) for p in parts):
                        spelling = "multiport"   # an explicit -m tcp/udp would claim --sport/--dport
                    if spelling == "tcp":
                        parts.append(f"-m {'tcp' if m.proto == 6 else 'udp'} {bang}--{m.kind} {_xt_ports(m.ranges)}")
                    elif spelling == "multiport":
                        parts.append(f"-m multiport {bang}--{m.kind}s {_xt_ports(m.ranges)}")
                    else:   # the seed's spelling: -m multiport --dport 80,81,82
                        parts.append(f"-m multiport {bang}--{m.kind} {_xt_ports(m.ranges)}")
                elif m.kind == "mark":
                    parts.append(f"-m mark {bang}--mark {m.mark[0]:#x}/{m.mark[1]:#x}")
                elif m.kind == "flags":
                    if m.flags == (0x17, 0x02) and rnd.random() < 0.5:
                        parts.append(f"-m tcp {bang}--syn")
                    else:
                        names = lambda v: ",".join(n for n, b in (("FIN", 1), ("SYN", 2), ("RST", 4), ("PSH", 8),
                                                                 ("ACK", 16), ("URG", 32)) if v & b) or "NONE"
                        parts.append(f"-m tcp {bang}--tcp-flags {names(m.flags[0])} {names(m.flags[1])}")
                elif m.kind == "ctstate":
                    st_ = ",".join(x.upper() for x in m.states)
                    parts.append(rnd.choice([f"-m conntrack {bang}--ctstate {st_}", f"-m state {bang}--state {st_}"]))
            if rnd.random() < 0.3:
                parts.append('-m comment --comment "generated rule"')
            a = r.action
            if a[0] == "notrack":
                parts.append(rnd.choice(["-j NOTRACK", "-j CT --notrack"]))
            elif a[0] == "zone":
                parts.append(f"-j CT {rnd.choice(['--zone', '--zone-orig'])} {a[1]}")
            elif a[0] in ("accept", "drop", "return"):
                parts.append(f"-j {a[0].upper()}")
            elif a[0] == "jump":
                parts.append(f"-j {a[1]}")
            elif a[0] == "goto":
                parts.append(f"-g {a[1]}")
            elif a[0] == "mark":
                parts.append(f"-j MARK --set-xmark {a[2]:#x}/{(~a[1]) & 0xFFFFFFFF:#x}")
            else:
                parts.append("-j LOG --log-prefix \"gen: \"")
            lines.append(" ".join(parts))
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def _nft_set(items):
    return items[0] if len(items) == 1 else "{ " + ", ".join(items) + " }"


def _nft_mark(a):
    _, and_mask, xor = a
    if and_mask == 0:
        return f"meta mark set {xor:#x}"
    if xor == 0:
        return f"meta mark set meta mark & {and_mask:#010x}"
    return f"meta mark set meta mark | {xor:#x}"


def print_nft(rs: GRuleset, rnd, sets: dict) -> str:
    lines = ["table inet gen {"]
    chains = [("pre", "prerouting", rs.base["prerouting"]), ("out", "output", rs.base["output"])]
    chains += [(n, None, r) for n, r in rs.users.items()]
    for cname, hook, rules in chains:
        lines.append(f"\tchain {cname} {{")
        if hook:
            prio = rnd.choice(["raw", "-300", "raw - 10", "-250"])
            lines.append(f"\t\ttype filter hook {hook} priority {prio}; policy {rs.policy[hook]};")
        for r in rules:
            parts = []
            if r.pre_mark:
                parts.append(_nft_mark(r.pre_mark))
            for m in r.matches:
                op = "!= " if m.neg else ""
                if m.kind == "proto":
                    name = {6: "tcp", 17: "udp", 1: "icmp"}[m.proto]
                    parts.append(f"meta l4proto {op}{name}")
                elif m.kind in ("sport", "dport"):
                    pn = {6: "tcp", 17: "udp"}[m.proto] if rnd.random() < 0.8 else "th"
                    parts.append(f"{pn} {m.kind} {op}{_nft_set([str(a) if a == b else f'{a}-{b}' for a, b in m.ranges])}")
                elif m.kind in ("saddr", "daddr"):
                    kw = "ip" if m.nets[0].version == 4 else "ip6"
                    if m.named:
                        name = f"s{len(sets)}"
                        sets[name] = list(m.nets)
                        parts.append(f"{kw} {m.kind} {op}@{name}")
                    else:
                        parts.append(f"{kw} {m.kind} {op}{_nft_set(_nets_text(m.nets))}")
                elif m.kind == "iface":
                    kw = "iifname" if hook == "prerouting" else "oifname"
                    parts.append(f'{kw} {op}"{m.iface[0]}{"*" if m.iface[1] else ""}"')
                elif m.kind == "flags":
                    names = lambda v: ",".join(n for n, b in (("fin", 1), ("syn", 2), ("rst", 4), ("psh", 8),
                                                             ("ack", 16), ("urg", 32)) if v & b)
                    if m.neg or "," not in names(m.flags[0]):    # nft 1.0.6 misparses 'rst / rst meta ...'
                        op2 = "!=" if m.neg else "=="
                        parts.append(f"tcp flags & ({names(m.flags[0]).replace(',', ' | ')}) {op2} {names(m.flags[1])}")
                    else:
                        parts.append(f"tcp flags {names(m.flags[1])} / {names(m.flags[0])}")
                elif m.kind == "ctstate":
                    parts.append(f"ct state {op}{_nft_set(list(m.states)) if rnd.random() < 0.5 else ','.join(m.states)}")
                elif m.kind == "mark":
                    v, mk = m.mark
                    if mk == 0xFFFFFFFF:
                        parts.append(f"meta mark {op}{v:#x}")
                    else:
                        parts.append(f"meta mark & {mk:#010x} {'!=' if m.neg else '=='} {v & mk:#010x}")
            if rnd.random() < 0.3:
                parts.append("counter")
            a = r.action
            if a[0] == "notrack":
                parts.append("notrack")
            elif a[0] == "zone":
                parts.append(f"ct zone set {a[1]}")
            elif a[0] in ("accept", "drop", "return"):
                parts.append(a[0])
            elif a[0] in ("jump", "goto"):
                parts.append(f"{a[0]} {a[1]}")
            elif a[0] == "mark":
                parts.append(_nft_mark(a))
            else:
                parts.append('log prefix "gen: "')
            lines.append("\t\t" + " ".join(parts))
        lines.append("\t}")
    for name, nets in sets.items():          # nft wants sets declared before use
        typ = "ipv4_addr" if nets[0].version == 4 else "ipv6_addr"
        lines.insert(1, f"\tset {name} {{\n\t\ttype {typ}\n\t\tflags interval\n\t\tauto-merge\n"
                        f"\t\telements = {{ {', '.join(_nets_text(nets))} }}\n\t}}")
    lines.append("}")
    return "\n".join(lines) + "\n"


# --- brute force -----------------------------------------------------------------------

def _pkt_addr(p, which):
    v = (int(p[f"{which}_hi"]) << 64) | int(p[f"{which}_lo"])
    return ipaddress.IPv6Address(v) if p["l3"] == 6 else ipaddress.IPv4Address(v & 0xFFFFFFFF)


def _bf_match(m: GMatch, p, hook, mark, flavor, ct="none"):
    if m.kind == "flags":
        return int(p["proto"]) == 6 and (((int(p["tcpflags"]) & m.flags[0]) == m.flags[1]) != m.neg)
    if m.kind == "ctstate":
        state = {"none": "invalid", "untracked": "untracked", "template": "new"}[ct]
        return (state in m.states) != m.neg
    if m.kind == "proto":
        return (int(p["proto"]) == m.proto) != m.neg
    if m.kind in ("sport", "dport"):
        if int(p["proto"]) != m.proto:
            return False
        v = int(p[m.kind])
        return any(a <= v <= b for a, b in m.ranges) != m.neg
    if m.kind in ("saddr", "daddr"):
        if int(p["l3"]) != m.nets[0].version:
            return False
        a = _pkt_addr(p, "src" if m.kind == "saddr" else "dst")
        return any(a in n for n in m.nets) != m.neg
    if m.kind == "iface":
        name = IFNAMES[int(p["ifindex"])]
        hit = name.startswith(m.iface[0]) if m.iface[1] else name == m.iface[0]
        return hit != m.neg
    if m.kind == "mark":
        v, mk = m.mark
        return ((mark & mk) == (v & mk)) != m.neg
    raise AssertionError(m.kind)


def brute_force(rs: GRuleset, p):
    """One packet -> (rule verdict, zone)."""
    if p["skip"] != 0 or p["l3"] not in (4, 6):
        return RULE_NONE, 0
    if rs.flavor == "xt" and p["l3"] != 4:
        return RULE_NONE, 0
    hook = "output" if p["route"] == ROUTE_LOCAL_OUT else "prerouting"
    st_ = {"mark": 0, "ct": "none", "zone": 0}

    def statement(a):
        if a[0] == "mark":
            st_["mark"] = ((st_["mark"] & a[1]) ^ a[2]) & 0xFFFFFFFF
        elif a[0] == "notrack":
            if st_["ct"] == "none":
                st_["ct"] = "untracked"
        elif a[0] == "zone":
            ok = st_["ct"] == "none" if rs.flavor == "xt" else st_["ct"] != "template"
            if ok:
                st_["ct"], st_["zone"] = "template", a[1]

    def run(rules):
        """-> 'continue' (fell off / returned), 'accept' or 'drop'."""
        for r in rules:
            if r.pre_mark:
                statement(r.pre_mark)
            if not all(_bf_match(m, p, hook, st_["mark"], rs.flavor, st_["ct"]) for m in r.matches):
                continue
            a = r.action
            if a[0] in ("mark", "notrack", "zone"):
                statement(a)
            elif a[0] == "accept":
                return "accept"
            elif a[0] == "drop":
                return "drop"
            elif a[0] == "return":
                return "continue"
            elif a[0] == "jump":
                res = run(rs.users[a[1]])
                if res != "continue":
                    return res
            elif a[0] == "goto":        # the callee's return goes to our caller
                return run(rs.users[a[1]])
        return "continue"

    res = run(rs.base[hook])
    if res == "continue" and rs.policy[hook] == "drop":
        res = "drop"
    if res == "drop":
        return RULE_DROP, 0
    if st_["ct"] == "untracked":
        return RULE_NOTRACK, 0
    return RULE_NONE, st_["zone"] if st_["ct"] == "template" else 0


# --- packets ---------------------------------------------------------------------------

@st.composite
def batch_st(draw, n_max=60):
    n = draw(st.integers(1, n_max))
    b = empty_batch(n)
    for i in range(n):
        l3 = draw(st.sampled_from([4, 4, 4, 6, 6, 0]))
        b["l3"][i] = l3
        if l3 == 6:
            for w in ("src", "dst"):
                v = draw(st.sampled_from(V6_POOL)) + draw(st.sampled_from([0, 1, 0x100]))
                b[f"{w}_hi"][i], b[f"{w}_lo"][i] = v >> 64, v & ((1 << 64) - 1)
        else:
            for w in ("src", "dst"):
                b[f"{w}_lo"][i] = draw(st.sampled_from(V4_POOL)) + draw(st.sampled_from([0, 1, 0x100]))
        b["proto"][i] = draw(st.sampled_from(PROTO_POOL))
        b["sport"][i] = draw(st.sampled_from(PORT_POOL))
        b["dport"][i] = draw(st.sampled_from(PORT_POOL))
        b["ifindex"][i] = draw(st.sampled_from(list(IFNAMES)))
        b["route"][i] = draw(st.sampled_from([ROUTE_FORWARD, ROUTE_LOCAL_IN, ROUTE_LOCAL_OUT]))
        b["skip"][i] = draw(st.sampled_from([0] * 9 + [1]))
        b["tcpflags"][i] = draw(st.sampled_from([0x02, 0x12, 0x10, 0x04, 0x11, 0x14]))
    return b


def _check(tmp_path, text, rs, batch, name, sets=None):
    path = tmp_path / name
    path.write_text(text)
    ipsets = []
    if sets and name.endswith(".save"):
        (tmp_path / "gen.ipset").write_text(print_ipsets(sets))
        ipsets = [str(tmp_path / "gen.ipset")]
    ruleset = load_rules([str(path)], ipset_paths=ipsets)
    ruleset.apply(batch, IFNAMES)
    for i in range(len(batch)):
        want = brute_force(rs, batch[i])
        got = (int(batch["rule"][i]), int(batch["zone"][i]))
        assert got == want, f"packet {i}: got {got}, want {want}\n{batch[i]}\n{text}"


SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@SETTINGS
@given(rs=ruleset_st("xt"), batch=batch_st(), rnd=st.randoms())
def test_iptables_save_roundtrip_matches_brute_force(tmp_path, rs, batch, rnd):
    sets = {}
    _check(tmp_path, print_xt(rs, rnd, sets), rs, batch, "gen.save", sets)


@SETTINGS
@given(rs=ruleset_st("nft"), batch=batch_st(), rnd=st.randoms())
def test_nft_roundtrip_matches_brute_force(tmp_path, rs, batch, rnd):
    sets = {}
    _check(tmp_path, print_nft(rs, rnd, sets), rs, batch, "gen.nft", sets)


def test_brute_force_is_not_trivial():
    """The oracle itself distinguishes verdicts (guards against a vacuous property)."""
    rs = GRuleset("xt", {"prerouting": [GRule([GMatch("dport", proto=6, ranges=((80, 82),)),
                                               GMatch("proto", proto=6)], ("notrack",))],
                         "output": []}, {"prerouting": "accept", "output": "drop"})
    b = empty_batch(3)
    b["l3"] = 4
    b["proto"] = 6
    b["dport"] = [81, 83, 81]
    b["route"] = [ROUTE_LOCAL_IN, ROUTE_LOCAL_IN, ROUTE_LOCAL_OUT]
    assert [brute_force(rs, b[i]) for i in range(3)] == [(RULE_NOTRACK, 0), (RULE_NONE, 0), (RULE_DROP, 0)]


@pytest.fixture(scope="module")
def netns():
    import os
    import subprocess
    ns = f"ctsc-rules-{os.getpid()}-props"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    yield ns
    subprocess.run(["ip", "netns", "delete", ns], check=True)


def _tool_accepts(ns, cmd, text):
    import subprocess
    res = subprocess.run(["ip", "netns", "exec", ns, *cmd], input=text, capture_output=True, text=True)
    assert res.returncode == 0, f"{' '.join(cmd)}: {res.stderr}\n{text}"


KSET = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.mark.kernel
@KSET
@given(rs=ruleset_st("nft"), rnd=st.randoms())
def test_generated_nft_is_accepted_by_nft(netns, rs, rnd):
    """The generator writes real nft syntax (nft -c, inside a network namespace)."""
    _tool_accepts(netns, ["nft", "-c", "-f", "-"], print_nft(rs, rnd, {}))


@pytest.mark.kernel
@KSET
@given(rs=ruleset_st("xt"), rnd=st.randoms())
def test_generated_iptables_is_accepted_by_iptables_restore(netns, rs, rnd):
    """... and real iptables-restore syntax (without ipsets: no ipset tool here)."""
    for rules in list(rs.base.values()) + list(rs.users.values()):
        for r in rules:
            for m in r.matches:
                m.named = False
            _xt_single_if_negated(r.matches)
    # iptables-restore 1.8.9 rejected the seed's "-m multiport --dport 80,81" spelling in a
    # full test run (ctscope parses both spellings: tests above); give it the --dports form
    text = print_xt(rs, rnd, {})
    text = re.sub(r"-m multiport (! )?--(d|s)port ", r"-m multiport \1--\2ports ", text)
    _tool_accepts(netns, ["iptables-restore", "--test"], text)
