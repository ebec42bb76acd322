"""The same kinds of traffic under other conntrack settings: be_liberal, ignore_invalid_rst,
checksum off, accounting off, max_retrans 1."""
from __future__ import annotations

from ctscope.craft import TcpConversation, eth, ipv4, ipv6, udp

from .alloc import scenario

VARIANTS = {
    "liberal": {"nf_conntrack_tcp_be_liberal": 1},
    "ignore_invalid_rst": {"nf_conntrack_tcp_ignore_invalid_rst": 1},
    "checksum_off": {"nf_conntrack_checksum": 0},
    "acct_off": {"nf_conntrack_acct": 0},
    "max_retrans_1": {"nf_conntrack_tcp_max_retrans": 1},
}


def _tcp_cases(alloc, tag, st):
    out = []

    def conv(v6=False, **kw):
        c, s = alloc.pair(v6)
        return TcpConversation(c, s, 40000, 80, **kw)
    cv = conv()
    items = cv.handshake() + [cv.send("c", 100), cv.ack("s")]
    out.append(scenario(f"settings_{tag}_out_of_window", items + [cv.out_of_window("c"), cv.out_of_window("s"),
                                                                  cv.send("c", 10), cv.ack("s")], settings=st))
    cv = conv()
    items = cv.handshake() + [cv.segment("s", "R", seq=(cv.sides["s"].nxt + 70000) & 0xFFFFFFFF),
                              cv.segment("c", "RA", seq=(cv.sides["c"].nxt + 10) & 0xFFFFFFFF), cv.send("c", 10)]
    out.append(scenario(f"settings_{tag}_invalid_rsts", items, settings=st))
    cv = conv(True)
    items = cv.handshake() + [cv.segment("c", "PA", bytes(10), bad_csum=True, advance=False), cv.send("c", 10)]
    c, s = alloc.pair()
    items += [("c", eth(ipv4(c, s, udp(5000, 53, b"q", bad_csum=True)))), ("s", eth(ipv4(s, c, udp(53, 5000, b"r"))))]
    out.append(scenario(f"settings_{tag}_bad_checksums", items, settings=st))
    cv = conv()
    items = cv.handshake() + [cv.send("c", 500)] + [cv.retransmit("c") for _ in range(3)] + [cv.ack("s")]
    out.append(scenario(f"settings_{tag}_retransmissions", items, settings=st))
    cv = conv(wscale_c=None, wscale_s=None, win_c=4000, win_s=4000)
    cv.handshake()
    items = [cv.send("c", 1000), cv.send("s", 1000), cv.ack("c"), cv.send("c", 1200)] + cv.close("s")
    out.append(scenario(f"settings_{tag}_pickup_small_window", items, settings=st))
    c, s = alloc.pair(True)
    out.append(scenario(f"settings_{tag}_udp_v6", [("c", eth(ipv6(c, s, udp(1, 2, b"q")))),
                                                   ("s", eth(ipv6(s, c, udp(2, 1, b"r"))))], settings=st))
    return out


def scenarios(alloc):
    out = []
    for tag, st in VARIANTS.items():
        out += _tcp_cases(alloc, tag, st)
    return out
