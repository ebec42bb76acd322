"""Datagram session builders: DNS, one-way UDP, ICMP echo, UDP probes."""
from __future__ import annotations

import numpy as np

from . import spec as sp
from .expand import expand, lognormal_ns, rows_for, seg_cumsum
from .spec import MS, US, S


def dns(rng, s: np.ndarray, names: np.ndarray | None = None, unanswered: float = 0.0,
        rtt_median_ms: float = 8.0) -> np.ndarray:
    """A query and (unless unanswered) its response one RTT later."""
    n = len(s)
    answered = rng.random(n) >= unanswered
    idx, step = expand(np.where(answered, 2, 1))
    rtt = lognormal_ns(rng, n, rtt_median_ms * MS, 1.0, 200 * US, 900 * MS)
    out = rows_for(s, idx, step.astype(np.uint8), step * rtt[idx])
    out["layout"] = sp.LAYOUT_UDP
    out["app"] = np.where(step == 0, sp.APP_DNS_Q, sp.APP_DNS_R)
    out["dns_id"] = rng.integers(0, 1 << 16, n)[idx]
    keys = names if names is not None else rng.integers(0, 1 << 30, n)
    out["name"] = keys[idx]
    return out


def oneway(rng, s: np.ndarray) -> np.ndarray:
    """One-way UDP streams (syslog, flow export, media): 1-20 datagrams, never answered."""
    n = len(s)
    idx, i = expand(np.minimum(1 + rng.poisson(5, n), 20))
    gaps = rng.exponential(0.5 * S, len(idx)).astype(np.int64) + 100 * US
    gaps[i == 0] = 0
    out = rows_for(s, idx, 0, seg_cumsum(gaps, idx) + gaps)
    out["layout"] = sp.LAYOUT_UDP
    out["tail"] = rng.integers(60, 1200, len(idx))
    return out


def echo(rng, s: np.ndarray, pings_mean: float = 3.0, interval_ns: int = S) -> np.ndarray:
    """ICMP / ICMPv6 echo: 1+ requests a second apart, each answered one RTT later."""
    n = len(s)
    pings = 1 + rng.poisson(pings_mean - 1, n)
    idx, j = expand(2 * pings)
    rtt = lognormal_ns(rng, n, 15 * MS, 0.8, 200 * US, 500 * MS)
    reply = (j % 2).astype(np.uint8)
    out = rows_for(s, idx, reply, (j // 2) * interval_ns + reply * rtt[idx])
    v6 = out["l3"] == 6
    out["layout"] = sp.LAYOUT_ICMP_ECHO
    out["icmp_type"] = np.where(v6, np.where(reply, 129, 128), np.where(reply, 0, 8))
    ident = rng.integers(1, 1 << 16, n)[idx]
    out["sport"], out["dport"] = ident, 1 + j // 2           # identifier, sequence
    out["tail"] = 56
    return out


def probes(rng, s: np.ndarray, unreachable: float = 0.6, answered: float = 0.02) -> np.ndarray:
    """UDP probes (empty datagrams); closed ports answer ICMP port unreachable, a few
    open ports answer with a datagram, the rest stay silent."""
    n = len(s)
    u = rng.random(n)
    kind = np.where(u < unreachable, 1, np.where(u < unreachable + answered, 2, 0))
    idx, step = expand(np.where(kind > 0, 2, 1))
    rtt = lognormal_ns(rng, n, 2 * MS, 0.5, 100 * US, 200 * MS)
    out = rows_for(s, idx, step.astype(np.uint8), step * rtt[idx])
    err = (step == 1) & (kind[idx] == 1)
    v6 = out["l3"] == 6
    out["layout"] = np.where(err, sp.LAYOUT_ICMP_UNREACH, sp.LAYOUT_UDP)
    out["icmp_type"] = np.where(err, np.where(v6, 1, 3), 0)
    out["icmp_code"] = np.where(err, np.where(v6, 4, 3), 0)
    # the error quotes the probe: its ports stay those of the probe (client -> server)
    out["sport"] = np.where(err, out["dport"], out["sport"])
    out["dport"] = np.where(err, s["sport"][idx], out["dport"])
    out["tail"] = np.where((step == 1) & (kind[idx] == 2), 32, 0)
    return out
