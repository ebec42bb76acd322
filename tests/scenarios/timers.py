"""Timers in real time, with short per-namespace timeouts: entries that expire (and
what the next packet of the flow becomes), refreshes, the UDP stream timeout.
Every packet is at least 0.4 s away from an expiry, so jiffies rounding cannot decide."""
from __future__ import annotations

from ctscope.craft import TcpConversation, eth, generic, gre, icmp6_echo, icmp_echo, ipv4, ipv6, udp

from .alloc import scenario

SHORT = {"nf_conntrack_udp_timeout": 2, "nf_conntrack_udp_timeout_stream": 4,
         "nf_conntrack_icmp_timeout": 2, "nf_conntrack_icmpv6_timeout": 2,
         "nf_conntrack_tcp_timeout_syn_sent": 2, "nf_conntrack_tcp_timeout_syn_recv": 2,
         "nf_conntrack_tcp_timeout_established": 3, "nf_conntrack_tcp_timeout_time_wait": 2,
         "nf_conntrack_tcp_timeout_close": 2, "nf_conntrack_tcp_timeout_unacknowledged": 2,
         "nf_conntrack_generic_timeout": 2, "nf_conntrack_gre_timeout": 2}


def _timed(name, timed_items):
    sc = scenario(name, [], settings=SHORT)
    for t, side, frame in timed_items:
        sc.add(t, side, frame)
    sc.realtime = True
    return sc


def scenarios(alloc):
    out = []
    c, s = alloc.pair()
    q, r = eth(ipv4(c, s, udp(5000, 53, b"q"))), eth(ipv4(s, c, udp(53, 5000, b"r")))
    out.append(_timed("timer_udp_expires_then_new", [(0, "c", q), (0.2, "s", r), (2.8, "c", q)]))
    c, s = alloc.pair()
    q, r = eth(ipv4(c, s, udp(5000, 53, b"q"))), eth(ipv4(s, c, udp(53, 5000, b"r")))
    out.append(_timed("timer_udp_refresh_then_stream", [(0, "c", q), (0.2, "s", r), (1.4, "c", q),
                                                        (2.9, "c", q), (3.3, "s", r)]))
    c, s = alloc.pair(True)
    q, r = eth(ipv6(c, s, udp(5000, 53, b"q"))), eth(ipv6(s, c, udp(53, 5000, b"r")))
    out.append(_timed("timer_udp_reply_after_expiry_v6", [(0, "c", q), (2.6, "s", r), (2.8, "c", q)]))
    c, s = alloc.pair()
    out.append(_timed("timer_icmp_reply_after_expiry", [
        (0, "c", eth(ipv4(c, s, icmp_echo(3, 1, b"p")))), (2.6, "s", eth(ipv4(s, c, icmp_echo(3, 1, b"p", reply=True))))]))
    c, s = alloc.pair(True)
    out.append(_timed("timer_icmpv6_echo_refreshed", [
        (0, "c", eth(ipv6(c, s, icmp6_echo(3, 1, b"p")))), (1.5, "s", eth(ipv6(s, c, icmp6_echo(3, 1, b"p", reply=True)))),
        (3.0, "c", eth(ipv6(c, s, icmp6_echo(3, 2, b"p"))))]))
    c, s = alloc.pair()
    cv = TcpConversation(c, s, 40000, 80)
    out.append(_timed("timer_tcp_syn_sent_expires", [(0, *cv.syn()), (2.6, *cv.syn_ack()), (2.8, *cv.ack("c"))]))
    c, s = alloc.pair()
    cv = TcpConversation(c, s, 40000, 80)
    hs = cv.handshake()
    out.append(_timed("timer_tcp_established_expires_pickup", [(0, *hs[0]), (0.01, *hs[1]), (0.02, *hs[2]),
                                                               (3.6, *cv.send("c", 10)), (3.7, *cv.ack("s"))]))
    c, s = alloc.pair()
    cv = TcpConversation(c, s, 40000, 80)
    items = cv.handshake() + cv.close("c")
    cv2 = TcpConversation(c, s, 40000, 80, isn_c=900000, isn_s=77777)
    out.append(_timed("timer_tcp_time_wait_expires_then_syn", [(0.01 * k, sd, f) for k, (sd, f) in enumerate(items)]
                      + [(2.7, *cv2.syn()), (2.8, *cv2.syn_ack())]))
    c, s = alloc.pair()
    cv = TcpConversation(c, s, 40000, 80)
    items = cv.handshake() + [cv.rst("s")]
    out.append(_timed("timer_tcp_close_expires_then_ack", [(0.01 * k, sd, f) for k, (sd, f) in enumerate(items)]
                      + [(2.7, *cv.ack("c"))]))
    c, s = alloc.pair()
    cv = TcpConversation(c, s, 40000, 80)
    items = cv.handshake() + [cv.send("c", 100)]
    out.append(_timed("timer_tcp_unacknowledged_expires", [(0.01 * k, sd, f) for k, (sd, f) in enumerate(items)]
                      + [(2.6, *cv.ack("s")), (2.7, *cv.send("c", 10))]))
    c, s = alloc.pair()
    out.append(_timed("timer_generic_expires", [(0, "c", eth(ipv4(c, s, generic(253, b"x")))),
                                                (1.0, "s", eth(ipv4(s, c, generic(253, b"y")))),
                                                (3.4, "c", eth(ipv4(c, s, generic(253, b"x"))))]))
    c, s = alloc.pair()
    inner = b"\x45" + b"\0" * 19
    out.append(_timed("timer_gre_expires", [(0, "c", eth(ipv4(c, s, gre(inner)))), (0.3, "s", eth(ipv4(s, c, gre(inner)))),
                                            (2.9, "c", eth(ipv4(c, s, gre(inner))))]))
    return out
