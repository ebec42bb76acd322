"""A remedy scenario: settings plus raw-table rules, and what an operator would install.

A ``Scenario`` is replayed as it would be installed: its NOTRACK rules are rendered by
the rules package's emitters and loaded back with ``load_rules`` (the files ``--emit``
writes are the ones that were replayed).
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field

from ..engine.settings import Settings

# lower = preferred among remedies that remove every drop (the seed recommends NOTRACK)
COST = {"notrack": 1, "size": 2, "user": 2, "kube-proxy": 3, "timeouts": 4, "stop-tracking": 9,
        "baseline": 0}


@dataclass
class Scenario:
    name: str
    kind: str                      # baseline, size, kube-proxy, notrack, timeouts, stop-tracking, user
    title: str
    settings: Settings
    rules: object = None           # RuleSet replayed (baseline rules + the remedy's)
    sysctl: dict = field(default_factory=dict)      # sysctls the remedy sets (bare names)
    notrack: list = field(default_factory=list)     # rules.NotrackMatch list
    why: list = field(default_factory=list)         # why these values (comments in emitted files)
    notes: list = field(default_factory=list)       # caveats shown with the ranking
    emittable: bool = True
    rule_paths: tuple = ((), ())   # user scenarios: their own rule files (v4/nft, v6)

    @property
    def cost(self) -> int:
        return COST.get(self.kind, 5)

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "title": self.title, "sysctl": dict(self.sysctl),
                "notrack": [notrack_dict(m) for m in self.notrack], "why": list(self.why),
                "notes": list(self.notes), "emittable": self.emittable}


def notrack_dict(m) -> dict:
    from ..rules.names import PROTO_NAMES
    return {"proto": PROTO_NAMES.get(m.proto, m.proto) if m.proto is not None else None,
            "dports": [list(r) for r in m.dports], "sports": [list(r) for r in m.sports],
            "saddr": list(m.saddr), "daddr": list(m.daddr)}


def derive_settings(base: Settings, changes: dict) -> Settings:
    """A copy of ``base`` with ``changes`` (bare sysctl names -> int) applied."""
    s = Settings(values=dict(base.values), ram=base.ram_bytes, ignored=list(base.ignored), seed=base.seed,
                 events=False, gc=base.gc, chain_limit=base.chain_limit)
    for k, v in changes.items():
        s.set(k, str(int(v)), "plan")
    return s


class RuleLoader:
    """Loads baseline rule files plus generated NOTRACK files (kept in a private temp
    directory until ``close``) through ``load_rules``."""

    def __init__(self, base4=(), base6=(), ipsets=()):
        self.base4, self.base6, self.ipsets = list(base4), list(base6), list(ipsets)
        self._dir = tempfile.mkdtemp(prefix="ctscope-plan-")
        self._n = 0

    def load(self, notrack=(), extra4=(), extra6=(), replace: bool = False):
        from ..rules import emit_nft_notrack, load_rules

        paths4 = ([] if replace else list(self.base4)) + list(extra4)
        paths6 = ([] if replace else list(self.base6)) + list(extra6)
        if notrack:
            self._n += 1
            p = os.path.join(self._dir, f"notrack-{self._n}.nft")
            with open(p, "w") as fh:
                fh.write(emit_nft_notrack(list(notrack)))
            paths4.append(p)
        if not paths4 and not paths6:
            return None
        return load_rules(paths4, paths6, self.ipsets)

    def close(self) -> None:
        import shutil
        shutil.rmtree(self._dir, ignore_errors=True)
