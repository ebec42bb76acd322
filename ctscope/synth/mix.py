"""The benchmark mix: N packets over D seconds with about C concurrent sessions.

Session shares (issue 2): 40 % TCP connections, 3 % failed TCP, 0.4 % SYN scans,
36 % DNS, 7 % one-way UDP, 8 % ICMP echo.  These add up to 94.4 %; they are used as
relative weights (so TCP is 40/94.4 = 42.4 % of the sessions).  20 % of the sessions
are IPv6 (scans included).

Concurrency is set by the think time of the TCP connections (Little's law: C = session
rate x mean session duration); sessions start uniformly over [-W, D) so that the
capture begins in the steady state, and the capture is cut to exactly N packets.
"""
from __future__ import annotations

import numpy as np

from . import dgram, hosts, tcp
from .expand import sessions
from .spec import S

TYPES = ("tcp", "failed", "scan", "dns", "oneway", "icmp")
SHARES = np.array([0.40, 0.03, 0.004, 0.36, 0.07, 0.08])
WEIGHTS = SHARES / SHARES.sum()
MIX_TCP = tcp.TcpShape(rounds_mean=3.0, resp_median=4600.0, resp_sigma=1.3, rst_share=0.2)
FAILED_PORTS = np.array([22, 25, 80, 443, 3306, 8080], dtype=np.uint16)
ONEWAY_PORTS = np.array([514, 2055, 4739, 5004], dtype=np.uint16)
RESOLVERS = 4


def draw_sessions(rng, n: int, t_lo: int, t_hi: int, clients: int, servers: int,
                  v6_share: float, weights=WEIGHTS) -> np.ndarray:
    """The session table plus a ``kind`` column (index into TYPES)."""
    s = sessions(n)
    s["sid"] = np.arange(n)
    s["t0"] = rng.integers(t_lo, t_hi, n) if n else 0
    kind = rng.choice(len(TYPES), n, p=weights)
    s["l3"] = np.where(rng.random(n) < v6_share, 6, 4)
    client = rng.integers(0, clients, n)
    server = rng.integers(0, servers, n)
    dns = kind == TYPES.index("dns")
    server = np.where(dns, server % RESOLVERS, server + RESOLVERS)
    hosts.place(s, client, server)
    https = rng.random(n) < 0.7
    s["sport"] = np.select(
        [kind == 0, kind == 1, dns, kind == 4],
        [np.where(https, 443, 80), FAILED_PORTS[rng.integers(0, len(FAILED_PORTS), n)], 53,
         ONEWAY_PORTS[rng.integers(0, len(ONEWAY_PORTS), n)]], 0)
    s["cport"] = np.where(kind == 5, 0, hosts.client_ports(client, s["t0"]))
    return s, kind


def build(rng, s: np.ndarray, kind: np.ndarray, think_ns: float, shape=MIX_TCP) -> np.ndarray:
    parts = []
    for k, name in enumerate(TYPES):
        sub = s[kind == k]
        if not len(sub):
            continue
        if name == "tcp":
            parts.append(tcp.connections(rng, sub, shape, think_ns))
        elif name == "failed":
            parts.append(tcp.failed(rng, sub))
        elif name == "scan":
            parts.append(tcp.scans(rng, sub))
        elif name == "dns":
            parts.append(dgram.dns(rng, sub))
        elif name == "oneway":
            parts.append(dgram.oneway(rng, sub))
        else:
            parts.append(dgram.echo(rng, sub))
    rows = np.concatenate(parts)
    return rows[np.argsort(rows["ts"], kind="stable")]


def _durations(rows: np.ndarray, n: int) -> np.ndarray:
    first = np.full(n, np.iinfo(np.int64).max)
    last = np.zeros(n, dtype=np.int64)
    np.minimum.at(first, rows["sid"], rows["ts"])
    np.maximum.at(last, rows["sid"], rows["ts"])
    return last - first


def mix(packets: int = 100_000, duration: float | None = None, concurrency: int = 2000,
        seed: int = 0, v6_share: float = 0.2, clients: int = 1000, servers: int = 300) -> np.ndarray:
    """Exactly ``packets`` rows over ``duration`` seconds (default: 300 s per million)."""
    if duration is None:
        duration = max(1.0, 300.0 * packets / 1e6)
    D = int(duration * S)
    rng = np.random.default_rng([seed, 1])
    # pilot: packets and think-free duration per session, think gaps per TCP session
    pilot_n = 20_000
    ps, pk = draw_sessions(rng, pilot_n, 0, 1, clients, servers, v6_share)
    prow = build(rng, ps, pk, 0.0)
    per_session = len(prow) / pilot_n
    fixed = _durations(prow, pilot_n).mean() / S
    thinks = WEIGHTS[0] * MIX_TCP.rounds_mean           # think gaps + idle before the close
    rate = packets / (duration * per_session)             # sessions per second
    think = max(0.0, (concurrency / rate - fixed) / thinks)
    warm = min(4 * (fixed / max(WEIGHTS[0], 1e-9) + MIX_TCP.rounds_mean * think), 2 * duration)
    n = int(rate * (duration + warm) * 1.03) + 16
    rng = np.random.default_rng([seed, 2])
    while True:
        s, kind = draw_sessions(rng, n, -int(warm * S), D, clients, servers, v6_share)
        rows = build(rng, s, kind, think * S)
        rows = rows[(rows["ts"] >= 0) & (rows["ts"] < D)]
        cum = np.cumsum(np.bincount(rows["sid"], minlength=n))
        if cum[-1] >= packets:
            keep = int(np.searchsorted(cum, packets)) + 1
            return rows[rows["sid"] < keep][:packets]
        n = int(n * 1.5) + 16
