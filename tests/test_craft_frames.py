"""Header fields of crafted frames, decoded independently with dpkt."""
from __future__ import annotations

import struct

import dpkt

from ctscope.craft import (eth, ext_dest_opts, ext_fragment, ext_hop_by_hop, ext_routing, fragment4,
                           fragment6, generic, icmp6_error, icmp_error, ip4_options, ip4_opt_record_route,
                           ipv4, ipv6, nd_neighbor_advert, nd_neighbor_solicit, nd_router_advert,
                           nd_router_solicit, peek, tcp, udp)
from ctscope.craft.tcp_conv import TcpConversation


def test_ipv4_fields_and_options():
    opt = ip4_options(ip4_opt_record_route(3))
    l3 = ipv4("10.1.2.3", "10.4.5.6", udp(1, 2, b"x"), ttl=7, tos=0x10, ident=4242, df=True, options=opt)
    ip = dpkt.ip.IP(l3)
    assert (ip.ttl, ip.tos, ip.id, ip.df, ip.mf, ip.hl) == (7, 0x10, 4242, 1, 0, 5 + len(opt) // 4)
    assert ip.opts == opt and ip.len == len(l3) and ip.p == 17
    assert len(opt) % 4 == 0


def test_ipv4_fragments_reassemble_to_the_original():
    whole = ipv4("10.0.0.1", "10.0.0.2", udp(1000, 2000, bytes(range(256)) * 10), ident=99)
    frags = fragment4(whole, 1000)
    assert len(frags) == 3
    payload = b""
    for i, f in enumerate(frags):
        ip = dpkt.ip.IP(f)
        assert ip.id == 99 and ip.offset * 8 == i * 1000 and bool(ip.mf) == (i < 2)
        assert ip.sum == dpkt.ip.IP(bytes(ip)).sum  # header checksum consistent
        payload += f[20:]
        assert peek(eth(f)).fragment
    assert payload == whole[20:]


def test_ipv6_extension_headers_and_peek():
    l3 = ipv6("2001:db8::1", "2001:db8::2", udp(7, 8, b"data"), hlim=3, tclass=0x28, flowlabel=0x12345,
              ext=[ext_hop_by_hop(), ext_routing(), ext_dest_opts(b"\x01\x02\0\0")])
    assert (l3[6], l3[7]) == (0, 3)                   # next header HBH, hop limit
    assert (struct.unpack_from("!I", l3)[0] >> 20) & 0xFF == 0x28
    assert struct.unpack_from("!I", l3)[0] & 0xFFFFF == 0x12345
    p = peek(eth(l3))
    assert p.proto == 17 and p.key[3:] == (7, 8) and p.ttl == 3 and not p.fragment
    off = 40
    for _ in range(3):                                # every header a multiple of 8 bytes
        assert (l3[off + 1] + 1) * 8 % 8 == 0
        off += (l3[off + 1] + 1) * 8
    assert l3[off:off + 4] == struct.pack("!HH", 7, 8)


def test_ipv6_fragments():
    whole = ipv6("2001:db8::1", "2001:db8::2", udp(1, 2, bytes(3000)))
    frags = fragment6(whole, 1200, ident=7)
    assert len(frags) == 3 and all(f[6] == 44 for f in frags)
    offs = [struct.unpack_from("!H", f, 42)[0] for f in frags]
    assert [o & ~7 for o in offs] == [0, 1200, 2400] and [o & 1 for o in offs] == [1, 1, 0]
    assert b"".join(f[48:] for f in frags) == whole[40:]
    one = ipv6("2001:db8::1", "2001:db8::2", udp(1, 2, b"x"), ext=[ext_fragment(0, False, 5)])
    assert peek(eth(one)).fragment


def test_icmp_errors_quote_the_inner_packet():
    inner = ipv4("10.0.0.1", "10.0.0.2", udp(5000, 53, b"q"))
    err = ipv4("10.0.0.2", "10.0.0.1", icmp_error(3, 3, inner))
    ic = dpkt.ip.IP(err).data
    assert (ic.type, ic.code) == (3, 3) and bytes(ic.data)[4:] == inner
    assert peek(eth(err)).inner == (17, inner[12:16], inner[16:20], 5000, 53)
    inner6 = ipv6("2001:db8::1", "2001:db8::2", udp(1, 2, bytes(2000)))
    err6 = ipv6("2001:db8::2", "2001:db8::1", icmp6_error(1, 4, inner6))
    assert len(err6) <= 1280 and err6[48:48 + 40] == inner6[:40]


def test_nd_messages_types_and_options():
    cases = [(nd_router_solicit("02:00:00:00:00:01"), 133), (nd_router_advert(), 134),
             (nd_neighbor_solicit("2001:db8::9", "02:00:00:00:00:01"), 135),
             (nd_neighbor_advert("2001:db8::9"), 136)]
    for l4, typ in cases:
        l3 = ipv6("fe80::1", "ff02::1", l4, hlim=255)
        assert l3[40] == typ and l3[7] == 255
    ns = ipv6("fe80::1", "ff02::1:ff00:9", nd_neighbor_solicit("2001:db8::9", "02:00:00:00:00:01"))
    assert ns[48:64] == bytes.fromhex("20010db8000000000000000000000009") and ns[64:66] == b"\x01\x01"


def test_tcp_flags_options_and_payload():
    seg = tcp(1, 2, "SAEC", 10, 20, 300, [("mss", 1400), ("sackok",), ("ts", 5, 6), ("nop",), ("wscale", 9)],
              b"pl")
    t = dpkt.tcp.TCP(ipv4("10.0.0.1", "10.0.0.2", seg)[20:])
    assert t.flags == 0x02 | 0x10 | 0x40 | 0x80 and (t.seq, t.ack, t.win) == (10, 20, 300)
    opts = dict(dpkt.tcp.parse_opts(t.opts))
    assert opts[dpkt.tcp.TCP_OPT_MSS] == struct.pack("!H", 1400)
    assert opts[dpkt.tcp.TCP_OPT_WSCALE] == b"\x09"
    assert opts[dpkt.tcp.TCP_OPT_TIMESTAMP] == struct.pack("!II", 5, 6)
    assert t.data == b"pl" and len(t.opts) % 4 == 0
    sack = tcp(1, 2, "A", opts=[("nop",), ("nop",), ("sack", [(100, 200), (300, 400)])])
    assert sack.data[20:24] == b"\x01\x01\x05\x12"


def test_generic_protocol_and_peek_of_non_ip():
    l3 = ipv4("10.0.0.1", "10.0.0.2", generic(253, b"abc"))
    assert l3[9] == 253 and l3[20:] == b"abc"
    assert peek(b"\xff" * 12 + b"\x08\x06" + b"\0" * 28).version == 0


def test_tcp_conversation_v6_uses_hop_limit():
    conv = TcpConversation("2001:db8::1", "2001:db8::2", 1, 2, ttl=9)
    side, frame = conv.syn()
    assert side == "c" and frame[14 + 7] == 9 and frame[12:14] == b"\x86\xdd"
