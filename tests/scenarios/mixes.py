"""Seeded random mixes of hundreds of interleaved flows (valid, and perturbed), and
seeded TCP chaos (random flags, sequence numbers and windows on a few 4-tuples)."""
from __future__ import annotations

import random

from .alloc import scenario
from .flows import chaos_tcp, random_mix

MIXES = ((1, 300, 0.0), (2, 300, 0.0), (3, 250, 0.1), (4, 250, 0.2))
CHAOS = ((11, 400, 1, False), (12, 400, 3, False), (13, 400, 10, True), (14, 600, 5, False))
CHAOS_SETTINGS = {"liberal": {"nf_conntrack_tcp_be_liberal": 1}, "strict_pickup": {"nf_conntrack_tcp_loose": 0}}


def scenarios(alloc):
    out = [scenario(f"random_mix_seed{seed}_{n}_flows" + (f"_perturbed{int(rate * 100)}" if rate else ""),
                    random_mix(seed, n, block=100 + seed, perturb_rate=rate))
           for seed, n, rate in MIXES]
    for seed, n, tuples, v6 in CHAOS:
        out.append(scenario(f"random_chaos_tcp_seed{seed}_{tuples}_tuples{'_v6' if v6 else ''}",
                            chaos_tcp(random.Random(seed), n, tuples, block=100 + seed, v6=v6)))
    for k, (tag, st) in enumerate(CHAOS_SETTINGS.items()):
        out.append(scenario(f"random_chaos_tcp_{tag}", chaos_tcp(random.Random(20 + k), 400, 3, block=120 + k),
                            settings=st))
    return out
