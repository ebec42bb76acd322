"""ICMP and ICMPv6: echo, reply without request, errors quoting TCP/UDP/ICMP flows,
errors quoting nothing known, neighbour discovery, unknown types."""
from __future__ import annotations

from ctscope.craft import (TcpConversation, eth, icmp, icmp6, icmp6_echo, icmp6_error, icmp_echo, icmp_error,
                           ipv4, ipv6, nd_neighbor_advert, nd_neighbor_solicit, nd_router_advert,
                           nd_router_solicit, udp)

from .alloc import scenario


def scenarios(alloc):
    out = []
    for v6 in (False, True):
        fam = "v6" if v6 else "v4"
        ip = ipv6 if v6 else ipv4
        echo, error = (icmp6_echo, icmp6_error) if v6 else (icmp_echo, icmp_error)
        unreach = (1, 4) if v6 else (3, 3)
        ttl_ex = (3, 0) if v6 else (11, 0)
        c, s = alloc.pair(v6)
        out.append(scenario(f"icmp_echo_{fam}", [
            ("c", eth(ip(c, s, echo(77, 1, b"ping")))), ("s", eth(ip(s, c, echo(77, 1, b"ping", reply=True)))),
            ("c", eth(ip(c, s, echo(77, 2, b"ping")))), ("s", eth(ip(s, c, echo(77, 2, b"ping", reply=True)))),
            ("s", eth(ip(s, c, echo(77, 3, b"dup", reply=True))))]))
        c, s = alloc.pair(v6)
        out.append(scenario(f"icmp_reply_without_request_{fam}", [
            ("s", eth(ip(s, c, echo(78, 1, b"pong", reply=True))))]))
        c, s = alloc.pair(v6)
        out.append(scenario(f"icmp_echo_bad_checksum_{fam}", [
            ("c", eth(ip(c, s, echo(79, 1, b"ping", bad_csum=True)))), ("c", eth(ip(c, s, echo(79, 1, b"ping"))))]))
        # errors quoting a UDP flow, from either end, and from a router in between
        c, s = alloc.pair(v6)
        q = ip(c, s, udp(5000, 53, b"q"))
        router = s.replace("5::", "7::") if v6 else s.replace("198.19.", "198.20.")
        out.append(scenario(f"icmp_error_quoting_udp_{fam}", [
            ("c", eth(q)), ("s", eth(ip(s, c, error(*unreach, q)))),
            ("s", eth(ip(router, c, error(*ttl_ex, q)))), ("c", eth(q))]))
        c, s = alloc.pair(v6)
        cv = TcpConversation(c, s, 40000, 80)
        syn = cv.syn()
        out.append(scenario(f"icmp_error_quoting_tcp_{fam}", [
            syn, ("s", eth(ip(s, c, error(*unreach, syn[1][14:])))), cv.syn_ack(), cv.ack("c")]))
        c, s = alloc.pair(v6)
        router = s.replace("5::", "7::") if v6 else s.replace("198.19.", "198.20.")
        ping = ip(c, s, echo(90, 1, b"x"))
        out.append(scenario(f"icmp_error_quoting_icmp_echo_{fam}", [
            ("c", eth(ping)), ("s", eth(ip(router, c, error(*ttl_ex, ping))))]))
        c, s = alloc.pair(v6)
        q = ip(c, s, udp(5001, 53, b"q"))
        out.append(scenario(f"icmp_error_quoting_nothing_{fam}", [("s", eth(ip(s, c, error(*unreach, q))))]))
        c, s = alloc.pair(v6)
        q = ip(c, s, udp(5002, 53, b"q"))
        out.append(scenario(f"icmp_error_wrong_direction_{fam}", [
            ("c", eth(q)), ("c", eth(ip(c, s, error(*unreach, ip(s, c, udp(53, 5002, b"r"))))))]))
        c, s = alloc.pair(v6)
        q = ip(c, s, udp(5003, 53, b"q"))
        out.append(scenario(f"icmp_error_truncated_quote_{fam}", [
            ("c", eth(q)), ("s", eth(ip(s, c, error(*unreach, q, limit=(40 if v6 else 20) + 2))))]))
        c, s = alloc.pair(v6)
        q = ip(c, s, udp(5004, 53, b"q"))
        out.append(scenario(f"icmp_error_bad_checksum_{fam}", [
            ("c", eth(q)), ("s", eth(ip(s, c, error(*unreach, ip(c, s, udp(5004, 53, b"q")), bad_csum=True))))]))
    c, s = alloc.pair(False)
    out.append(scenario("icmp_unknown_types_v4", [("c", eth(ipv4(c, s, icmp(t, 0)))) for t in (9, 10, 13, 15, 17, 42)]
                        + [("s", eth(ipv4(s, c, icmp(14, 0))))]))
    c, s = alloc.pair(True)
    out.append(scenario("icmp_unknown_types_v6", [("c", eth(ipv6(c, s, icmp6(t, 0)))) for t in (130, 131, 139, 200)]))
    c, s = alloc.pair(True)
    mac = "02:00:00:00:00:0c"
    out.append(scenario("icmpv6_neighbour_discovery_global", [
        ("c", eth(ipv6(c, s, nd_neighbor_solicit(s, mac), hlim=255))),
        ("s", eth(ipv6(s, c, nd_neighbor_advert(s, 0x60, mac), hlim=255))),
        ("c", eth(ipv6(c, "ff02::2", nd_router_solicit(mac), hlim=255))),
        ("s", eth(ipv6(s, "ff02::1", nd_router_advert(src_mac=mac), hlim=255))),
        ("c", eth(ipv6(c, "ff02::1:ff00:1", nd_neighbor_solicit(s, mac), hlim=255)))]))
    c, s = alloc.pair(True)
    out.append(scenario("icmpv6_mld_and_echo_to_all_nodes", [
        ("c", eth(ipv6(c, "ff02::1", icmp6_echo(5, 1, b"x")))), ("c", eth(ipv6(c, "ff02::2", icmp6(130, 0, bytes(20))))),
        ("c", eth(ipv6(c, "ff02::1", icmp6(143, 0, bytes(20)))))]))
    return out
