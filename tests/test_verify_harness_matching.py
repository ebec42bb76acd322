"""How the kernel harness matches what leaves the firewall to what was injected (pure
functions, no kernel): TTL in the match key, fragment groups, IPv6 atomic fragments."""
from ctscope.craft import eth, ext_fragment, fragment4, fragment6, ipv4, ipv6, peek, udp
from ctscope.kernel.inject import match_key
from ctscope.kernel.result import frag_span, fragment_groups, strip_atomic_fragment

C, S = "198.18.0.1", "198.19.0.1"


def test_match_key_expects_the_ttl_one_lower_on_the_way_out():
    sent = ipv4(C, S, udp(1, 2, b"x"), ttl=64)
    out = ipv4(C, S, udp(1, 2, b"x"), ttl=63, tos=34 << 2)          # forwarded, DSCP verdict mark
    assert match_key(sent, forwarded=True) == match_key(out)
    assert match_key(ipv4(C, S, udp(1, 2, b"x"), ttl=1), forwarded=True) != match_key(out)
    v6 = ipv6("2001:db8::1", "2001:db8::2", udp(1, 2, b"x"), hlim=9)
    assert match_key(v6, forwarded=True) == match_key(ipv6("2001:db8::1", "2001:db8::2", udp(1, 2, b"x"), hlim=8))


def _peeks(packets):
    return [peek(eth(p)) for p in packets]


def test_fragment_groups_split_datagrams_that_reuse_a_key():
    a = fragment4(ipv4(C, S, udp(1, 2, bytes(300)), ident=7), 128)
    b = fragment4(ipv4(C, S, udp(1, 2, bytes(200)), ident=7), 128)
    groups = fragment_groups(_peeks(a + [ipv4(S, C, udp(2, 1, b"r"))] + b[::-1]))
    (only,) = groups.values()
    assert len(a) == 3 and len(b) == 2
    assert [list(g) for g in only] == [[0, 1, 2], [4, 5]]
    assert frag_span(a[1]) == (128, 128, True) and frag_span(a[2])[2] is False


def test_fragment_groups_drop_overlaps_keep_duplicates_and_skip_incomplete():
    dg = ipv4(C, S, udp(1, 2, bytes(300)), ident=9)
    small, big = fragment4(dg, 128), fragment4(dg, 64)
    assert list(fragment_groups(_peeks([small[0], small[0], small[1], small[2]])).popitem()[1]) == [[0, 1, 2, 3]]
    assert not any(fragment_groups(_peeks([small[0], big[2], small[1], small[2]])).values())
    assert not any(fragment_groups(_peeks(small[:2])).values())
    v6 = fragment6(ipv6("2001:db8::1", "2001:db8::2", udp(1, 2, bytes(300))), 128, ident=5)
    assert [list(g) for g in fragment_groups(_peeks(v6)).popitem()[1]] == [[0, 1, 2]]


def test_an_atomic_fragment_is_matched_without_its_fragment_header():
    src, dst = "2001:db8::1", "2001:db8::2"
    atomic = ipv6(src, dst, udp(1, 2, b"q"), ext=[ext_fragment(0, False, 5)])
    assert strip_atomic_fragment(atomic) == ipv6(src, dst, udp(1, 2, b"q"))
    assert strip_atomic_fragment(fragment6(ipv6(src, dst, udp(1, 2, bytes(300))), 128)[0]) is None
    assert not any(fragment_groups(_peeks([atomic])).values())
