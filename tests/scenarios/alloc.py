"""Distinct client/server addresses per scenario (routing in the harness is by input
interface, so any unicast addresses work)."""
from __future__ import annotations

from ctscope.craft import Scenario


class Alloc:
    def __init__(self):
        self.n = 0

    def pair(self, v6: bool = False) -> tuple[str, str]:
        """A fresh (client, server) address pair."""
        self.n += 1
        k = self.n
        if k >= 65000:
            raise ValueError("address space exhausted")
        if v6:
            return f"2001:db8:c::{k:x}", f"2001:db8:5::{k:x}"
        return f"198.18.{k >> 8}.{k & 255}", f"198.19.{k >> 8}.{k & 255}"


def scenario(name: str, items, dt: float = 0.0, group: str = "", **kw) -> Scenario:
    """A scenario from (side, frame) pairs, ``dt`` seconds apart; ``group`` keeps
    scenarios with the same non-empty group in their own namespace run."""
    sc = Scenario(name, **kw)
    sc.extend(items, t=0.0, dt=dt)
    sc.group = group
    return sc
