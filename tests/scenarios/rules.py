"""NOTRACK, zone and raw-drop rules in nft and iptables syntax, mixed with tracked
traffic.  All scenarios of one syntax share one ruleset (one namespace run); the
rules match by port, by address block or by input interface."""
from __future__ import annotations

from ctscope.craft import TcpConversation, eth, icmp_error, ipv4, ipv6, udp

from .alloc import scenario

ZONE4, ZONE6 = "203.0.113.", "2001:db8:71::"          # zone 7 both ways
HALF4 = "203.0.114."                                   # zone 9 for the original direction only

NFT = """udp dport 5353 notrack
tcp dport 8080 notrack
ip saddr 203.0.113.0/24 ct zone set 7
ip daddr 203.0.113.0/24 ct zone set 7
ip6 saddr 2001:db8:71::/64 ct zone set 7
ip6 daddr 2001:db8:71::/64 ct zone set 7
ip saddr 203.0.114.0/24 ct zone set 9
udp dport 6666 notrack
udp dport 6666 ct zone set 5
iifname "s0" udp sport 5454 notrack
udp dport 19 drop"""

IPT4 = """*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -p udp --dport 5353 -j NOTRACK
-A PREROUTING -p tcp --dport 8080 -j CT --notrack
-A PREROUTING -s 203.0.113.0/24 -j CT --zone 7
-A PREROUTING -d 203.0.113.0/24 -j CT --zone 7
-A PREROUTING -s 203.0.114.0/24 -j CT --zone 9
-A PREROUTING -p udp --dport 6666 -j NOTRACK
-A PREROUTING -p udp --dport 6666 -j CT --zone 5
-A PREROUTING -i s0 -p udp --sport 5454 -j NOTRACK
-A PREROUTING -p udp --dport 19 -j DROP
COMMIT
"""

IPT6 = """*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -p udp --dport 5353 -j CT --notrack
-A PREROUTING -p tcp --dport 8080 -j NOTRACK
-A PREROUTING -s 2001:db8:71::/64 -j CT --zone 7
-A PREROUTING -d 2001:db8:71::/64 -j CT --zone 7
-A PREROUTING -i s0 -p udp --sport 5454 -j NOTRACK
COMMIT
"""


def _cases(alloc, syntax: str, kw: dict, base: int):
    out = []

    def add(name, items):
        out.append(scenario(f"rules_{syntax}_{name}", items, **kw))
    for v6 in (False, True):
        fam = "v6" if v6 else "v4"
        ip = ipv6 if v6 else ipv4
        c, s = alloc.pair(v6)
        add(f"notrack_udp_mixed_{fam}", [
            ("c", eth(ip(c, s, udp(5000, 5353, b"m")))), ("s", eth(ip(s, c, udp(5353, 5000, b"m")))),
            ("c", eth(ip(c, s, udp(5001, 53, b"q")))), ("s", eth(ip(s, c, udp(53, 5001, b"r")))),
            ("c", eth(ip(c, s, udp(5000, 5353, b"m"))))])
        c, s = alloc.pair(v6)
        a, b = TcpConversation(c, s, 40000, 8080), TcpConversation(c, s, 40001, 80)
        add(f"notrack_tcp_beside_tracked_{fam}", a.handshake() + b.handshake() + [a.send("c", 10), b.send("c", 10),
                                                                                  a.ack("s"), b.ack("s")])
        c, s = alloc.pair(v6)
        add(f"iif_notrack_replies_{fam}", [
            ("c", eth(ip(c, s, udp(5002, 5454, b"q")))), ("s", eth(ip(s, c, udp(5454, 5002, b"r")))),
            ("c", eth(ip(c, s, udp(5002, 5454, b"q")))), ("c", eth(ip(s, c, udp(5454, 5003, b"x"))))])
        zc, zs = (f"{ZONE6}{base:x}", f"{ZONE6}{base + 1:x}") if v6 else (f"{ZONE4}{base}", f"{ZONE4}{base + 1}")
        cv = TcpConversation(zc, zs, 40000, 80)
        q = ip(zc, zs, udp(5004, 53, b"q"))
        unreach = (1, 4) if v6 else (3, 3)
        add(f"zone_both_ways_{fam}", cv.handshake() + [cv.send("c", 10), cv.ack("s")] + [
            ("c", eth(q)), ("s", eth(ip(zs, zc, (icmp_error if not v6 else __import__(
                "ctscope.craft", fromlist=["icmp6_error"]).icmp6_error)(*unreach, q))))])
        if syntax != "iptables" or not v6:
            c, s = alloc.pair(v6)
            if not v6:
                add("notrack_then_zone_v4", [("c", eth(ip(c, s, udp(5005, 6666, b"q")))),
                                             ("s", eth(ip(s, c, udp(6666, 5005, b"r"))))])
                c, s = alloc.pair(v6)
                add("raw_drop_v4", [("c", eth(ip(c, s, udp(5006, 19, b"q")))),
                                    ("c", eth(ip(c, s, udp(5006, 20, b"q"))))])
    hc, hs = f"{HALF4}{base}", f"{HALF4}{base + 1}"
    add("zone_original_direction_only_v4", [("c", eth(ipv4(hc, hs, udp(5007, 53, b"q")))),
                                            ("s", eth(ipv4(hs, hc, udp(53, 5007, b"r")))),
                                            ("c", eth(ipv4(hc, hs, udp(5007, 53, b"q"))))])
    return out


def scenarios(alloc):
    return (_cases(alloc, "nft", {"rules_nft": NFT}, 10)
            + _cases(alloc, "iptables", {"rules_ipt4": IPT4, "rules_ipt6": IPT6}, 20))
