"""NOTRACK emitters: the files parse back with ``load_rules`` and untrack exactly the
packets a brute-force reading of the matches says (both directions, both hooks);
and the real ``nft`` / ``iptables-restore`` accept them (inside a throw-away network
namespace), with the kernel's own listing parsing back to the same verdicts."""
from __future__ import annotations

import ipaddress
import itertools
import os
import subprocess

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctscope.packets.record import ROUTE_FORWARD, ROUTE_LOCAL_IN, ROUTE_LOCAL_OUT, RULE_NONE, RULE_NOTRACK, empty_batch
from ctscope.rules import NotrackMatch, emit_iptables_notrack, emit_nft_notrack, load_rules

V4 = ["10.0.0.0/8", "10.1.2.0/24", "192.168.10.7/32", "172.16.0.0/12"]
V6 = ["2001:db8::/32", "fd00::5/128", "2001:db8:1::/48"]
PORTS = [0, 22, 53, 80, 81, 82, 443, 4789, 11211, 65535]
ADDR4 = ["10.1.2.3", "10.9.9.9", "192.168.10.7", "172.20.0.1", "8.8.8.8"]
ADDR6 = ["2001:db8::1", "2001:db8:1::7", "fd00::5", "2002::1"]


@st.composite
def match_st(draw):
    proto = draw(st.sampled_from([None, 6, 17, 1, 47]))
    ports = proto in (None, 6, 17)
    rng = st.lists(st.tuples(st.sampled_from(PORTS), st.integers(0, 2)).map(lambda t: (t[0], min(65535, t[0] + t[1]))),
                   min_size=1, max_size=3).map(tuple)
    dports = draw(rng) if ports and draw(st.booleans()) else ()
    sports = draw(rng) if ports and draw(st.integers(0, 2)) == 0 else ()
    fam = draw(st.sampled_from([None, 4, 6]))
    pool = V4 if fam == 4 else V6 if fam == 6 else []
    saddr = tuple(draw(st.lists(st.sampled_from(pool), max_size=2, unique=True))) if pool and draw(st.booleans()) else ()
    daddr = tuple(draw(st.lists(st.sampled_from(pool), max_size=2, unique=True))) if pool and draw(st.booleans()) else ()
    return NotrackMatch(proto=proto, dports=dports, sports=sports, saddr=saddr, daddr=daddr, family=fam)


@st.composite
def batch_st(draw):
    n = draw(st.integers(1, 50))
    b = empty_batch(n)
    for i in range(n):
        six = draw(st.booleans())
        for w in ("src", "dst"):
            a = ipaddress.ip_address(draw(st.sampled_from(ADDR6 if six else ADDR4)))
            b[f"{w}_hi"][i], b[f"{w}_lo"][i] = int(a) >> 64, int(a) & ((1 << 64) - 1)
        b["l3"][i] = 6 if six else 4
        b["proto"][i] = draw(st.sampled_from([6, 17, 1, 47, 132]))
        b["sport"][i] = draw(st.sampled_from(PORTS))
        b["dport"][i] = draw(st.sampled_from(PORTS))
        b["route"][i] = draw(st.sampled_from([ROUTE_FORWARD, ROUTE_LOCAL_IN, ROUTE_LOCAL_OUT]))
    return b


def _hit(m: NotrackMatch, p) -> bool:
    l3 = int(p["l3"])
    if m.family is not None and m.family != l3:
        return False
    proto = int(p["proto"])
    if m.proto is not None and proto != m.proto:
        return False
    if m.proto is None and (m.dports or m.sports) and proto not in (6, 17):
        return False        # ports without a protocol: the emitters write TCP and UDP rules
    for ranges, key in ((m.dports, "dport"), (m.sports, "sport")):
        if ranges and not any(a <= int(p[key]) <= b for a, b in ranges):
            return False
    for nets, key in ((m.saddr, "src"), (m.daddr, "dst")):
        if nets:
            v = (int(p[f"{key}_hi"]) << 64) | int(p[f"{key}_lo"])
            a = ipaddress.IPv6Address(v) if l3 == 6 else ipaddress.IPv4Address(v)
            if not any(a in ipaddress.ip_network(n) for n in nets):
                return False
    return True


def expected(matches, batch):
    allm = list(matches) + [m.mirrored() for m in matches]
    return [RULE_NOTRACK if any(_hit(m, batch[i]) for m in allm) else RULE_NONE for i in range(len(batch))]


SET = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SET
@given(matches=st.lists(match_st(), min_size=1, max_size=4), batch=batch_st())
def test_nft_emitter_roundtrip(tmp_path, matches, batch):
    p = tmp_path / "notrack.nft"
    p.write_text(emit_nft_notrack(matches))
    rs = load_rules([str(p)])
    rs.apply(batch, {})
    assert batch["rule"].tolist() == expected(matches, batch)
    assert sum("ct state untracked accept" in u.text for u in rs.conntrack_users()) == 3


@SET
@given(matches=st.lists(match_st(), min_size=1, max_size=4), batch=batch_st())
def test_iptables_emitter_roundtrip(tmp_path, matches, batch):
    p4, p6 = tmp_path / "notrack4.rules", tmp_path / "notrack6.rules"
    p4.write_text(emit_iptables_notrack(matches, 4))
    p6.write_text(emit_iptables_notrack(matches, 6))
    rs = load_rules([str(p4)], [str(p6)])
    rs.apply(batch, {})
    assert batch["rule"].tolist() == expected(matches, batch)
    assert sum("--state UNTRACKED" in u.text for u in rs.conntrack_users()) == 6


def test_emitter_without_reverse_and_seed_remedy(tmp_path):
    seed = [NotrackMatch(proto=6, dports=((80, 82),))]
    text = emit_iptables_notrack(seed, 4, reverse=False)
    assert "-A PREROUTING -p tcp -m multiport --dports 80:82" in text
    assert "--sports" not in text
    with pytest.raises(ValueError):
        NotrackMatch(saddr=("10.0.0.0/8",), daddr=("fd00::/8",))
    with pytest.raises(ValueError):
        emit_iptables_notrack([NotrackMatch(proto=1, dports=((1, 2),))], 4)


def test_multiport_lists_are_split_at_15_ports(tmp_path):
    m = NotrackMatch(proto=17, dports=tuple((p, p) for p in range(1000, 1040)))
    text = emit_iptables_notrack([m], 4, reverse=False)
    assert text.count("-A PREROUTING") == 3
    p = tmp_path / "x.rules"
    p.write_text(text)
    rs = load_rules([str(p)])
    b = empty_batch(3)
    b["l3"], b["proto"], b["dport"] = 4, 17, [1000, 1039, 1040]
    rs.apply(b, {})
    assert b["rule"].tolist() == [RULE_NOTRACK, RULE_NOTRACK, RULE_NONE]


# --- against the real tools, in a network namespace --------------------------------

_SEQ = itertools.count()


def _netns():
    name = f"ctsc-rules-{os.getpid()}-emit-{next(_SEQ)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    return name


def _run(ns, args, stdin=None):
    return subprocess.run(["ip", "netns", "exec", ns, *args], input=stdin, capture_output=True,
                          text=True, check=True).stdout


KERNEL_MATCHES = [
    NotrackMatch(proto=6, dports=((80, 82), (443, 443))),
    NotrackMatch(proto=17, dports=((53, 53),), daddr=("10.96.0.10/32", "169.254.20.10/32")),
    NotrackMatch(proto=None, dports=((4789, 4789),), family=6),
    NotrackMatch(proto=47, saddr=("192.168.0.0/16",)),
    NotrackMatch(proto=17, sports=((123, 123),), saddr=("2001:db8::/32",)),
    NotrackMatch(proto=6, dports=tuple((p, p) for p in range(2000, 2020))),
]


@pytest.mark.kernel
def test_real_nft_accepts_and_listing_parses_back(tmp_path):
    text = emit_nft_notrack(KERNEL_MATCHES)
    ns = _netns()
    try:
        _run(ns, ["nft", "-f", "-"], stdin=text)
        _run(ns, ["nft", "-f", "-"], stdin=text)          # re-applying replaces the table
        listing = _run(ns, ["nft", "list", "ruleset"])
    finally:
        subprocess.run(["ip", "netns", "delete", ns], check=True)
    assert listing.count("notrack comment") == text.count("notrack comment") > 0
    (tmp_path / "ours.nft").write_text(text)
    (tmp_path / "kernel.nft").write_text(listing)
    _same_verdicts(load_rules([str(tmp_path / "ours.nft")]), load_rules([str(tmp_path / "kernel.nft")]))


@pytest.mark.kernel
def test_real_iptables_restore_accepts_and_save_parses_back(tmp_path):
    t4, t6 = emit_iptables_notrack(KERNEL_MATCHES, 4), emit_iptables_notrack(KERNEL_MATCHES, 6)
    ns = _netns()
    try:
        _run(ns, ["iptables-restore", "--noflush"], stdin=t4)
        _run(ns, ["ip6tables-restore", "--noflush"], stdin=t6)
        s4 = _run(ns, ["iptables-save"])
        s6 = _run(ns, ["ip6tables-save"])
    finally:
        subprocess.run(["ip", "netns", "delete", ns], check=True)
    for name, body in (("o4", t4), ("o6", t6), ("k4", s4), ("k6", s6)):
        (tmp_path / name).write_text(body)
    _same_verdicts(load_rules([str(tmp_path / "o4")], [str(tmp_path / "o6")]),
                   load_rules([str(tmp_path / "k4")], [str(tmp_path / "k6")]))


def _same_verdicts(a, b):
    rng = np.random.default_rng(7)
    n = 20000
    batch = empty_batch(n)
    six = rng.random(n) < 0.4
    batch["l3"] = np.where(six, 6, 4)
    v4 = np.array([int(ipaddress.ip_address(x)) for x in ADDR4 + ["10.96.0.10", "169.254.20.10", "192.168.1.1"]])
    batch["src_lo"] = np.where(six, 0, rng.choice(v4, n))
    batch["dst_lo"] = np.where(six, 0, rng.choice(v4, n))
    v6 = [int(ipaddress.ip_address(x)) for x in ADDR6]
    pick = rng.choice(len(v6), n)
    batch["src_hi"] = np.where(six, np.array([v >> 64 for v in v6], dtype=np.uint64)[pick], 0)
    batch["src_lo"] = np.where(six, np.array([v & ((1 << 64) - 1) for v in v6], dtype=np.uint64)[pick], batch["src_lo"])
    batch["proto"] = rng.choice([6, 17, 47, 1], n)
    batch["sport"] = rng.choice([53, 80, 123, 443, 2005, 4789, 40000], n)
    batch["dport"] = rng.choice([53, 80, 123, 443, 2005, 4789, 40000], n)
    batch["route"] = rng.choice([ROUTE_LOCAL_IN, ROUTE_FORWARD, ROUTE_LOCAL_OUT], n)
    c = batch.copy()
    a.apply(batch, {})
    b.apply(c, {})
    assert (batch["rule"] == RULE_NOTRACK).sum() > n // 10
    assert (batch["rule"] == c["rule"]).all()
