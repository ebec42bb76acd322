"""Helpers shared by the session builders: the session table and vectorised expansion."""
from __future__ import annotations

import numpy as np

from . import spec as sp

# One row per session: who talks to whom, and when it starts.
SESSION_DTYPE = np.dtype(
    [
        ("sid", np.int64), ("t0", np.int64),
        ("c_hi", np.uint64), ("c_lo", np.uint64),     # client (originator)
        ("s_hi", np.uint64), ("s_lo", np.uint64),     # server (responder)
        ("cport", np.uint16), ("sport", np.uint16),   # client port, server port
        ("l3", np.uint8),
    ]
)

SERVER_HOPS = 10          # the capture sits next to the clients: replies arrive with a lower TTL


def sessions(n: int) -> np.ndarray:
    return np.zeros(n, dtype=SESSION_DTYPE)


def expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For per-item counts: (item index, position within the item) of every expanded row."""
    counts = np.asarray(counts, dtype=np.int64)
    idx = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    return idx, np.arange(len(idx), dtype=np.int64) - starts[idx]


def seg_cumsum(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Exclusive running sum of ``values`` restarting at each new ``group`` (sorted)."""
    values = np.asarray(values, dtype=np.int64)
    total = np.cumsum(values) - values
    first = np.r_[True, group[1:] != group[:-1]]
    base = np.maximum.accumulate(np.where(first, np.arange(len(values)), 0))
    return total - total[base]


def rows_for(s: np.ndarray, idx: np.ndarray, direction, ts: np.ndarray) -> np.ndarray:
    """Spec rows for sessions ``s[idx]`` at ``ts`` after their start, oriented by
    ``direction`` (0: client -> server)."""
    rows = sp.spec(len(idx))
    d = np.broadcast_to(np.asarray(direction, dtype=np.uint8), idx.shape)
    ss = s[idx]
    fwd = d == 0
    rows["ts"] = ss["t0"] + ts
    rows["sid"] = ss["sid"]
    rows["dir"] = d
    rows["l3"] = ss["l3"]
    rows["src_hi"] = np.where(fwd, ss["c_hi"], ss["s_hi"])
    rows["src_lo"] = np.where(fwd, ss["c_lo"], ss["s_lo"])
    rows["dst_hi"] = np.where(fwd, ss["s_hi"], ss["c_hi"])
    rows["dst_lo"] = np.where(fwd, ss["s_lo"], ss["c_lo"])
    rows["sport"] = np.where(fwd, ss["cport"], ss["sport"])
    rows["dport"] = np.where(fwd, ss["sport"], ss["cport"])
    rows["ttl"] = np.where(fwd, 64, 64 - SERVER_HOPS)
    return rows


def lognormal_ns(rng, n: int, median_ns: float, sigma: float, lo: float, hi: float) -> np.ndarray:
    return np.clip(rng.lognormal(np.log(median_ns), sigma, n), lo, hi).astype(np.int64)
