"""Synthetic but realistic tables, for tests and benchmarks (``python -m
ctscope.formats.sample N FILE`` writes N /proc lines)."""
from __future__ import annotations

import random
import sys

from .entry import Entry, Tuple
from .text import format_proc

_TCP_STATES = (("ESTABLISHED", 431999, True), ("TIME_WAIT", 119, True), ("SYN_SENT", 119, False),
               ("CLOSE_WAIT", 59, True), ("FIN_WAIT", 100, True), ("SYN_RECV", 58, False))


def sample_entries(n: int, seed: int = 1) -> list[Entry]:
    """``n`` entries: ~70 % TCP, 25 % UDP, 4 % ICMP, 1 % GRE; ~8 % IPv6; zipf-ish hosts."""
    rnd = random.Random(seed)
    clients = [f"10.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}" for _ in range(5000)]
    servers = [f"192.0.2.{i}" for i in range(1, 60)] + [f"198.51.100.{i}" for i in range(1, 200)]
    ports = [443, 80, 53, 8080, 22, 5432, 6379, 3306, 9100, 123]
    out = []
    for _ in range(n):
        r = rnd.random()
        v6 = rnd.random() < 0.08
        if v6:
            src, dst = f"2001:db8::{rnd.randrange(1, 5000):x}", f"2001:db8:1::{rnd.randrange(1, 300):x}"
        else:
            src = clients[min(int(rnd.paretovariate(1.2)) - 1, len(clients) - 1) if rnd.random() < .5
                          else rnd.randrange(len(clients))]
            dst = servers[min(int(rnd.paretovariate(1.5)) - 1, len(servers) - 1)]
        l3, l3num = ("ipv6", 10) if v6 else ("ipv4", 2)
        e = Entry(orig=Tuple(src, dst), reply=Tuple(dst, src), l3=l3, l3num=l3num, mark=0, zone=0, use=2)
        if r < 0.70:
            state, e.timeout, e.assured = rnd.choice(_TCP_STATES)
            e.l4, e.l4num, e.state = "tcp", 6, state
            e.unreplied = state == "SYN_SENT"
        elif r < 0.95:
            e.l4, e.l4num, e.timeout = "udp", 17, rnd.randrange(1, 120)
            e.unreplied = rnd.random() < 0.4
            e.assured = not e.unreplied and rnd.random() < 0.5
        elif r < 0.99:
            e.l4, e.l4num, e.timeout = ("icmpv6", 58, 29) if v6 else ("icmp", 1, 29)
            ident = rnd.randrange(65536)
            e.orig.type, e.orig.code, e.orig.id = (128, 0, ident) if v6 else (8, 0, ident)
            e.reply.type, e.reply.code, e.reply.id = (129, 0, ident) if v6 else (0, 0, ident)
            e.unreplied = rnd.random() < 0.3
        else:
            e.l4, e.l4num, e.timeout = "gre", 47, 29
            e.gre_timeout, e.gre_stream_timeout = 30, 180
            e.orig.srckey = e.orig.dstkey = e.reply.srckey = e.reply.dstkey = 0
        if e.l4 in ("tcp", "udp"):
            sport, dport = rnd.randrange(1024, 65536), rnd.choice(ports)
            e.orig.sport, e.orig.dport, e.reply.sport, e.reply.dport = sport, dport, dport, sport
        out.append(e)
    return out


def main(argv: list[str]) -> int:
    n, path = int(argv[0]), argv[1]
    with open(path, "w") as fh:
        for e in sample_entries(n):
            fh.write(format_proc(e) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
