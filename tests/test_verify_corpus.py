"""The corpus itself (no kernel needed): size, coverage and independence of scenarios."""
import ipaddress
from collections import Counter

from scenarios import build_corpus
from scenarios.flows import fix_l4_checksum, random_mix

from ctscope.craft import eth, ipv4, peek, udp
from ctscope.craft.checksum import inet_checksum
from ctscope.verify.runner import Config


def test_corpus_has_enough_scenarios_covering_every_area():
    corpus = build_corpus()
    assert len(corpus) >= 150
    prefixes = Counter(sc.name.split("_")[0] for sc in corpus)
    for area in ("tcp", "udp", "icmp", "icmpv6", "gre", "sctp", "generic", "fragments", "path",
                 "rules", "random"):
        assert prefixes[area] >= 1, area
    assert any(getattr(sc, "realtime", False) for sc in corpus)
    assert {"nft", "iptables"} <= {sc.name.split("_")[1] for sc in corpus if sc.name.startswith("rules_")}


def test_scenarios_of_one_run_do_not_share_source_addresses():
    """Batched scenarios are told apart by the source addresses of their entries."""
    owner = {}
    for sc in build_corpus():
        cfg = Config.for_scenario(sc)
        for _t, _s, fr in sc.frames:
            p = peek(fr)
            if p.version:
                key = (cfg, str(ipaddress.ip_address(p.src)))
                assert owner.setdefault(key, sc.name) == sc.name, key


def test_random_mixes_are_reproducible_and_interleaved():
    a, b = random_mix(7, 50, block=9), random_mix(7, 50, block=9)
    assert a == b and a != random_mix(8, 50, block=9)
    sides = [s for s, _f in a[:40]]
    assert "c" in sides and "s" in sides


def test_fix_l4_checksum_repairs_a_corrupted_udp_datagram():
    good = eth(ipv4("10.0.0.1", "10.0.0.2", udp(1, 2, b"abc")))
    bad = good[:-1] + b"x"
    fixed = fix_l4_checksum(bad)
    assert fixed != bad and fixed[-1:] == b"x"
    l3 = fixed[14:]
    pseudo = l3[12:20] + bytes([0, 17]) + len(l3[20:]).to_bytes(2, "big")
    assert inet_checksum(pseudo + l3[20:]) == 0
