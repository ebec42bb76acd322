"""More wire-level edge cases: Ethernet padding and trailing bytes, IPv4/IPv6 fragment
overlaps and duplicates, tiny first fragments, DCCP (generic on 6.18), SCTP heartbeat
first, ICMPv6 packet-too-big, quotes with IP options or bad inner checksums, GRE with
a checksum."""
from __future__ import annotations

import struct

from ctscope.craft import (TcpConversation, eth, fragment4, fragment6, generic, gre, icmp6_error, icmp_echo,
                           icmp_error, ip4_opt_record_route, ipv4, ipv6, sctp, tcp, udp)

from .alloc import scenario


def _frag4_raw(src, dst, proto, payload: bytes, offset: int, more: bool, ident: int) -> bytes:
    """An IPv4 fragment carrying ``payload`` at byte ``offset`` of the datagram's data."""
    from ctscope.craft import L4
    return ipv4(src, dst, L4(proto, payload), ident=ident, mf=more, frag_offset=offset)


def scenarios(alloc):
    out = []
    c, s = alloc.pair()
    cv = TcpConversation(c, s, 40000, 80)
    items = cv.handshake() + [cv.send("c", 5), cv.ack("s")]
    out.append(scenario("ethernet_padding_and_trailing_bytes_v4", [(sd, f + bytes(12)) for sd, f in items] + [
        ("c", eth(ipv4(c, s, udp(5000, 53, b"q"))) + b"trailing-garbage")]))
    c, s = alloc.pair(True)
    cv = TcpConversation(c, s, 40000, 80)
    out.append(scenario("ethernet_padding_v6", [(sd, f + bytes(8)) for sd, f in cv.handshake()]))
    c, s = alloc.pair()
    dg = udp(5000, 53, bytes(64))
    whole = ipv4(c, s, dg, ident=300)
    data = whole[20:]
    out.append(scenario("fragments_v4_duplicate_fragment", [
        ("c", eth(_frag4_raw(c, s, 17, data[:32], 0, True, 300))),
        ("c", eth(_frag4_raw(c, s, 17, data[:32], 0, True, 300))),
        ("c", eth(_frag4_raw(c, s, 17, data[32:], 32, False, 300)))]))
    c, s = alloc.pair()
    whole = ipv4(c, s, udp(5001, 53, bytes(64)), ident=301)
    data = whole[20:]
    out.append(scenario("fragments_v4_overlapping", [
        ("c", eth(_frag4_raw(c, s, 17, data[:40], 0, True, 301))),
        ("c", eth(_frag4_raw(c, s, 17, data[32:], 32, False, 301))),
        ("c", eth(ipv4(c, s, udp(5002, 53, b"after"))))]))
    c, s = alloc.pair()
    whole = ipv4(c, s, udp(5003, 53, bytes(40)), ident=302)
    data = whole[20:]
    out.append(scenario("fragments_v4_tiny_first_fragment", [
        ("c", eth(_frag4_raw(c, s, 17, data[:8], 0, True, 302))),
        ("c", eth(_frag4_raw(c, s, 17, data[8:], 8, False, 302)))]))
    c, s = alloc.pair()
    ping = ipv4(c, s, icmp_echo(44, 1, bytes(600)), ident=303)
    out.append(scenario("fragments_v4_icmp_echo_and_ttl1_fragment", [("c", eth(f)) for f in fragment4(ping, 256)] + [
        ("s", eth(ipv4(s, c, icmp_echo(44, 1, bytes(10), reply=True))))]))
    c, s = alloc.pair(True)
    pkt = ipv6(c, s, udp(5004, 53, bytes(200)))
    fr = fragment6(pkt, 96, ident=77)
    out.append(scenario("fragments_v6_duplicate_and_overlap", [("c", eth(fr[0])), ("c", eth(fr[0])), ("c", eth(fr[1])),
                                                                ("c", eth(fr[2]))]))
    c, s = alloc.pair(True)
    pkt = ipv6(c, s, udp(5005, 53, bytes(200)))
    fr = fragment6(pkt, 96, ident=78)
    fr_overlap = fragment6(ipv6(c, s, udp(5005, 53, bytes(200))), 64, ident=78)[1]
    out.append(scenario("fragments_v6_overlapping", [("c", eth(fr[0])), ("c", eth(fr_overlap)), ("c", eth(fr[1])),
                                                     ("c", eth(fr[2])), ("c", eth(ipv6(c, s, udp(5006, 53, b"x"))))]))
    for v6 in (False, True):
        fam = "v6" if v6 else "v4"
        c, s = alloc.pair(v6)
        ip = ipv6 if v6 else ipv4
        first = ip(c, s, udp(5008, 53, bytes(300))) if v6 else ipv4(c, s, udp(5008, 53, bytes(300)), ident=7)
        second = ip(c, s, udp(5008, 53, bytes(200))) if v6 else ipv4(c, s, udp(5008, 53, bytes(200)), ident=7)
        split = (lambda pkt: fragment6(pkt, 128, ident=7)) if v6 else (lambda pkt: fragment4(pkt, 128))
        out.append(scenario(f"fragments_key_reused_by_the_next_datagram_{fam}",
                            [("c", eth(f)) for f in split(first)] + [("s", eth(ip(s, c, udp(53, 5008, b"r"))))]
                            + [("c", eth(f)) for f in split(second)]))
        c, s = alloc.pair(v6)
        ttl = {"hlim": 1} if v6 else {"ttl": 1}
        q1, q = eth(ip(c, s, udp(5009, 53, b"q"), **ttl)), eth(ip(c, s, udp(5009, 53, b"q")))
        out.append(scenario(f"ttl_1_copy_of_a_forwarded_frame_{fam}", [("c", q1), ("c", q), ("c", q1), ("c", q),
                                                                         ("s", eth(ip(s, c, udp(53, 5009, b"r"))))]))
    for v6 in (False, True):
        c, s = alloc.pair(v6)
        ip = ipv6 if v6 else ipv4

        def dccp(sport, dport):
            return generic(33, struct.pack("!HH", sport, dport) + bytes(12))
        out.append(scenario(f"dccp_entry_is_generic_unknown_without_ports_{'v6' if v6 else 'v4'}", [
            ("c", eth(ip(c, s, dccp(1000, 2000)))), ("s", eth(ip(s, c, dccp(2000, 1000)))),
            ("c", eth(ip(c, s, dccp(1001, 2000))))]))
    c, s = alloc.pair()
    out.append(scenario("sctp_heartbeat_first_and_abort_new", [
        ("c", eth(ipv4(c, s, sctp.sctp(5000, 80, 0x42, [sctp.heartbeat()])))),
        ("s", eth(ipv4(s, c, sctp.sctp(80, 5000, 0x42, [sctp.heartbeat_ack()])))),
        ("c", eth(ipv4(c, s, sctp.sctp(5001, 80, 0x43, [sctp.abort()])))),
        ("c", eth(ipv4(c, s, sctp.sctp(5002, 80, 0x44, [sctp.shutdown_ack()]))))]))
    c, s = alloc.pair(True)
    cv = TcpConversation(c, s, 40000, 80)
    items = cv.handshake()
    data = cv.send("c", 1200)
    router = s.replace("5::", "8::")
    out.append(scenario("icmpv6_packet_too_big_quoting_tcp", items + [
        data, ("s", eth(ipv6(router, c, icmp6_error(2, 0, data[1][14:], param=1280)))), cv.ack("s")]))
    c, s = alloc.pair()
    q = ipv4(c, s, udp(5007, 53, b"q"), options=ip4_opt_record_route(2))
    q_bad = ipv4(c, s, udp(5007, 53, b"q", bad_csum=True))
    out.append(scenario("icmp_error_quoting_options_and_bad_inner_checksum", [
        ("c", eth(q)), ("s", eth(ipv4(s, c, icmp_error(3, 1, q)))), ("s", eth(ipv4(s, c, icmp_error(3, 1, q_bad))))]))
    c, s = alloc.pair()
    inner = b"\x45" + b"\0" * 19
    out.append(scenario("gre_with_checksum_and_sequence", [
        ("c", eth(ipv4(c, s, gre(inner, checksum=True, seq=1)))), ("s", eth(ipv4(s, c, gre(inner, seq=9)))),
        ("c", eth(ipv4(c, s, gre(inner, checksum=True, bad_csum=True))))]))
    c, s = alloc.pair()
    out.append(scenario("tcp_syn_with_bad_checksum_and_options_garbage", [
        ("c", eth(ipv4(c, s, tcp(40000, 80, "S", 5, 0, 1000, opts=[("raw", b"\x03\x03")])))),
        ("c", eth(ipv4(c, s, tcp(40001, 80, "S", 5, 0, 1000, opts=[("raw", b"\x02\x04\x05")])))),
        ("c", eth(ipv4(c, s, tcp(40002, 80, "S", 5, 0, 1000, opts=[("wscale", 20)]))))]))
    return out
