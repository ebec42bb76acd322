"""Cost of the raw table: a 20-rule nft ruleset applied to a 65,536-packet batch.

    python -m bench.rules_apply

(A measurement, not a test: it prints best and median over 7 runs.)
"""
from __future__ import annotations

import time

import numpy as np

from ctscope.packets.record import ROUTE_FORWARD, ROUTE_LOCAL_IN, ROUTE_LOCAL_OUT, RULE_NOTRACK, empty_batch
from ctscope.rules import load_rules

RULES = """
table inet raw {
    set clients { type ipv4_addr; flags interval; elements = { 10.65.0.0/16, 192.168.10.7, 172.16.0.0/12 } }
    chain prerouting {
        type filter hook prerouting priority raw; policy accept;
        iifname "lo" accept
        udp dport 53 ip daddr { 10.96.0.10, 169.254.20.10 } notrack
        tcp dport { 80-82, 443, 8080 } ip saddr @clients notrack
        ip saddr 198.51.100.0/24 drop
        udp dport 4789 notrack
        meta l4proto gre notrack
        tcp flags syn / syn,ack tcp dport 22 counter
        iifname "cali*" meta mark set meta mark | 0x40000
        meta mark & 0x40000 == 0x40000 jump workload
        ip6 daddr 2001:db8::/32 udp dport 123 ct zone set 2
    }
    chain workload {
        ip saddr != 10.244.0.0/16 drop
        udp dport 11211 notrack
        return
    }
    chain output {
        type filter hook output priority raw; policy accept;
        udp sport 53 ip saddr 169.254.20.10 notrack
        tcp sport { 80-82, 443 } notrack
        udp dport 4789 notrack
        ip daddr 203.0.113.0/24 drop
        meta l4proto icmp accept
        th dport 11211 notrack
        oifname "eth1" ct zone set 5
    }
}
"""


def make_batch(n, seed=1):
    rng = np.random.default_rng(seed)
    b = empty_batch(n)
    b["l3"] = rng.choice([4, 4, 4, 6], n)
    b["src_lo"] = rng.choice(np.array([0x0A410101, 0x0A000001, 0xC6336401, 0x0AF40005, 0xA9FE140A], dtype=np.uint64), n)
    b["dst_lo"] = rng.choice(np.array([0x0A60000A, 0xA9FE140A, 0xCB007105, 0x0A000002], dtype=np.uint64), n)
    b["dst_hi"] = np.where(b["l3"] == 6, np.uint64(0x20010DB800000000), np.uint64(0))
    b["proto"] = rng.choice([6, 17, 47, 1], n)
    b["sport"] = rng.integers(0, 65536, n)
    b["dport"] = rng.choice([53, 80, 443, 4789, 11211, 123, 22, 40000], n)
    b["tcpflags"] = rng.choice([2, 18, 16], n)
    b["ifindex"] = rng.choice([1, 2, 3], n)
    b["route"] = rng.choice([ROUTE_FORWARD, ROUTE_LOCAL_IN, ROUTE_LOCAL_OUT], n)
    return b


def main() -> None:
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".nft") as fh:
        fh.write(RULES)
        fh.flush()
        rs = load_rules([fh.name])
    ifn = {1: "eth0", 2: "eth1", 3: "cali77"}
    b = make_batch(65536)
    rs.apply(b, ifn)                          # warm-up
    times = []
    for _ in range(7):
        t0 = time.perf_counter()
        rs.apply(b, ifn)
        times.append(time.perf_counter() - t0)
    notracked = int((b["rule"] == RULE_NOTRACK).sum())
    print(f"raw table: {len(rs.modelled)} rules x {len(b)} packets: best {min(times) * 1e3:.1f} ms, "
          f"median {sorted(times)[3] * 1e3:.1f} ms ({notracked} packets NOTRACK)")


if __name__ == "__main__":
    main()
