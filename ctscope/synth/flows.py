"""The ``flows`` profile: about N flows open at the same time (the benchmark's large tables).

Every flow opens during the first 40 % of the capture (``W = 0.4 x duration``, open
times uniform over ``[0, W)``), so that all of them are open together at ``t = W``:

* TCP (``1 - udp_share``, 70 % to port 443 with TLS records, 30 % to port 80 with
  HTTP): the handshake at ``t0``; exactly ``W`` later one request and a one-segment
  response; ``close_share`` of them then close ``W / 2`` after that, half with client
  FINs (FIN, FIN, ACK), half with a client RST.  The others stay ESTABLISHED.
* UDP (``udp_share``): a DNS query and its response at ``t0``, another query and
  response on the same socket ``W`` later.

So no flow is quiet for more than ``W`` (8 s with the default 20 s): every UDP entry
outlives the gap (udp timeout 30 s) as long as ``duration <= 60`` s, and nothing
closes before ``t = 1.5 W``, after the last flow opened.  About 5.1 packets per flow
with the defaults (TCP 5 + closes, UDP 4); ~20 % IPv6 like the mix.  The 5-tuples are
distinct: each client hands out its own ephemeral ports (``hosts.client_ports``).
"""
from __future__ import annotations

import numpy as np

from . import dgram, hosts, tcp
from . import headers as hd
from . import spec as sp
from .expand import lognormal_ns, sessions
from .spec import MS, US, S

OPEN_SHARE = 0.4                 # of the duration: the window in which the flows open
DEFAULT_DURATION = 20.0
MIN_DURATION = 2.5               # W >= 1 s: handshakes and DNS answers fit in a phase
MAX_FLOWS_PER_CLIENT = 10_000    # well under the 28,232 ephemeral ports of a client


def flows(concurrency: int = 100_000, duration: float | None = None, rate: float | None = None,
          seed: int = 0, v6_share: float = 0.2, udp_share: float = 0.2, close_share: float = 0.2,
          clients: int | None = None, servers: int = 300) -> np.ndarray:
    """Spec rows (time-ordered) of ``concurrency`` flows that are all open together.

    ``duration`` in seconds (default 20; with ``rate`` in flows opened per second
    instead: ``concurrency / rate / 0.4``)."""
    n = int(concurrency)
    if n < 1:
        raise ValueError(f"concurrency must be positive, not {concurrency}")
    if duration is None:
        duration = n / rate / OPEN_SHARE if rate else DEFAULT_DURATION
    if duration < MIN_DURATION:
        raise ValueError(f"the flows profile needs a duration of at least {MIN_DURATION} s, not {duration}")
    W = int(OPEN_SHARE * duration * S)
    rng = np.random.default_rng([seed, 20])
    if clients is None:
        clients = max(1000, -(-n // MAX_FLOWS_PER_CLIENT))
    s = sessions(n)
    s["sid"] = np.arange(n)
    s["t0"] = np.sort(rng.integers(0, W, n))
    s["l3"] = np.where(rng.random(n) < v6_share, 6, 4)
    udp = rng.random(n) < udp_share
    client = rng.integers(0, clients, n)
    hosts.place(s, client, rng.integers(0, servers, n))
    https = rng.random(n) < 0.7
    s["sport"] = np.where(udp, 53, np.where(https, 443, 80))
    s["cport"] = hosts.client_ports(client, s["t0"])
    close = rng.random(n) < close_share
    rst = rng.random(n) < 0.5
    parts = [_tcp(rng, s[~udp], W, close[~udp], rst[~udp])] if (~udp).any() else []
    if udp.any():
        parts += _udp(rng, s[udp], W)
    rows = np.concatenate(parts)
    return rows[np.argsort(rows["ts"], kind="stable")]


def _tcp(rng, s: np.ndarray, W: int, close: np.ndarray, rst: np.ndarray) -> np.ndarray:
    """Handshake at t0, request and response at t0 + W, a share closed at t0 + 1.5 W."""
    n = len(s)
    v6 = s["l3"] == 6
    mss = np.where(v6, hd.MSS[6], hd.MSS[4]).astype(np.int64)
    rtt = lognormal_ns(rng, n, 20 * MS, 0.8, 300 * US, min(400 * MS, W // 4))
    c0 = rng.integers(0, 1 << 32, n, dtype=np.int64)
    s0 = rng.integers(0, 1 << 32, n, dtype=np.int64)
    http = s["sport"] == 80
    # one request/response round (tcp._rounds) with a single-segment response
    ri = np.arange(n)
    req_app = np.where(http, sp.APP_HTTP_REQ, sp.APP_TLS)
    resp_app = np.where(http, sp.APP_HTTP_RESP, sp.APP_TLS)
    req_tail = np.where(http, 0, rng.integers(100, 600, n))
    q = np.where(http, len(hd.HTTP_REQ), 5) + req_tail
    resp_min = np.where(http, len(hd.HTTP_RESP) + 1, 6)
    b = np.clip(rng.lognormal(np.log(700.0), 0.6, n).astype(np.int64), resp_min, mss)
    k = np.ones(n, dtype=np.int64)
    zero = np.zeros(n, dtype=np.int64)
    T = np.full(n, W, dtype=np.int64)
    data = tcp._rounds(s, ri, rtt, zero, c0, s0, mss, q, b, k, zero, zero, T,
                       req_app, resp_app, req_tail)
    # drop the client's pure ACK of the response: its next packet (FIN/RST) acknowledges it
    data = data[~((data["dir"] == 0) & (data["app"] == sp.APP_NONE))]
    parts = [tcp._handshake(s, rtt, c0, s0), data]
    if close.any():
        end = W + rtt + 5 * US                     # the response's offset from t0
        idle = W // 2 - (rtt + 5 * US)             # -> the close starts at t0 + 1.5 W
        mode = np.where(rst, tcp.CLOSE_RST, tcp.CLOSE_CLIENT_FIN)
        parts.append(tcp._close(s[close], mode[close], end[close], idle[close], rtt[close],
                                (c0 + 1 + q)[close], (s0 + 1 + b)[close]))
    return np.concatenate(parts)


def _udp(rng, s: np.ndarray, W: int) -> list:
    """A DNS query and response at t0, another pair on the same socket at t0 + W."""
    names = rng.integers(0, 1 << 30, len(s))
    later = s.copy()
    later["t0"] += W
    return [dgram.dns(rng, s, names=names), dgram.dns(rng, later, names=names)]
