"""Many independent scenarios in few namespace runs.

``verify_scenarios(scenarios)`` batches ``craft.Scenario`` objects into one namespace
run per distinct configuration (settings, rules, timing, ``group``), then compares
them scenario by scenario: frames by index, table entries by the scenario's source
addresses (scenarios of one run must not share source addresses).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from ..craft.peek import peek
from . import engine as E
from .compare import Comparison
from .explain import explain
from .runner import Config, GroupRun, run_group


@dataclass
class ScenarioView:
    """One scenario's share of a batched run."""

    name: str
    run: GroupRun
    idx: list
    sources: set
    scenario: object
    comparison: Comparison = field(default=None)

    def __post_init__(self):
        if self.comparison is None:
            self.comparison = self.run.compare(self.idx, self.sources, stats=False)

    @property
    def agree(self) -> bool:
        return self.comparison.agree

    def explain(self) -> dict | None:
        """Step-mode replay of this scenario alone up to its first differing frame."""
        d = self.comparison.frame_diffs
        if not d:
            return None
        local = self.idx.index(d[0].i)
        return explain(list(self.scenario.frames), self.run.config, local)

    def report(self) -> str:
        c = self.comparison
        lines = [f"{self.name}: {c.matched}/{c.scorable} scorable frames agree"]
        pos = {g: n for n, g in enumerate(self.idx)}
        lines += [f"  {str(d).replace(f'frame {d.i}', f'frame {pos[d.i]}', 1)}" for d in c.frame_diffs[:5]]
        lines += [f"  table: {t}" for t in c.table_diffs[:5]] + [f"  {p}" for p in c.problems]
        return "\n".join(lines)


def _sources(frames) -> set:
    out = set()
    for _t, _s, fr in frames:
        p = peek(fr)
        if p.version:
            out.add(str(ipaddress.ip_address(p.src)))
    return out


def verify_scenarios(scenarios, limits: dict | None = None) -> tuple[dict, list]:
    """Batch ``scenarios`` by configuration; -> ({name: ScenarioView}, [GroupRun])."""
    limits = limits or E.host_limits()
    groups: dict = {}
    for sc in scenarios:
        groups.setdefault(Config.for_scenario(sc), []).append(sc)
    views, runs = {}, []
    for config, members in groups.items():
        merged = []                   # (t, scenario no., frame no., side, frame)
        for k, sc in enumerate(members):
            merged += [(t, k, j, s, f) for j, (t, s, f) in enumerate(sc.frames)]
        merged.sort(key=lambda x: (x[0], x[1], x[2]) if config.realtime else (x[1], x[2]))
        run = run_group([(t, s, f) for t, _k, _j, s, f in merged], config, limits)
        runs.append(run)
        idx = {k: [] for k in range(len(members))}
        for g, (_t, k, _j, _s, _f) in enumerate(merged):
            idx[k].append(g)
        for k, sc in enumerate(members):
            views[sc.name] = ScenarioView(sc.name, run, idx[k], _sources(sc.frames), sc)
    return views, runs
