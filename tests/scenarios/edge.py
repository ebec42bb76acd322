"""Header edge cases: IPv6 extension headers and atomic fragments, IPv4 options, ECN,
TCP data on SYN/RST, malformed TCP, GRE version 1, SCTP chunk edge cases, ICMP errors
quoting errors or the reply direction."""
from __future__ import annotations

import struct

from ctscope.craft import (TcpConversation, eth, ext_dest_opts, ext_fragment, ext_hop_by_hop, ext_routing,
                           generic, icmp_echo, icmp_error, ip4_opt_record_route, ipv4, ipv6, sctp, tcp, udp)

from .alloc import scenario


def scenarios(alloc):
    out = []
    c, s = alloc.pair(True)
    out.append(scenario("ipv6_ext_hop_by_hop_and_dest_opts_udp", [
        ("c", eth(ipv6(c, s, udp(5000, 53, b"q"), ext=[ext_hop_by_hop()]))),
        ("s", eth(ipv6(s, c, udp(53, 5000, b"r"), ext=[ext_dest_opts()]))),
        ("c", eth(ipv6(c, s, udp(5000, 53, b"q"), ext=[ext_hop_by_hop(), ext_dest_opts()])))]))
    c, s = alloc.pair(True)
    cv = TcpConversation(c, s, 40000, 80)
    out.append(scenario("ipv6_ext_routing_type0_tcp", [
        cv.segment("c", "S", ext=[ext_routing(segments_left=0)]), cv.syn_ack(), cv.ack("c"),
        cv.segment("c", "PA", bytes(20), ext=[ext_dest_opts()]), cv.ack("s")]))
    c, s = alloc.pair(True)
    out.append(scenario("ipv6_atomic_fragment_accounted_without_fragment_header", [
        ("c", eth(ipv6(c, s, udp(5001, 53, b"q"), ext=[ext_fragment(0, False, 5)]))),
        ("s", eth(ipv6(s, c, udp(53, 5001, b"r"))))]))
    c, s = alloc.pair()
    out.append(scenario("ipv4_options_record_route_and_ecn", [
        ("c", eth(ipv4(c, s, udp(5000, 53, b"q"), options=ip4_opt_record_route(), tos=1))),
        ("s", eth(ipv4(s, c, udp(53, 5000, b"r"), tos=3))),
        ("c", eth(ipv4(c, s, udp(5000, 53, b"q"), ttl=255, df=True)))]))
    c, s = alloc.pair()
    cv = TcpConversation(c, s, 40000, 80)
    out.append(scenario("tcp_syn_with_data_fast_open", [
        cv.segment("c", "S", b"GET / HTTP/1.0\r\n"), cv.syn_ack(), cv.ack("c"), cv.send("s", 100), cv.ack("c")]))
    c, s = alloc.pair()
    cv = TcpConversation(c, s, 40000, 80)
    out.append(scenario("tcp_ecn_setup_and_ce", [
        cv.segment("c", "SEC"), cv.segment("s", "SAE"), cv.ack("c"), cv.segment("c", "PAC", bytes(10)),
        cv.segment("s", "AE")]))
    c, s = alloc.pair()
    cv = TcpConversation(c, s, 40000, 80)
    items = cv.handshake() + [cv.send("c", 10), cv.ack("s")]
    out.append(scenario("tcp_rst_with_payload", items + [cv.segment("s", "RA", b"reset reason")]))
    c, s = alloc.pair()
    out.append(scenario("tcp_malformed_data_offset", [
        ("c", eth(ipv4(c, s, tcp(40000, 80, "S", 1, 0, 1000, doff=4)))),
        ("c", eth(ipv4(c, s, tcp(40001, 80, "S", 1, 0, 1000, doff=15)))),
        ("c", eth(ipv4(c, s, tcp(40002, 80, "S", 1, 0, 1000))))]))
    c, s = alloc.pair()
    out.append(scenario("tcp_udp_port_zero", [
        ("c", eth(ipv4(c, s, tcp(0, 80, "S", 1, 0, 1000)))), ("c", eth(ipv4(c, s, udp(5000, 0, b"q")))),
        ("s", eth(ipv4(s, c, udp(0, 5000, b"r"))))]))
    c, s = alloc.pair()
    v1 = [("c", eth(ipv4(c, s, generic(47, struct.pack("!HHHH", 0x3001, 0x880B, 4, 7) + struct.pack("!I", 1) + bytes(4))))),
          ("s", eth(ipv4(s, c, generic(47, struct.pack("!HHHH", 0x2001, 0x880B, 0, 9))))),
          ("c", eth(ipv4(c, s, generic(47, struct.pack("!HHHH", 0x2001, 0x880B, 0, 7)))))]
    out.append(scenario("gre_version1_pptp_without_helper", v1))

    def sc_pair(v6=False):
        a, b = alloc.pair(v6)
        ip = ipv6 if v6 else ipv4
        return (lambda vtag, *ch: ("c", eth(ip(a, b, sctp.sctp(5000, 80, vtag, list(ch)))))), \
            (lambda vtag, *ch: ("s", eth(ip(b, a, sctp.sctp(80, 5000, vtag, list(ch))))))
    cs, ss = sc_pair()
    out.append(scenario("sctp_init_with_nonzero_vtag_and_cookie_echo_first", [
        cs(0x1234, sctp.init(0x1)), cs(0x7777, sctp.cookie_echo())]))
    cs, ss = sc_pair()
    out.append(scenario("sctp_multiple_chunks_and_shutdown_complete_t_bit", [
        cs(0, sctp.init(0x11)), ss(0x11, sctp.init_ack(0x22)), cs(0x22, sctp.cookie_echo(), sctp.data(1)),
        ss(0x11, sctp.cookie_ack(), sctp.sack(1)), cs(0x22, sctp.data(2), sctp.data(3)),
        cs(0x22, sctp.shutdown(3)), ss(0x11, sctp.shutdown_ack()), cs(0x11, sctp.shutdown_complete(t_bit=True))]))
    cs, ss = sc_pair(True)
    out.append(scenario("sctp_init_collision_v6", [
        cs(0, sctp.init(0x31)), ss(0, sctp.init(0x32)), ss(0x31, sctp.init_ack(0x33)), cs(0x32, sctp.init_ack(0x34))]))
    c, s = alloc.pair()
    router = s.replace("198.19.", "198.21.")
    q = ipv4(c, s, udp(5000, 53, b"q"))
    err1 = ipv4(router, c, icmp_error(11, 0, q))
    out.append(scenario("icmp_error_quoting_an_icmp_error", [
        ("c", eth(q)), ("s", eth(err1)), ("c", eth(ipv4(c, router, icmp_error(3, 3, err1))))]))
    c, s = alloc.pair()
    r = ipv4(s, c, udp(53, 5000, b"r"))
    out.append(scenario("icmp_error_about_the_reply_direction", [
        ("c", eth(ipv4(c, s, udp(5000, 53, b"q")))), ("s", eth(r)), ("c", eth(ipv4(c, s, icmp_error(3, 3, r))))]))
    c, s = alloc.pair()
    ping = ipv4(c, s, icmp_echo(9, 1, b"x"))
    out.append(scenario("icmp_echo_reply_quoted_in_redirect_and_source_quench", [
        ("c", eth(ping)), ("s", eth(ipv4(s, c, icmp_error(5, 1, ping)))), ("s", eth(ipv4(s, c, icmp_error(4, 0, ping)))),
        ("s", eth(ipv4(s, c, icmp_error(12, 0, ping))))]))
    return out
