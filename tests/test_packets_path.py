"""The path model (route column) for the default router and the host model."""
import ipaddress

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from ctscope.packets import record as R
from ctscope.packets.path import apply_path

F, L, D, O = R.ROUTE_FORWARD, R.ROUTE_LOCAL_IN, R.ROUTE_DROP, R.ROUTE_LOCAL_OUT


def batch(rows):
    """rows: (src, dst, ttl[, pflags])"""
    b = R.empty_batch(len(rows))
    for i, row in enumerate(rows):
        src, dst, ttl = row[:3]
        s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
        b[i]["l3"] = s.version
        for pre, a in (("src", s), ("dst", d)):
            v = int(a)
            b[i][pre + "_hi"] = v >> 64
            b[i][pre + "_lo"] = v & (2**64 - 1)
        b[i]["ttl"] = ttl
        b[i]["pflags"] = row[3] if len(row) > 3 else 0
    return b


@pytest.mark.parametrize("src,dst,ttl,want", [
    ("10.0.0.1", "10.9.9.9", 64, F),
    ("10.0.0.1", "10.9.9.9", 1, D),                 # ip_forward(): ttl <= 1
    ("10.0.0.1", "10.9.9.9", 0, D),
    ("10.0.0.1", "255.255.255.255", 1, L),          # limited broadcast: local, TTL irrelevant
    ("0.0.0.0", "255.255.255.255", 64, L),          # DHCP discover
    ("0.0.0.0", "0.0.0.0", 64, L),
    ("10.0.0.1", "224.0.0.1", 1, L),                # all-hosts
    ("0.0.0.0", "224.0.0.1", 1, L),
    ("10.0.0.1", "224.0.0.251", 255, D),            # mDNS group not joined
    ("10.0.0.1", "239.1.1.1", 64, D),
    ("224.0.0.5", "10.0.0.1", 64, D),               # multicast source
    ("255.255.255.255", "10.0.0.1", 64, D),
    ("255.255.255.255", "255.255.255.255", 64, D),
    ("0.0.0.0", "10.0.0.1", 64, D),                 # zeronet source
    ("0.1.2.3", "10.0.0.1", 64, D),
    ("10.0.0.1", "0.1.2.3", 64, D),
    ("127.0.0.1", "10.0.0.1", 64, D),
    ("10.0.0.1", "127.0.0.1", 64, D),
    ("127.0.0.1", "255.255.255.255", 64, D),
    ("127.0.0.1", "224.0.0.1", 64, D),
    ("10.0.0.1", "240.0.0.1", 64, F),               # class E: forwarded (verified on 6.18)
    ("2001:db8::1", "2001:db8:1::1", 64, F),
    ("2001:db8::1", "2001:db8:1::1", 1, D),
    ("2001:db8::1", "ff02::1", 1, L),
    ("fe80::1", "ff02::2", 255, L),
    ("2001:db8::1", "ff05::2", 1, L),
    ("2001:db8::1", "ff02::1:ff00:1", 255, D),      # solicited-node: not in the model
    ("2001:db8::1", "ff0e::1", 64, D),
    ("fe80::1", "2001:db8::1", 64, D),
    ("2001:db8::1", "fe80::1", 64, D),
    ("::", "2001:db8::1", 64, D),
])
def test_router_rules(src, dst, ttl, want):
    b = batch([(src, dst, ttl)])
    apply_path(b)
    assert b[0]["route"] == want


def test_skipped_frames_untouched_and_egress_copies():
    b = batch([("10.0.0.1", "10.9.9.9", 64, R.PF_EGRESS), ("10.0.0.1", "10.9.9.9", 64)])
    b2 = b.copy()
    b2[0]["skip"] = R.SKIP_BAD_IP_CSUM
    apply_path(b)
    assert list(b["skip"]) == [R.SKIP_EGRESS_COPY, 0]
    apply_path(b2)
    assert b2[0]["skip"] == R.SKIP_BAD_IP_CSUM


def test_host_model():
    nets = [ipaddress.ip_network("192.168.1.0/24"), ipaddress.ip_network("2001:db8:5::/48")]
    b = batch([
        ("192.168.1.10", "8.8.8.8", 64, R.PF_EGRESS),     # sent by the host
        ("8.8.8.8", "192.168.1.10", 1, 0),                # for the host, TTL irrelevant
        ("8.8.8.8", "10.0.0.1", 64, R.PF_EGRESS),         # egress copy of a forward
        ("2001:db8:5::1", "2001:db8:9::1", 64, 0),
        ("2001:db8:9::1", "2001:db8:5:1::1", 64, 0),
        ("224.0.0.9", "192.168.1.10", 64, 0),             # martian source still dropped
    ])
    apply_path(b, nets)
    assert list(b["route"]) == [O, L, F, O, L, D]
    assert list(b["skip"]) == [0, 0, R.SKIP_EGRESS_COPY, 0, 0, 0]
    assert b[0]["pflags"] & R.PF_LOCAL_SRC and b[1]["pflags"] & R.PF_LOCAL_DST
    assert not b[2]["pflags"] & (R.PF_LOCAL_SRC | R.PF_LOCAL_DST)


def _reference(src, dst, ttl):
    """Scalar restatement of the rules with the ipaddress module."""
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if s.version == 4:
        if s.is_multicast or int(s) == 0xFFFFFFFF:
            return D
        if int(d) == 0xFFFFFFFF or (int(s) == 0 and int(d) == 0):
            return D if s in ipaddress.ip_network("127.0.0.0/8") else L
        if d.is_multicast:
            return L if str(d) == "224.0.0.1" and not s.is_loopback else D
        if (s in ipaddress.ip_network("0.0.0.0/8") or d in ipaddress.ip_network("0.0.0.0/8")
                or s.is_loopback or d.is_loopback):
            return D
        return D if ttl <= 1 else F
    if str(d) in ("ff02::1", "ff02::2", "ff05::2"):
        return L
    if d.is_multicast or s.is_link_local or d.is_link_local or int(s) == 0 or int(d) == 0:
        return D
    return D if ttl <= 1 else F


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.ip_addresses(v=4), st.sampled_from(["224.0.0.1", "0.0.0.0",
                                                                           "255.255.255.255"])),
                          st.one_of(st.ip_addresses(v=4), st.sampled_from(["224.0.0.1", "255.255.255.255"])),
                          st.integers(0, 255)), min_size=1, max_size=30),
       st.lists(st.tuples(st.ip_addresses(v=6), st.one_of(st.ip_addresses(v=6),
                                                          st.sampled_from(["ff02::1", "ff05::2", "fe80::1"])),
                          st.integers(0, 255)), max_size=30))
def test_vectorised_matches_scalar_reference(rows4, rows6):
    rows = [(str(a), str(b), t) for a, b, t in rows4 + rows6]
    rows = [r for r in rows if not (ipaddress.ip_address(r[0]).version == 6 and
                                    (ipaddress.ip_address(r[0]).is_loopback or ipaddress.ip_address(r[1]).is_loopback
                                     or ipaddress.ip_address(r[0]).is_multicast))]
    if not rows:
        return
    b = batch(rows)
    apply_path(b)
    assert list(b["route"]) == [_reference(*r) for r in rows]
    assert np.all(b["skip"] == 0)
