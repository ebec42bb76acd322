"""GRE, SCTP, generic protocols, fragments, and the path-model cases (TTL 1,
multicast, broadcast, martians)."""
from __future__ import annotations

from ctscope.craft import (eth, fragment4, fragment6, generic, gre, icmp_echo, ipv4, ipv6, sctp, udp,
                           TcpConversation)

from .alloc import scenario


def _sctp(alloc, v6, name, body):
    c, s = alloc.pair(v6)
    ip = ipv6 if v6 else ipv4

    def cs(vtag, *chunks):
        return ("c", eth(ip(c, s, sctp.sctp(5000, 80, vtag, list(chunks)))))

    def sc(vtag, *chunks):
        return ("s", eth(ip(s, c, sctp.sctp(80, 5000, vtag, list(chunks)))))
    return scenario(name, body(cs, sc))


def protocols(alloc):
    out = []
    for v6 in (False, True):
        fam = "v6" if v6 else "v4"
        ip = ipv6 if v6 else ipv4
        c, s = alloc.pair(v6)
        inner = b"\x45" + b"\0" * 19
        out.append(scenario(f"gre_v0_{fam}", [("c", eth(ip(c, s, gre(inner)))), ("s", eth(ip(s, c, gre(inner)))),
                                              ("c", eth(ip(c, s, gre(inner, key=7))))]))
        for proto in (50, 253):
            c, s = alloc.pair(v6)
            out.append(scenario(f"generic_proto{proto}_{fam}", [
                ("c", eth(ip(c, s, generic(proto, b"x" * 20)))), ("s", eth(ip(s, c, generic(proto, b"y" * 20)))),
                ("c", eth(ip(c, s, generic(proto, b"z" * 20))))]))
        out.append(_sctp(alloc, v6, f"sctp_association_{fam}", lambda cs, sc: [
            cs(0, sctp.init(0x1111)), sc(0x1111, sctp.init_ack(0x2222)), cs(0x2222, sctp.cookie_echo()),
            sc(0x1111, sctp.cookie_ack()), cs(0x2222, sctp.data(1)), sc(0x1111, sctp.sack(1)),
            cs(0x9999, sctp.data(2)), cs(0x2222, sctp.shutdown(1)), sc(0x1111, sctp.shutdown_ack()),
            cs(0x2222, sctp.shutdown_complete())]))
        out.append(_sctp(alloc, v6, f"sctp_abort_{fam}", lambda cs, sc: [
            cs(0, sctp.init(0x3333)), sc(0x3333, sctp.init_ack(0x4444)), cs(0x4444, sctp.abort())]))
    out.append(_sctp(alloc, False, "sctp_bad_checksum_and_vtag0_data", lambda cs, sc: [
        ("c", eth(ipv4(*alloc.pair(), sctp.sctp(5000, 80, 0, [sctp.init(0x1)], bad_csum=True)))),
        cs(0, sctp.data(1)), cs(0, sctp.init(0x5555)), sc(0x5555, sctp.init_ack(0x6666)),
        sc(0x5555, sctp.heartbeat()), cs(0x6666, sctp.heartbeat_ack())]))
    return out


def fragments(alloc):
    out = []
    for v6 in (False, True):
        fam = "v6" if v6 else "v4"
        c, s = alloc.pair(v6)
        ip = ipv6 if v6 else ipv4
        pkt = ip(c, s, udp(5000, 53, bytes(1200)))
        frags = fragment6(pkt, 512) if v6 else fragment4(pkt, 512)
        reply = ip(s, c, udp(53, 5000, b"r"))
        out.append(scenario(f"fragments_udp_in_order_{fam}", [("c", eth(f)) for f in frags] + [("s", eth(reply))]))
        c, s = alloc.pair(v6)
        pkt = ip(c, s, udp(5001, 53, bytes(1200))) if v6 else ipv4(c, s, udp(5001, 53, bytes(1200)), ident=77)
        frags = fragment6(pkt, 512, ident=99) if v6 else fragment4(pkt, 512)
        out.append(scenario(f"fragments_udp_reversed_{fam}", [("c", eth(f)) for f in reversed(frags)]))
        c, s = alloc.pair(v6)
        pkt = ip(c, s, udp(5002, 53, bytes(1200))) if v6 else ipv4(c, s, udp(5002, 53, bytes(1200)), ident=78)
        frags = fragment6(pkt, 512, ident=100) if v6 else fragment4(pkt, 512)
        out.append(scenario(f"fragments_incomplete_{fam}", [("c", eth(frags[0])), ("c", eth(frags[1])),
                                                             ("c", eth(ip(c, s, udp(5003, 53, b"q"))))]))
        c, s = alloc.pair(v6)
        cv = TcpConversation(c, s, 40000, 80)
        items = cv.handshake()
        side, data = cv.send("c", 1000)
        l3 = data[14:]
        frags = fragment6(l3, 400, ident=101) if v6 else fragment4(l3, 400)
        out.append(scenario(f"fragments_tcp_data_{fam}", items + [("c", eth(f)) for f in frags] + [cv.ack("s")]))
    return out


def path_model(alloc):
    out = []
    c, s = alloc.pair()
    out.append(scenario("path_ttl_1_and_2_v4", [("c", eth(ipv4(c, s, udp(5000, 53, b"x"), ttl=1))),
                                                ("c", eth(ipv4(c, s, udp(5001, 53, b"x"), ttl=2))),
                                                ("c", eth(ipv4(c, s, udp(5000, 53, b"x"), ttl=0)))]))
    c, s = alloc.pair(True)
    out.append(scenario("path_hop_limit_1_v6", [("c", eth(ipv6(c, s, udp(5000, 53, b"x"), hlim=1))),
                                                ("c", eth(ipv6(c, s, udp(5001, 53, b"x"), hlim=2)))]))
    c, s = alloc.pair()
    cv = TcpConversation(c, s, 40000, 80, ttl=1)
    out.append(scenario("path_ttl_1_tcp_syn", [cv.syn(), cv.syn_ack()]))
    c, _s = alloc.pair()
    out.append(scenario("path_broadcast_and_multicast_v4", [
        ("c", eth(ipv4(c, "255.255.255.255", udp(6000, 67, b"x")))),
        ("c", eth(ipv4(c, "224.0.0.1", udp(6001, 7000, b"x"), ttl=1))),
        ("c", eth(ipv4(c, "224.0.0.5", udp(6002, 7000, b"x")))),
        ("c", eth(ipv4(c, "239.1.2.3", udp(6003, 7000, b"x")))),
        ("c", eth(ipv4(c, "224.0.0.1", icmp_echo(1, 1, b"x")))),
        ("c", eth(ipv4(c, "255.255.255.255", udp(6000, 67, b"x"))))]))
    c, _s = alloc.pair(True)
    out.append(scenario("path_multicast_v6", [
        ("c", eth(ipv6(c, "ff02::1", udp(6000, 7000, b"x"), hlim=1))),
        ("c", eth(ipv6(c, "ff02::2", udp(6001, 7000, b"x")))),
        ("c", eth(ipv6(c, "ff05::2", udp(6002, 7000, b"x")))),
        ("c", eth(ipv6(c, "ff02::fb", udp(5353, 5353, b"x")))),
        ("c", eth(ipv6(c, "ff0e::1234", udp(6003, 7000, b"x"))))]))
    c, s = alloc.pair()
    out.append(scenario("path_class_e_destination_forwarded", [
        ("c", eth(ipv4(c, "240.0.0.1", udp(6000, 7000, b"x")))),
        ("c", eth(ipv4(c, "250.1.2.3", udp(6001, 7000, b"x"))))]))
    c, s = alloc.pair()
    out.append(scenario("path_martians_v4", [
        ("c", eth(ipv4("0.0.0.0", s, udp(6001, 7000, b"x")))),
        ("c", eth(ipv4(c, "127.0.0.1", udp(6002, 7000, b"x")))),
        ("c", eth(ipv4(c, s, udp(6003, 7000, b"x"), bad_csum=True))),
        ("c", eth(ipv4(c, s, udp(6004, 7000, b"x"))))]))
    c, s = alloc.pair(True)
    out.append(scenario("path_link_local_v6", [
        ("c", eth(ipv6("fe80::1", s, udp(6000, 7000, b"x")))),
        ("c", eth(ipv6(c, "fe80::2", udp(6001, 7000, b"x")))),
        ("c", eth(ipv6(c, s, udp(6002, 7000, b"x"))))]))
    return out


def scenarios(alloc):
    return protocols(alloc) + fragments(alloc) + path_model(alloc)
