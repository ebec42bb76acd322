"""Deterministic synthetic captures (``ctscope synth``, the benchmark's generator).

``generate(profile, ...)`` plans the traffic as time-ordered spec rows
(``spec.SPEC_DTYPE``); ``write_pcap(path_or_file, rows, ...)`` renders them to a
classic pcap (Ethernet, ns or us timestamps) with correct IPv4 header and
TCP/UDP/ICMP/ICMPv6 checksums.  Same arguments, same bytes.

Profiles: ``mix`` (the benchmark mix of issue 2: ``--packets`` over ``--duration``
with about 2,000 concurrent sessions), ``flows`` (``concurrency`` flows, all open at
the same time: the benchmark's large tables, see ``flows.py``) and those of
``profiles.PROFILES``.
"""
from __future__ import annotations

from typing import BinaryIO, Callable

import numpy as np

PROFILE_NAMES = ("mix", "flows", "http-no-keepalive", "dns-resolver", "gateway", "syn-flood", "udp-scan")


def generate(profile: str, *, packets: int | None = None, duration: float | None = None,
             rate: float | None = None, seed: int = 0, **params) -> np.ndarray:
    """Spec rows of a profile.  ``mix``: ``packets`` (default 100,000) over ``duration``
    seconds (default 300 s per million packets, or ``packets / rate`` with ``rate`` in
    packets/s).  ``flows``: ``concurrency`` flows (default 100,000) over ``duration``
    seconds (default 20, or from ``rate`` in flows opened/s); ``packets`` keeps only the
    first N frames.  Other profiles: ``rate`` in their unit and ``duration`` (defaults in
    ``profiles.PROFILES``); ``packets`` then keeps only the first N frames."""
    if profile == "mix":
        from .mix import mix
        n = 100_000 if packets is None else int(packets)
        if duration is None and rate:
            duration = n / rate
        return mix(n, duration, seed=seed, **params)
    if profile == "flows":
        from .flows import flows
        rows = flows(duration=duration, rate=rate, seed=seed, **params)
        return rows if packets is None else rows[:int(packets)]
    from .profiles import PROFILES
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; known: {', '.join(PROFILE_NAMES)}")
    p = PROFILES[profile]
    rows = p.make(rate or p.rate, p.duration if duration is None else duration, seed, **params)
    return rows if packets is None else rows[:int(packets)]


def write_pcap(out: str | BinaryIO, rows: np.ndarray, *, seed: int = 0, ns: bool = True,
               progress: Callable[[int, int], None] | None = None) -> int:
    """Write ``rows`` as a pcap; ``seed`` picks the filler bytes.  Returns bytes written."""
    from . import pcap
    if isinstance(out, str):
        with open(out, "wb") as fh:
            return pcap.write(fh, rows, seed, ns, progress)
    return pcap.write(out, rows, seed, ns, progress)
