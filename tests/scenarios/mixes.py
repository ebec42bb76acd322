"""Seeded random mixes of hundreds of interleaved flows (valid, and perturbed)."""
from __future__ import annotations

from .alloc import scenario
from .flows import random_mix

MIXES = ((1, 300, 0.0), (2, 300, 0.0), (3, 250, 0.1), (4, 250, 0.2))


def scenarios(alloc):
    return [scenario(f"random_mix_seed{seed}_{n}_flows" + (f"_perturbed{int(rate * 100)}" if rate else ""),
                     random_mix(seed, n, block=100 + seed, perturb_rate=rate))
            for seed, n, rate in MIXES]
