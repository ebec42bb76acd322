"""AddrSet (CIDRs/ranges as merged 128-bit intervals) against ipaddress, vectorised."""
from __future__ import annotations

import ipaddress

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ctscope.rules.addr import AddrSet, keys_from_words


def nets(version):
    bits = 32 if version == 4 else 128
    cls = ipaddress.IPv4Network if version == 4 else ipaddress.IPv6Network
    return st.tuples(st.integers(0, 2 ** bits - 1), st.integers(0, bits)).map(
        lambda t: cls((t[0], t[1]), strict=False))


@settings(max_examples=300, deadline=None)
@given(data=st.data(), version=st.sampled_from([4, 6]))
def test_membership_union_minus(data, version):
    a = data.draw(st.lists(nets(version), min_size=1, max_size=12))
    b = data.draw(st.lists(nets(version), max_size=4))
    probes = [int(n.network_address) for n in a + b] + [int(n.broadcast_address) for n in a]
    probes += [p + 1 for p in probes if p + 1 < 2 ** (32 if version == 4 else 128)]
    probes += [p - 1 for p in probes if p > 0]
    probes += data.draw(st.lists(st.integers(0, 2 ** (32 if version == 4 else 128) - 1), max_size=20))
    sa = AddrSet.from_texts([str(n) for n in a], version)
    sb = AddrSet.from_texts([str(n) for n in b], version) if b else AddrSet(version)
    diff = sa.minus(sb)
    hi = np.array([p >> 64 for p in probes], dtype=np.uint64)
    lo = np.array([p & (2 ** 64 - 1) for p in probes], dtype=np.uint64)
    got = sa.contains(keys_from_words(hi, lo))
    got_diff = diff.contains(keys_from_words(hi, lo))
    cls = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    for i, p in enumerate(probes):
        in_a = any(cls(p) in n for n in a)
        in_b = any(cls(p) in n for n in b)
        assert got[i] == in_a
        assert got_diff[i] == (in_a and not in_b)
        if version == 4:
            assert sa.contains_v4(lo[i:i + 1])[0] == in_a
    # texts() round-trips
    again = AddrSet.from_texts(sa.texts(), version)
    assert again.intervals == sa.intervals
    # merged intervals are sorted and disjoint (not even adjacent)
    for (x0, x1), (y0, y1) in zip(sa.intervals, sa.intervals[1:]):
        assert x1 + 1 < y0


def test_ranges_and_masks():
    s = AddrSet.from_texts(["10.0.0.1-10.0.0.5", "192.168.1.0/255.255.255.0"])
    assert s.texts() == ["10.0.0.1", "10.0.0.2/31", "10.0.0.4/31", "192.168.1.0/24"]
