"""The dpkt tracker, defined exactly as in issue 2: ``dpkt.pcap.Reader``, a
``dpkt.ethernet.Ethernet`` decode of every frame, a dict keyed by the
direction-independent 5-tuple holding the TCP flags seen, first/last timestamp and
packet/byte counts, and idle expiry with per-protocol timeouts.

Usage: ``python -m bench.peers.dpkt_tracker FILE.pcap``; prints one summary line.
"""
from __future__ import annotations

import sys

import dpkt

IDLE_TIMEOUT = {6: 300.0, 17: 30.0, 1: 30.0, 58: 30.0}   # seconds; others: OTHER_TIMEOUT
OTHER_TIMEOUT = 60.0
SWEEP_EVERY = 10.0                                        # seconds of capture time


def track(path: str) -> dict:
    flows: dict = {}
    packets = expired = created = 0
    next_sweep = None
    with open(path, "rb") as fh:
        for ts, buf in dpkt.pcap.Reader(fh):
            ts = float(ts)                         # Decimal in nanosecond captures
            packets += 1
            eth = dpkt.ethernet.Ethernet(buf)
            ip = eth.data
            if not isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)):
                continue
            l4 = ip.data
            proto = ip.p if isinstance(ip, dpkt.ip.IP) else ip.nxt
            sport = getattr(l4, "sport", 0)
            dport = getattr(l4, "dport", 0)
            a, b = (ip.src, sport), (ip.dst, dport)
            key = (proto,) + ((a, b) if a <= b else (b, a))
            flow = flows.get(key)
            if flow is None:
                flow = flows[key] = [0, ts, ts, 0, 0]        # tcp flags, first, last, packets, bytes
                created += 1
            if proto == 6 and isinstance(l4, dpkt.tcp.TCP):
                flow[0] |= l4.flags
            flow[2] = ts
            flow[3] += 1
            flow[4] += len(buf)
            if next_sweep is None:
                next_sweep = ts + SWEEP_EVERY
            elif ts >= next_sweep:
                next_sweep = ts + SWEEP_EVERY
                idle = [k for k, f in flows.items()
                        if ts - f[2] > IDLE_TIMEOUT.get(k[0], OTHER_TIMEOUT)]
                for k in idle:
                    del flows[k]
                expired += len(idle)
    return {"packets": packets, "flows": created, "expired": expired, "active": len(flows)}


def main(argv: list[str]) -> int:
    result = track(argv[0])
    print(" ".join(f"{k}={v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
