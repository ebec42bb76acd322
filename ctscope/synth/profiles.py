"""Seeded traffic profiles that reproduce the common causes of a full conntrack table.

Every profile is a function ``(rate, duration, seed) -> spec rows`` (time-ordered);
``rate`` is in the profile's own unit (see ``PROFILES``).  Sessions start uniformly
over ``[0, duration)``: the capture starts when the traffic does.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import dgram, hosts, mix, tcp
from .expand import sessions
from .spec import S


def _sessions(rng, n: int, duration: float, v6_share: float, clients: int) -> tuple:
    s = sessions(n)
    s["sid"] = np.arange(n)
    s["t0"] = np.sort(rng.integers(0, max(1, int(duration * S)), n))
    s["l3"] = np.where(rng.random(n) < v6_share, 6, 4)
    client = rng.integers(0, clients, n)
    return s, client


def _sorted(rows: np.ndarray) -> np.ndarray:
    return rows[np.argsort(rows["ts"], kind="stable")]


def http_no_keepalive(rate: float = 200.0, duration: float = 60.0, seed: int = 0) -> np.ndarray:
    """Short HTTP/1.0-style connections to port 80: one request, a small response, the
    server closes (FIN both ways): each leaves a TIME_WAIT entry behind for 120 s."""
    rng = np.random.default_rng([seed, 10])
    s, client = _sessions(rng, int(round(rate * duration)), duration, 0.1, 250)
    hosts.place(s, client, rng.integers(0, 4, len(s)))
    s["sport"] = 80
    s["cport"] = hosts.client_ports(client, s["t0"])
    shape = tcp.TcpShape(rounds_mean=1.0, resp_median=3000.0, resp_sigma=0.8, resp_max=60_000,
                         server_close=True, rtt_median_ms=10.0)
    return _sorted(tcp.connections(rng, s, shape, 0.0))


def dns_resolver(rate: float = 1000.0, duration: float = 60.0, seed: int = 0,
                 miss_share: float = 0.3) -> np.ndarray:
    """A caching resolver (10.255.0.53 / fd00::53 on port 53) asked ``rate`` queries/s by
    2,000 clients; ``miss_share`` of them make it ask an authoritative server upstream
    from a random source port (3 % of those go unanswered)."""
    rng = np.random.default_rng([seed, 11])
    n = int(round(rate * duration))
    s, client = _sessions(rng, n, duration, 0.1, 2000)
    hosts.place(s, client, np.zeros(n, dtype=np.int64))
    s["s_lo"] = np.where(s["l3"] == 6, 0x53, 0x0AFF0035)
    s["s_hi"] = np.where(s["l3"] == 6, 0xFD00000000000000, 0)
    s["sport"] = 53
    s["cport"] = hosts.client_ports(client, s["t0"])
    names = (rng.zipf(1.2, n) % 50_000).astype(np.int64)
    queries = dgram.dns(rng, s, names=names, rtt_median_ms=0.5)
    miss = rng.random(n) < miss_share
    up = s[miss].copy()
    up["sid"] += n
    up["t0"] += 200_000
    up["c_hi"], up["c_lo"] = s["s_hi"][miss], s["s_lo"][miss]
    hosts.place_server(up, rng.integers(0, 600, len(up)))
    up["cport"] = rng.integers(1024, 65536, len(up))
    upstream = dgram.dns(rng, up, names=names[miss], unanswered=0.03, rtt_median_ms=25.0)
    return _sorted(np.concatenate([queries, upstream]))


GATEWAY_TCP = tcp.TcpShape(rounds_mean=2.0, resp_median=2000.0, resp_sigma=1.0, rst_share=0.2)


def gateway(rate: float = 500.0, duration: float = 60.0, seed: int = 0,
            clients: int = 20_000, think_s: float = 2.0) -> np.ndarray:
    """A NAT gateway in front of ``clients`` hosts opening ``rate`` sessions/s of the
    benchmark mix's kinds (TCP with small responses, DNS, UDP, ICMP, some failed
    connections and scans)."""
    rng = np.random.default_rng([seed, 12])
    n = int(round(rate * duration))
    s, kind = mix.draw_sessions(rng, n, 0, max(1, int(duration * S)), clients, 2000, 0.2)
    return mix.build(rng, s, kind, think_s * S, GATEWAY_TCP)


def syn_flood(rate: float = 5000.0, duration: float = 30.0, seed: int = 0) -> np.ndarray:
    """Spoofed SYNs (random IPv4 sources and ports) to 203.0.113.10:80, never answered."""
    rng = np.random.default_rng([seed, 13])
    n = int(round(rate * duration))
    s, _ = _sessions(rng, n, duration, 0.0, 1)
    first = rng.integers(1, 224, n)
    first = np.where((first == 10) | (first == 127), first + 1, first)
    s["c_lo"] = (first.astype(np.uint64) << np.uint64(24)) | rng.integers(1, 1 << 24, n).astype(np.uint64)
    s["s_lo"] = 0xCB00710A
    s["sport"] = 80
    s["cport"] = rng.integers(1024, 65536, n)
    rows = tcp.scans(rng, s, 1, 1)
    rows["dport"] = 80
    rows["win"] = rng.integers(512, 65535, n)
    rows["ttl"] = rng.integers(32, 128, n)
    return _sorted(rows)


def udp_scan(rate: float = 1000.0, duration: float = 60.0, seed: int = 0) -> np.ndarray:
    """One scanner (198.51.100.66, source port 53535) sweeps UDP ports 1-1024 of every
    host of 10.0.1.0/24 with empty datagrams: closed ports answer ICMP port unreachable
    (60 %), a few answer (2 %), the rest stay silent."""
    rng = np.random.default_rng([seed, 14])
    n = int(round(rate * duration))
    s = sessions(n)
    s["sid"] = np.arange(n)
    s["t0"] = (np.arange(n) * (S / rate)).astype(np.int64) + rng.integers(0, 100_000, n)
    s["l3"] = 4
    s["c_lo"] = 0xC6336442
    i = np.arange(n)
    s["s_lo"] = 0x0A000100 + 1 + i % 254
    s["sport"] = 1 + (i // 254) % 1024
    s["cport"] = 53535
    return _sorted(dgram.probes(rng, s))


@dataclass(frozen=True)
class Profile:
    make: Callable
    rate_unit: str
    rate: float
    duration: float


PROFILES = {
    "http-no-keepalive": Profile(http_no_keepalive, "connections/s", 200.0, 60.0),
    "dns-resolver": Profile(dns_resolver, "client queries/s", 1000.0, 60.0),
    "gateway": Profile(gateway, "sessions/s", 500.0, 60.0),
    "syn-flood": Profile(syn_flood, "SYNs/s", 5000.0, 30.0),
    "udp-scan": Profile(udp_scan, "probes/s", 1000.0, 60.0),
}
