"""UDP scenarios: one-way, request/reply, the 2-second stream rule (realtime), many
flows, checksums (bad, zero, IPv6 zero), malformed lengths, UDP-Lite."""
from __future__ import annotations

from ctscope.craft import eth, ipv4, ipv6, udp, udplite

from .alloc import scenario


def _ip(v6):
    return ipv6 if v6 else ipv4


def scenarios(alloc):
    out = []
    for v6 in (False, True):
        fam = "v6" if v6 else "v4"
        ip = _ip(v6)
        c, s = alloc.pair(v6)
        q, r = eth(ip(c, s, udp(5000, 53, b"q"))), eth(ip(s, c, udp(53, 5000, b"r")))
        out.append(scenario(f"udp_one_way_{fam}", [("c", q), ("c", q), ("c", q)]))
        c, s = alloc.pair(v6)
        q, r = eth(ip(c, s, udp(5000, 53, b"q"))), eth(ip(s, c, udp(53, 5000, b"r")))
        out.append(scenario(f"udp_request_reply_{fam}", [("c", q), ("s", r), ("c", q), ("s", r)]))
        c, s = alloc.pair(v6)
        r = eth(ip(s, c, udp(53, 5000, b"r")))
        out.append(scenario(f"udp_reply_first_{fam}", [("s", r), ("s", r)]))
        c, s = alloc.pair(v6)
        items = []
        for i in range(100):
            items.append(("c", eth(ip(c, s, udp(10000 + i, 53, b"q")))))
            if i % 2:
                items.append(("s", eth(ip(s, c, udp(53, 10000 + i, b"r")))))
        out.append(scenario(f"udp_many_flows_{fam}", items))
        c, s = alloc.pair(v6)
        out.append(scenario(f"udp_bad_checksum_{fam}", [
            ("c", eth(ip(c, s, udp(5001, 53, b"q", bad_csum=True)))), ("c", eth(ip(c, s, udp(5001, 53, b"q")))),
            ("s", eth(ip(s, c, udp(53, 5001, b"r", bad_csum=True)))), ("s", eth(ip(s, c, udp(53, 5001, b"r"))))]))
        c, s = alloc.pair(v6)
        out.append(scenario(f"udp_zero_checksum_{fam}", [("c", eth(ip(c, s, udp(5002, 53, b"q", no_csum=True)))),
                                                         ("s", eth(ip(s, c, udp(53, 5002, b"r"))))]))
        c, s = alloc.pair(v6)
        out.append(scenario(f"udp_bad_length_field_{fam}", [
            ("c", eth(ip(c, s, udp(5003, 53, b"qqqq", length=40)))),
            ("c", eth(ip(c, s, udp(5004, 53, b"qqqq", length=6)))), ("c", eth(ip(c, s, udp(5005, 53, b""))))]))
        c, s = alloc.pair(v6)
        out.append(scenario(f"udplite_{fam}", [
            ("c", eth(ip(c, s, udplite(7000, 8000, b"abc", kernel_pseudo=True)))),
            ("s", eth(ip(s, c, udplite(8000, 7000, b"def", kernel_pseudo=True)))),
            ("c", eth(ip(c, s, udplite(7001, 8000, b"abc")))),
            ("c", eth(ip(c, s, udplite(7002, 8000, b"abcdefgh", coverage=8, kernel_pseudo=True))))]))
    # the 2-second rule: realtime, few
    for name, times in (("udp_stream_rule_assured", (0.0, 0.2, 2.4)),
                        ("udp_stream_rule_too_early", (0.0, 0.2, 1.6)),
                        ("udp_stream_rule_reply_late", (0.0, 2.3, 2.5))):
        c, s = alloc.pair(False)
        q, r = eth(ipv4(c, s, udp(5010, 53, b"q"))), eth(ipv4(s, c, udp(53, 5010, b"r")))
        sc = scenario(name, [])
        sc.add(times[0], "c", q).add(times[1], "s", r).add(times[2], "c", q)
        sc.realtime = True
        out.append(sc)
    c, s = alloc.pair(True)
    q, r = eth(ipv6(c, s, udp(5010, 53, b"q"))), eth(ipv6(s, c, udp(53, 5010, b"r")))
    sc = scenario("udp_stream_rule_assured_v6", [])
    sc.add(0.0, "c", q).add(0.3, "s", r).add(2.5, "s", r)
    sc.realtime = True
    out.append(sc)
    return out
