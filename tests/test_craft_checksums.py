"""Checksums of crafted frames, verified by an independent word-by-word implementation."""
from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctscope.craft import (crc32c, eth, gre, icmp6_echo, icmp_echo, inet_checksum, ipv4, ipv6, sctp,
                           tcp, udp, udplite)
from ctscope.craft.l3 import addr_bytes


def ref_sum(data: bytes) -> int:
    """Textbook RFC 1071 one's-complement sum (loop, end-around carry)."""
    if len(data) % 2:
        data += b"\0"
    s = 0
    for i in range(0, len(data), 2):
        s += data[i] << 8 | data[i + 1]
        s = (s & 0xFFFF) + (s >> 16)
    return s


def verifies(data: bytes) -> bool:
    return ref_sum(data) == 0xFFFF


def pseudo(l3: bytes, proto: int, l4: bytes) -> bytes:
    if l3[0] >> 4 == 4:
        return l3[12:20] + struct.pack("!BBH", 0, proto, len(l4))
    return l3[8:40] + struct.pack("!IxxxB", len(l4), proto)


def l4_of(l3: bytes) -> bytes:
    return l3[(l3[0] & 15) * 4:] if l3[0] >> 4 == 4 else l3[40:]


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=300))
def test_inet_checksum_matches_reference(data):
    c = inet_checksum(data)
    assert verifies(data + b"\0" * (len(data) % 2) + struct.pack("!H", c)) or ref_sum(data) == 0


def test_crc32c_known_vectors():
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"\0" * 32) == 0x8A9136AA          # RFC 3720 B.4
    assert crc32c(b"\xff" * 32) == 0x62A8AB43


@pytest.mark.parametrize("src,dst", [("10.0.0.1", "10.0.0.2"), ("2001:db8::1", "2001:db8::2")])
@pytest.mark.parametrize("build,proto", [
    (lambda: tcp(1234, 80, "PA", 1, 2, 100, [("mss", 1400), ("sackok",)], b"hello"), 6),
    (lambda: udp(5353, 53, b"query!"), 17),
    (lambda: udp(5353, 53, b"odd"), 17),
])
def test_l4_checksums_verify_with_pseudo_header(src, dst, build, proto):
    ip = ipv4 if ":" not in src else ipv6
    l3 = ip(src, dst, build())
    seg = l4_of(l3)
    assert verifies(pseudo(l3, proto, seg) + seg + b"\0" * (len(seg) % 2))
    if ip is ipv4:
        assert verifies(l3[:20])
    assert ip(src, dst, build()) == l3                # deterministic


def test_bad_csum_flags_spoil_exactly_one_checksum():
    good = ipv4("10.0.0.1", "10.0.0.2", tcp(1, 2, "S"))
    bad_l4 = ipv4("10.0.0.1", "10.0.0.2", tcp(1, 2, "S", bad_csum=True))
    bad_ip = ipv4("10.0.0.1", "10.0.0.2", tcp(1, 2, "S"), bad_csum=True)
    seg = l4_of(bad_l4)
    assert not verifies(pseudo(bad_l4, 6, seg) + seg) and verifies(bad_l4[:20])
    assert not verifies(bad_ip[:20]) and bad_ip[20:] == good[20:]


def test_icmp_and_icmpv6_checksums():
    v4 = ipv4("10.0.0.1", "10.0.0.2", icmp_echo(7, 1, b"ping"))
    assert verifies(l4_of(v4))                        # no pseudo header for ICMPv4
    v6 = ipv6("2001:db8::1", "2001:db8::2", icmp6_echo(7, 1, b"ping"))
    seg = l4_of(v6)
    assert verifies(pseudo(v6, 58, seg) + seg)


def test_udplite_coverage_and_kernel_variant():
    l3 = ipv4("10.0.0.1", "10.0.0.2", udplite(1, 2, b"abcdefgh", coverage=8))
    seg = l4_of(l3)
    assert struct.unpack_from("!H", seg, 4)[0] == 8   # length field = coverage
    assert verifies(pseudo(l3, 136, seg) + seg[:8])    # only the covered bytes count
    k = ipv4("10.0.0.1", "10.0.0.2", udplite(1, 2, b"abcdefgh", coverage=8, kernel_pseudo=True))
    kseg = l4_of(k)
    assert verifies(pseudo(k, 17, kseg) + kseg[:8]) and kseg != seg


def test_udp_without_checksum():
    seg = l4_of(ipv4("10.0.0.1", "10.0.0.2", udp(1, 2, b"x", no_csum=True)))
    assert seg[6:8] == b"\0\0"


def test_gre_checksum_and_fields():
    seg = l4_of(ipv4("10.0.0.1", "10.0.0.2", gre(b"\x45" + b"\0" * 19, key=9, seq=3, checksum=True)))
    flags, proto = struct.unpack_from("!HH", seg)
    assert flags == 0xB000 and proto == 0x0800 and verifies(seg)
    assert struct.unpack_from("!II", seg, 8) == (9, 3)


def test_sctp_crc32c_stored_little_endian():
    pkt = sctp.sctp(5000, 80, 0xDEADBEEF, [sctp.init(0x1111), sctp.data(1, b"abc")])
    body = pkt.data
    zeroed = body[:8] + b"\0\0\0\0" + body[12:]
    assert struct.unpack_from("<I", body, 8)[0] == crc32c(zeroed)
    assert struct.unpack_from("!I", body, 4)[0] == 0xDEADBEEF
    bad = sctp.sctp(5000, 80, 0xDEADBEEF, [sctp.init(0x1111), sctp.data(1, b"abc")], bad_csum=True)
    assert bad.data[8:12] != body[8:12] and bad.data[12:] == body[12:]


def test_frame_wraps_with_ethertype():
    f4 = eth(ipv4("10.0.0.1", "10.0.0.2", udp(1, 2)))
    f6 = eth(ipv6("::1", "::2", udp(1, 2)), vlan=5)
    assert f4[12:14] == b"\x08\x00" and f6[12:14] == b"\x81\x00" and f6[16:18] == b"\x86\xdd"
    assert addr_bytes("::1") == b"\0" * 15 + b"\1"
