"""Decoding of hand-built frames: link types, IPv4/IPv6 checks, L4 fields, checksums."""
import ipaddress
import struct

import numpy as np
import pytest

from ctscope.packets import record as R
from ctscope.packets.checksum import crc32c, internet_checksum
from ctscope.packets.pcapwrite import ether, icmp, ipv4, ipv6, pseudo, tcp, udp
from ctscope.packets.source import decode_packets

A, B = "10.1.0.1", "10.2.0.2"
A6, B6 = "2001:db8::1", "2001:db8:1::2"


def one(frame, linktype=1, orig_len=None, **kw):
    rec = decode_packets([frame], linktype=linktype,
                         orig_lens=None if orig_len is None else [orig_len], **kw)
    assert len(rec) == 1
    return rec[0]


def v4int(a):
    return int(ipaddress.IPv4Address(a))


def v6words(a):
    v = int(ipaddress.IPv6Address(a))
    return v >> 64, v & (2**64 - 1)


def flags(r):
    return int(r["pflags"])


UDP4 = ipv4(A, B, 17, udp(A, B, 1234, 53, b"query"))


# --- link layers ----------------------------------------------------------------
def sll(ip, pkttype=0, proto=0x0800, hatype=1):
    return struct.pack(">HHH8sH", pkttype, hatype, 6, b"\x02" * 6 + b"\0\0", proto) + ip


def sll2(ip, pkttype=0, ifindex=7, proto=0x0800, hatype=1):
    return struct.pack(">HHIHBB8s", proto, 0, ifindex, hatype, pkttype, 6, b"\x02" * 6 + b"\0\0") + ip


@pytest.mark.parametrize("lt,frame", [
    (1, ether(UDP4)),
    (1, ether(UDP4, vlans=(0x8100,))),
    (1, ether(UDP4, vlans=(0x88A8, 0x8100))),
    (113, sll(UDP4)),
    (276, sll2(UDP4)),
    (101, UDP4), (12, UDP4), (14, UDP4), (228, UDP4),
    (0, struct.pack("<I", 2) + UDP4),
    (0, struct.pack(">I", 2) + UDP4),
    (108, struct.pack(">I", 2) + UDP4),
])
def test_link_types_ipv4(lt, frame):
    r = one(frame, lt)
    assert (r["l3"], r["proto"], r["sport"], r["dport"]) == (4, 17, 1234, 53)
    assert r["src_lo"] == v4int(A) and r["dst_lo"] == v4int(B) and r["skip"] == 0


@pytest.mark.parametrize("lt,af", [(0, 10), (0, 24), (0, 28), (0, 30), (108, 30), (229, None), (101, None)])
def test_link_types_ipv6(lt, af):
    ip = ipv6(A6, B6, 17, udp(A6, B6, 5, 6, b"x"))
    frame = ip if af is None else struct.pack(">I" if lt == 108 else "<I", af) + ip
    r = one(frame, lt)
    assert (r["l3"], r["sport"], r["dport"]) == (6, 5, 6)
    assert (int(r["src_hi"]), int(r["src_lo"])) == v6words(A6)


def test_sll_outgoing_otherhost_and_sll2_ifindex():
    assert flags(one(sll(UDP4, pkttype=4), 113)) & R.PF_EGRESS
    assert not flags(one(sll(UDP4, pkttype=0), 113)) & R.PF_EGRESS
    assert one(sll(UDP4, pkttype=3), 113)["skip"] == R.SKIP_OTHERHOST
    r = one(sll2(UDP4, pkttype=4, ifindex=42), 276, path_model=False)
    assert r["ifindex"] == 42 and flags(r) & R.PF_EGRESS


def test_not_ip_and_truncated_link_header():
    assert one(ether(b"\0" * 30, ethertype=0x0806))["skip"] == R.SKIP_NOT_IP
    assert one(b"\x70" + UDP4[1:], 101)["skip"] == R.SKIP_NOT_IP          # version 7
    r = one(ether(UDP4)[:10], orig_len=len(ether(UDP4)))
    assert r["skip"] == R.SKIP_TRUNCATED


def test_unsupported_link_type_is_input_error():
    from ctscope.errors import InputError
    with pytest.raises(InputError, match="IEEE802_11"):
        one(UDP4, 105)


# --- IPv4 header -------------------------------------------------------------------
def test_ipv4_options_and_header_checksum():
    ip = ipv4(A, B, 17, udp(A, B, 1, 2, b"z"), options=b"\x01\x01\x01\x00")
    r = one(ether(ip))
    assert r["skip"] == 0 and r["sport"] == 1 and r["iplen"] == len(ip)
    bad = ipv4(A, B, 17, udp(A, B, 1, 2, b"z"), bad_csum=True)
    assert one(ether(bad))["skip"] == R.SKIP_BAD_IP_CSUM


@pytest.mark.parametrize("mutate", ["ihl4", "totlen_big", "totlen_small", "version"])
def test_ipv4_bad_lengths(mutate):
    payload = udp(A, B, 1, 2, b"abcdef")
    if mutate == "totlen_big":
        ip = ipv4(A, B, 17, payload, tot_len=200)
    elif mutate == "totlen_small":
        ip = ipv4(A, B, 17, payload, tot_len=12)
    else:
        ip = bytearray(ipv4(A, B, 17, payload))
        ip[0] = 0x44 if mutate == "ihl4" else 0x55
        ip[10:12] = b"\0\0"
        ip[10:12] = struct.pack(">H", internet_checksum(bytes(ip[:20])))
        ip = bytes(ip)
    assert one(ether(ip))["skip"] == R.SKIP_BAD_IP_LEN


def test_ethernet_padding_is_trimmed_by_total_length():
    ip = ipv4(A, B, 17, udp(A, B, 1, 2, b""))
    r = one(ether(ip) + b"\xff" * 18)
    assert r["iplen"] == 28 and not flags(r) & R.PF_CSUM_BAD and flags(r) & R.PF_L4_OK


# --- IPv6 header ----------------------------------------------------------------------
@pytest.mark.parametrize("src,dst,rejected", [
    ("::1", B6, True), (A6, "::1", True), ("ff02::1", B6, True),
    (A6, "ff00::1", True), (A6, "ff01::1", True), (A6, "ff02::1", False), (A6, "ff0e::1", False),
    ("::ffff:1.2.3.4", B6, False),     # the v4-mapped check was reverted from ip6_rcv_core
])
def test_ipv6_address_rejections(src, dst, rejected):
    r = one(ether(ipv6(src, dst, 17, udp(src, dst, 1, 2, b""))))
    assert (r["skip"] == R.SKIP_BAD_IP6_ADDR) == rejected


def test_ipv6_payload_length_too_big():
    ip = ipv6(A6, B6, 17, udp(A6, B6, 1, 2, b""), plen=100)
    assert one(ether(ip))["skip"] == R.SKIP_BAD_IP_LEN


def ext(nh, body=b"\0" * 6):
    return bytes([nh, (len(body) + 2) // 8 - 1]) + body


def test_ipv6_extension_headers():
    seg = tcp(A6, B6, 4000, 443, seq=9, flags=0x02)
    chain = ext(43, b"\0" * 6) + bytes([60, 0, 0, 0, 0, 0, 0, 0]) + ext(44 + 0, b"\0" * 6)
    # hop-by-hop -> routing -> dest opts -> atomic fragment -> TCP
    hbh = bytes([43, 0]) + b"\0" * 6
    rt = bytes([60, 0]) + b"\0" * 6
    do = bytes([44, 0]) + b"\0" * 6
    frag = bytes([6, 0, 0, 0, 0, 0, 0, 1])          # offset 0, M=0: atomic
    ip = ipv6(A6, B6, 0, hbh + rt + do + frag + seg)
    r = one(ether(ip))
    assert r["skip"] == 0 and r["proto"] == 6 and r["sport"] == 4000 and r["seq"] == 9
    assert not flags(r) & R.PF_CSUM_BAD and flags(r) & R.PF_L4_OK
    assert chain  # (kept to show the order used)


def test_ipv6_ah_header_length_in_4_byte_units():
    seg = udp(A6, B6, 7, 8, b"q")
    ah = bytes([17, 2]) + b"\0" * 14                  # (2 + 2) * 4 = 16 bytes
    r = one(ether(ipv6(A6, B6, 51, ah + seg)))
    assert (r["proto"], r["sport"], r["dport"]) == (17, 7, 8)


def test_ipv6_ext_header_past_the_packet():
    ip = ipv6(A6, B6, 0, bytes([6, 4]) + b"\0" * 6)   # hop-by-hop claiming 40 bytes
    assert one(ether(ip))["skip"] == R.SKIP_BAD_IP_LEN    # ipv6_parse_hopopts() fails
    ip = ipv6(A6, B6, 60, bytes([6, 4]) + b"\0" * 6)  # same for dest opts: conntrack's problem
    r = one(ether(ip))
    assert r["skip"] == 0 and flags(r) & R.PF_L4_MALFORMED and not flags(r) & R.PF_L4_OK


@pytest.mark.parametrize("opts,ok", [
    (b"\x05\x02\x00\x00" + b"\x01\x00", True),         # router alert + PadN(2)
    (b"\x00" * 6, True),                                 # 6 x Pad1
    (b"\x01\x04\x00\x00\x00\x00", True),               # PadN(6)
    (b"\x01\x04\x00\x01\x00\x00", False),              # PadN with a non-zero byte
    (b"\x1e\x04\x00\x00\x00\x00", True),               # unknown, action 00: skip
    (b"\x5e\x04\x00\x00\x00\x00", False),              # unknown, action 01: discard
    (b"\xde\x04\x00\x00\x00\x00", False),              # unknown, action 11: discard
    (b"\x05\x03\x00\x00\x00" + b"\x00", False),        # router alert, bad length
    (b"\x01\x05\x00\x00\x00\x00", False),              # option runs past the header
])
def test_ipv6_hop_by_hop_options(opts, ok):
    seg = udp(A6, B6, 1, 2, b"x")
    r = one(ether(ipv6(A6, B6, 0, bytes([17, 0]) + opts + seg)))
    assert (r["skip"] == 0) == ok
    if ok:
        assert r["sport"] == 1 and not flags(r) & R.PF_CSUM_BAD
    else:
        assert r["skip"] == R.SKIP_BAD_IP_LEN


def test_ipv6_jumbogram():
    seg = tcp(A6, B6, 1, 2, payload=b"j" * 70000)
    hbh = bytes([6, 0, 0xC2, 4]) + struct.pack(">I", 8 + len(seg))
    r = one(ether(ipv6(A6, B6, 0, hbh + seg, plen=0)))
    assert r["skip"] == 0 and r["iplen"] == 40 + 8 + len(seg) and r["datalen"] == 70000
    bad = bytes([6, 0, 0xC2, 4]) + struct.pack(">I", 1000)    # jumbo length <= 65535
    assert one(ether(ipv6(A6, B6, 0, bad + seg, plen=0)))["skip"] == R.SKIP_BAD_IP_LEN


# --- TCP -------------------------------------------------------------------------------
def test_tcp_fields_and_options():
    opts = (b"\x02\x04\x05\xb4" + b"\x01\x03\x03\x0e" + b"\x04\x02" + b"\x08\x0a" + struct.pack(">II", 11, 22)
            + b"\x01\x01\x05\x12" + struct.pack(">IIII", 100, 200, 300, 0xFFFFFFF0))
    seg = tcp(A, B, 1000, 80, seq=123456, ack=654321, flags=0x12, win=29200, options=opts,
              payload=b"hello")
    r = one(ether(ipv4(A, B, 6, seg)))
    assert (r["seq"], r["ack"], r["tcpflags"], r["win"]) == (123456, 654321, 0x12, 29200)
    assert r["datalen"] == 5 and r["mss"] == 1460 and r["wscale"] == 14
    assert (r["tsval"], r["tsecr"]) == (11, 22)
    f = flags(r)
    assert f & R.PF_SACK_PERM and f & R.PF_SACK and f & R.PF_TCP_TS and f & R.PF_L4_OK
    # highest right edge by after(): 0xFFFFFFF0 is *before* 200 in sequence space
    assert r["sack"] == 200


def test_tcp_wscale_clamped_and_absent():
    r = one(ether(ipv4(A, B, 6, tcp(A, B, 1, 2, options=b"\x03\x03\x20\x00"))))
    assert r["wscale"] == 14
    r = one(ether(ipv4(A, B, 6, tcp(A, B, 1, 2))))
    assert r["wscale"] == -1 and r["mss"] == 0 and not flags(r) & (R.PF_SACK | R.PF_SACK_PERM)


def test_tcp_bad_data_offset_and_short_header():
    seg = bytearray(tcp(A, B, 1, 2, payload=b"abcd"))
    seg[12] = 0x30                                      # doff 3 < 5
    r = one(ether(ipv4(A, B, 6, bytes(seg))))
    assert flags(r) & R.PF_L4_MALFORMED
    seg[12] = 0xF0                                      # doff 15 * 4 > 24-byte segment
    assert flags(one(ether(ipv4(A, B, 6, bytes(seg))))) & R.PF_L4_MALFORMED
    r = one(ether(ipv4(A, B, 6, bytes(seg[:12]))))
    assert not flags(r) & R.PF_L4_OK and r["sport"] == 1


def test_tcp_checksum_bad_and_snaplen_unchecked():
    seg = bytearray(tcp(A, B, 1, 2, payload=b"x" * 100))
    seg[-1] ^= 1
    assert flags(one(ether(ipv4(A, B, 6, bytes(seg))))) & R.PF_CSUM_BAD
    frame = ether(ipv4(A, B, 6, tcp(A, B, 1, 2, payload=b"x" * 100)))
    r = one(frame[:70], orig_len=len(frame))
    f = flags(r)
    assert f & R.PF_CSUM_UNCHECKED and not f & R.PF_CSUM_BAD and f & R.PF_L4_OK
    assert r["iplen"] == len(frame) - 14 and r["datalen"] == 100 and r["skip"] == 0


# --- UDP / UDP-Lite -------------------------------------------------------------------
def test_udp_length_field_sanity():
    seg = bytearray(udp(A, B, 1, 2, b"abcd"))
    seg[4:6] = struct.pack(">H", 40)                    # longer than the payload
    assert flags(one(ether(ipv4(A, B, 17, bytes(seg))))) & R.PF_L4_MALFORMED
    seg[4:6] = struct.pack(">H", 4)                     # shorter than the header
    assert flags(one(ether(ipv4(A, B, 17, bytes(seg))))) & R.PF_L4_MALFORMED


def test_udp_zero_checksum_accepted_bad_checksum_flagged():
    seg = bytearray(udp(A, B, 1, 2, b"abcd"))
    seg[6:8] = b"\0\0"
    assert not flags(one(ether(ipv4(A, B, 17, bytes(seg))))) & R.PF_CSUM_BAD
    seg = bytearray(udp(A6, B6, 1, 2, b"abcd"))
    seg[8] ^= 0xFF
    assert flags(one(ether(ipv6(A6, B6, 17, bytes(seg))))) & R.PF_CSUM_BAD


def udplite(src, dst, sport, dport, payload, cov, kernel=True):
    """UDP-Lite segment; ``kernel``: checksum as conntrack verifies it (protocol 17 in
    the pseudo-header, IPv4 length truncated to 8 bits), else as RFC 3828 says."""
    seg = bytearray(struct.pack(">HHHH", sport, dport, cov, 0) + payload)
    c = cov or len(seg)
    if not kernel:
        ph = pseudo(src, dst, 136, len(seg))
    elif ":" in src:
        ph = pseudo(src, dst, 17, len(seg))
    else:
        ph = pseudo(src, dst, 17 + (len(seg) & 0xFF), 0)
    s = internet_checksum(ph + bytes(seg[:c]))
    seg[6:8] = struct.pack(">H", s or 0xFFFF)
    return bytes(seg)


@pytest.mark.parametrize("v6", [False, True])
def test_udplite_kernel_pseudo_header_quirk(v6):
    src, dst = (A6, B6) if v6 else (A, B)
    mk = (lambda seg: ipv6(A6, B6, 136, seg)) if v6 else (lambda seg: ipv4(A, B, 136, seg))
    good_for_kernel = udplite(src, dst, 1, 2, b"data" * 3, 0)
    rfc = udplite(src, dst, 1, 2, b"data" * 3, 0, kernel=False)
    assert not flags(one(ether(mk(good_for_kernel)))) & R.PF_CSUM_BAD
    assert flags(one(ether(mk(rfc)))) & R.PF_CSUM_BAD


def test_udplite_coverage_and_checksum():
    r = one(ether(ipv4(A, B, 136, udplite(A, B, 9, 10, b"p" * 20, 8))))
    assert (r["proto"], r["sport"], r["dport"]) == (136, 9, 10) and not flags(r) & R.PF_CSUM_BAD
    seg = bytearray(udplite(A, B, 9, 10, b"p" * 20, 8))
    seg[-1] ^= 1                                         # outside the coverage: still good
    assert not flags(one(ether(ipv4(A, B, 136, bytes(seg))))) & R.PF_CSUM_BAD
    seg = bytearray(udplite(A, B, 9, 10, b"p" * 20, 0))
    seg[-1] ^= 1                                         # coverage 0 = everything
    assert flags(one(ether(ipv4(A, B, 136, bytes(seg))))) & R.PF_CSUM_BAD
    for cov in (4, 100):
        seg = udplite(A, B, 9, 10, b"p" * 20, 8)
        seg = seg[:4] + struct.pack(">H", cov) + seg[6:]
        assert flags(one(ether(ipv4(A, B, 136, seg)))) & R.PF_L4_MALFORMED
    seg = udplite(A, B, 9, 10, b"p", 0)
    assert flags(one(ether(ipv4(A, B, 136, seg[:6] + b"\0\0" + seg[8:])))) & R.PF_L4_MALFORMED


# --- ICMP -------------------------------------------------------------------------------
def test_icmp_echo_tuple_and_checksum():
    r = one(ether(ipv4(A, B, 1, icmp(8, 0, ident=0x1234, seq=1, payload=b"ping"))))
    assert (r["sport"], r["dport"]) == (0x1234, 8 << 8) and not flags(r) & R.PF_CSUM_BAD
    m = bytearray(icmp(8, 0, ident=1, payload=b"ping"))
    m[-1] ^= 1
    assert flags(one(ether(ipv4(A, B, 1, bytes(m))))) & R.PF_CSUM_BAD


def test_icmp_error_inner_tuple_v4():
    inner = ipv4(B, A, 17, udp(B, A, 5353, 53, b"question"))
    r = one(ether(ipv4(A, B, 1, icmp(3, 3, payload=inner[:28]))))
    assert r["dport"] == (3 << 8 | 3) and flags(r) & R.PF_INNER_OK
    assert (r["in_proto"], r["in_sport"], r["in_dport"]) == (17, 5353, 53)
    assert r["in_src_lo"] == v4int(B) and r["in_dst_lo"] == v4int(A)
    r = one(ether(ipv4(A, B, 1, icmp(11, 0, payload=inner[:22]))))   # 2 bytes of UDP only
    assert flags(r) & R.PF_ICMP_TRUNC and not flags(r) & R.PF_INNER_OK
    inner_icmp = ipv4(B, A, 1, icmp(8, 0, ident=77))
    r = one(ether(ipv4(A, B, 1, icmp(3, 1, payload=inner_icmp))))
    assert (r["in_proto"], r["in_sport"], r["in_dport"]) == (1, 77, 8 << 8)
    r = one(ether(ipv4(A, B, 1, icmp(0, 0, payload=inner))))         # echo reply: no inner
    assert not flags(r) & (R.PF_INNER_OK | R.PF_ICMP_TRUNC) and r["in_proto"] == 0


def test_icmpv6_error_inner_tuple_and_checksum():
    inner = ipv6(B6, A6, 6, tcp(B6, A6, 443, 5000, seq=1))
    r = one(ether(ipv6(A6, B6, 58, icmp(1, 4, payload=inner, v6_addrs=(A6, B6)))))
    assert r["dport"] == (1 << 8 | 4) and flags(r) & R.PF_INNER_OK and not flags(r) & R.PF_CSUM_BAD
    assert (r["in_proto"], r["in_sport"], r["in_dport"]) == (6, 443, 5000)
    assert (int(r["in_src_hi"]), int(r["in_src_lo"])) == v6words(B6)
    m = bytearray(icmp(128, 0, ident=5, v6_addrs=(A6, B6)))
    m[2] ^= 1
    r = one(ether(ipv6(A6, B6, 58, bytes(m))))
    assert flags(r) & R.PF_CSUM_BAD and (r["sport"], r["dport"]) == (5, 128 << 8)


# --- GRE / SCTP / generic -----------------------------------------------------------------
def test_gre_keys():
    r = one(ether(ipv4(A, B, 47, struct.pack(">HH", 0, 0x0800) + b"\0" * 20)))
    assert (r["sport"], r["dport"]) == (0, 0) and flags(r) & R.PF_L4_OK
    pptp = struct.pack(">HHHH", 0x3001, 0x880B, 10, 0xBEEF) + b"\0" * 8
    r = one(ether(ipv4(A, B, 47, pptp)))
    assert (r["sport"], r["dport"]) == (0, 0xBEEF) and flags(r) & R.PF_L4_OK
    other = struct.pack(">HHHH", 0x3001, 0x0800, 10, 0xBEEF)
    r = one(ether(ipv4(A, B, 47, other)))
    assert flags(r) & R.PF_L4_MALFORMED and not flags(r) & R.PF_L4_OK


def sctp(sport, dport, vtag, chunks, bad=False):
    body = b"".join(struct.pack(">BBH", t, 0, 4 + len(v)) + v + b"\0" * (-len(v) % 4) for t, v in chunks)
    pkt = struct.pack(">HHII", sport, dport, vtag, 0) + body
    c = crc32c(pkt) ^ (1 if bad else 0)
    return pkt[:8] + struct.pack("<I", c) + pkt[12:]


def test_sctp_fields_and_crc32c():
    init = struct.pack(">IIHHI", 0x11223344, 65536, 10, 10, 1)
    seg = sctp(36412, 38412, 0xCAFEBABE, [(1, init), (10, b"c")])
    r = one(ether(ipv4(A, B, 132, seg)))
    assert (r["sport"], r["dport"], r["vtag"]) == (36412, 38412, 0xCAFEBABE)
    assert r["sctp_first"] == 1 and r["chunks"] == (1 << 1) | (1 << 10)
    assert r["sctp_itag"] == 0x11223344 and not flags(r) & R.PF_L4_MALFORMED
    assert not flags(r) & R.PF_CSUM_BAD
    r = one(ether(ipv4(A, B, 132, sctp(1, 2, 3, [(14, b""), (2, init)]))))    # SHUTDOWN_COMPLETE T=0
    assert r["sctp_first"] == 14 and r["sctp_itag"] == 0x11223344
    seg = bytearray(sctp(1, 2, 3, [(6, b"")]))
    seg[13] = 1                                                                # ABORT with T bit
    seg[8:12] = struct.pack("<I", crc32c(bytes(seg[:8]) + b"\0" * 4 + bytes(seg[12:])))
    assert one(ether(ipv4(A, B, 132, bytes(seg))))["sctp_cflags"] == 1
    r = one(ether(ipv4(A, B, 132, sctp(1, 2, 0, [(1, init[:8])]))))          # INIT without a full inithdr
    assert flags(r) & R.PF_L4_MALFORMED
    r = one(ether(ipv4(A, B, 132, sctp(1, 2, 3, [(0, b"data")], bad=True))))
    assert flags(r) & R.PF_CSUM_BAD


def test_generic_protocol():
    r = one(ether(ipv4(A, B, 50, b"\0" * 40)))
    assert r["proto"] == 50 and flags(r) & R.PF_L4_OK and (r["sport"], r["dport"]) == (0, 0)


def test_jit_and_interpreted_decode_agree():
    """The same frames through NUMBA_DISABLE_JIT=1 in a subprocess give identical records."""
    import os
    import pickle
    import subprocess
    import sys
    frames = [ether(UDP4), ether(ipv6(A6, B6, 58, icmp(1, 0, payload=ipv6(B6, A6, 17, udp(B6, A6, 1, 2)),
                                                        v6_addrs=(A6, B6)))),
              ether(ipv4(A, B, 6, tcp(A, B, 1, 2, options=b"\x02\x04\x05\xb4")))]
    code = ("import pickle,sys;from ctscope.packets.source import decode_packets;"
            "sys.stdout.buffer.write(pickle.dumps(decode_packets(pickle.loads(sys.stdin.buffer.read()))))")
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    out = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(frames), capture_output=True,
                         env=env, check=True).stdout
    assert np.array_equal(pickle.loads(out), decode_packets(frames))


def test_icmpv6_redirect_inner_tuple():
    inner = ipv6(B6, A6, 17, udp(B6, A6, 53, 999, b"r"))
    body = b"\0" * 32 + bytes([4, (8 + len(inner) + 7) // 8]) + b"\0" * 6 + inner
    body += b"\0" * (-len(body) % 8)
    rs = "fe80::1"

    def redirect(src, hlim, b=body):
        return one(ether(ipv6(src, B6, 58, icmp(137, 0, payload=b, v6_addrs=(src, B6)), hlim=hlim)),
                   path_model=False)

    r = redirect(rs, 255)
    assert flags(r) & R.PF_INNER_OK and (r["in_proto"], r["in_sport"], r["in_dport"]) == (17, 53, 999)
    assert flags(redirect(rs, 64)) & R.PF_ICMP_TRUNC                    # hop limit must be 255
    assert flags(redirect(A6, 255)) & R.PF_ICMP_TRUNC                   # source must be link-local
    other = body[:32] + bytes([1, 1]) + body[34:]                       # first option: source LL addr
    assert not flags(redirect(rs, 255, other)) & (R.PF_INNER_OK | R.PF_ICMP_TRUNC)


def test_big_tcp_ipv4_total_length_zero():
    seg = tcp(A, B, 1, 2, payload=b"z" * 70000)
    ip = bytearray(ipv4(A, B, 6, seg, tot_len=0))
    r = one(ether(bytes(ip)))
    assert r["skip"] == 0 and r["iplen"] == len(ip) and r["datalen"] == 70000
    assert not flags(r) & R.PF_CSUM_BAD
    small = ipv4(A, B, 6, tcp(A, B, 1, 2), tot_len=0)
    assert one(ether(small))["skip"] == R.SKIP_BAD_IP_LEN


def test_loopback_device_copies():
    """tcpdump -i any: a looped-back packet shows up OUTGOING and HOST on lo (ARPHRD_LOOPBACK)."""
    ip6 = ipv6("::1", "::1", 17, udp("::1", "::1", 7, 9, b"x"))
    ip4 = ipv4("127.0.0.1", "127.0.0.1", 17, udp("127.0.0.1", "127.0.0.1", 7, 9))
    for lt, mk in ((113, sll), (276, sll2)):
        out_copy = one(mk(ip6, pkttype=4, proto=0x86DD, hatype=772), lt, local_nets=["10.0.0.0/8"])
        in_copy = one(mk(ip6, pkttype=0, proto=0x86DD, hatype=772), lt, local_nets=["10.0.0.0/8"])
        assert out_copy["skip"] == 0 and out_copy["route"] == R.ROUTE_LOCAL_OUT
        assert in_copy["skip"] == R.SKIP_LOOPBACK and in_copy["sport"] == 7
        r = one(mk(ip4, pkttype=4, hatype=772), lt, local_nets=["10.0.0.0/8"])
        assert r["skip"] == 0 and r["route"] == R.ROUTE_LOCAL_OUT
    # the same ::1 packet arriving on a real interface is rejected by ip6_rcv_core()
    assert one(sll(ip6, pkttype=0, proto=0x86DD), 113)["skip"] == R.SKIP_BAD_IP6_ADDR


@pytest.mark.parametrize("opts,dropped", [
    (b"\x01\x01\x01\x00", False),                          # NOPs, EOL
    (b"\x94\x04\x00\x00", False),                          # router alert
    (b"\x07\x07\x04" + b"\0" * 4 + b"\x00", False),        # record route, room for one address
    (b"\x44\x0c\x05\x00" + b"\0" * 8, False),              # timestamp, TSONLY, 2 slots
    (b"\x83\x07\x04" + b"\0" * 4 + b"\x00", True),         # LSRR: source routing refused
    (b"\x89\x07\x04" + b"\0" * 4 + b"\x00", True),         # SSRR
    (b"\x07\x07\x03" + b"\0" * 4 + b"\x00", True),         # RR pointer < 4
    (b"\x07\x09\x04" + b"\0" * 4 + b"\x00", True),         # length past the header
    (b"\x07\x01\x00\x00", True),                           # length < 2
    (b"\x44\x04\x05\xf0", True),                           # TS full, overflow counter 15
    (b"\x07\x03\x04" + b"\x07\x03\x04" + b"\0\0", True),   # RR twice
])
def test_ipv4_options_dropped_after_prerouting(opts, dropped):
    ip = ipv4(A, B, 17, udp(A, B, 1, 2, b"o"), options=opts)
    r = one(ether(ip))
    assert r["skip"] == 0 and r["sport"] == 1                  # conntrack still sees it
    assert (r["route"] == R.ROUTE_DROP) == dropped
    host = one(ether(ip), local_nets=[A + "/32"])               # sent by the host itself
    assert host["route"] == R.ROUTE_LOCAL_OUT


def test_tcp_options_flag_follows_data_offset():
    """tcp_options() runs only when doff*4 > 20: PF_TCP_OPTS says so, even for options
    conntrack ignores (MSS alone)."""
    from ctscope.craft import eth, ipv4, tcp
    from ctscope.packets.record import PF_TCP_OPTS
    from ctscope.packets.source import decode_packets

    with_mss = eth(ipv4("198.18.0.1", "198.19.0.1", tcp(1000, 80, "S", opts=[("mss", 1460)])))
    bare = eth(ipv4("198.18.0.1", "198.19.0.1", tcp(1000, 80, "S")))
    b = decode_packets([with_mss, bare])
    assert b["pflags"][0] & PF_TCP_OPTS and not b["pflags"][1] & PF_TCP_OPTS
    assert b["wscale"][0] == -1
