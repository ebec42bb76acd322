"""``ctscope plan CAPTURE``: replay a capture under the baseline and candidate remedies.

Round 1 replays the baseline and the *demand* scenario (an unbounded table: what the
traffic needs when nothing is dropped).  The candidates are built from round 1
(``candidates.py``) and replayed in round 2 on the same decoded batches; user
scenarios from ``--scenarios FILE`` join them.  ``rank.py`` orders them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import candidates as C
from .rank import memory, rank
from .runner import MultiReplay
from .scenario import RuleLoader, Scenario, derive_settings

UNBOUNDED = 2**31 - 1


@dataclass
class Plan:
    capture: str
    scenarios: list
    results: dict
    ranking: list
    demand_peak: int
    entry_bytes: int
    entry_source: str
    headroom: float
    cpus: int
    from_host: bool = False
    conntrack: str = "unknown"
    notes: list = field(default_factory=list)
    capture_summary: dict = field(default_factory=dict)

    @property
    def baseline(self) -> Scenario:
        return self.scenarios[0]

    def scenario(self, name: str) -> Scenario | None:
        return next((s for s in self.scenarios if s.name == name), None)

    def recommended(self) -> dict | None:
        base = self.results[self.baseline.name]
        if base.drops == 0 and base.early_drops == 0:
            return None
        return self.ranking[0] if self.ranking else None

    def as_dict(self) -> dict:
        base = self.results[self.baseline.name]
        first, _step, _ = base.series
        s = base.summary
        rows = {r["name"]: r for r in self.ranking}
        scen = []
        for sc in self.scenarios:
            r = self.results[sc.name]
            d = sc.describe()
            d.update(r.as_dict())
            d["memory"] = memory(r.max, r.buckets, r.peak, self.entry_bytes, sc.kind == "stop-tracking")
            if sc.name in rows:
                d["rank"] = rows[sc.name]["rank"]
                d["reasons"] = rows[sc.name]["reasons"]
            scen.append(d)
        rec = self.recommended()
        return {
            "capture": self.capture, "frames": base.frames,
            "duration_s": ((s["last_ts"] - s["first_ts"]) / 1e9) if s.get("first_ts") is not None else 0.0,
            "baseline": {"ram_bytes": self.baseline.settings.ram_bytes,
                         "nf_conntrack_max": base.max, "nf_conntrack_buckets": base.buckets,
                         "changed": _changed(self.baseline.settings), "from_host": self.from_host,
                         "conntrack": self.conntrack},
            "demand_peak": self.demand_peak, "headroom": self.headroom, "cpus": self.cpus,
            "entry_bytes": self.entry_bytes, "entry_bytes_source": self.entry_source,
            "scenarios": scen,
            "ranking": [{k: v for k, v in r.items() if k != "key"} for r in self.ranking],
            "recommendation": ({"name": rec["name"], "title": rec["title"], "reasons": rec["reasons"]}
                               if rec else None),
            "notes": list(self.notes), "capture_summary": self.capture_summary,
        }


def _changed(settings) -> dict:
    """Settings that differ from the kernel defaults (for this RAM)."""
    from ..engine.settings import MODELLED, ram_defaults

    b, m = ram_defaults(settings.ram_bytes)
    dflt = {**{k: v for k, (v, _) in MODELLED.items()}, "nf_conntrack_max": m, "nf_conntrack_buckets": b}
    return {k: v for k, v in settings.values.items() if dflt.get(k) != v}


def entry_size() -> tuple[int, str]:
    """Bytes per entry: the nf_conntrack slab object size when readable, else the
    kernel reference figure of ``plan.sizing``."""
    from ..live.slab import read_slab
    from .sizing import ENTRY_BYTES_REFERENCE

    slab = read_slab()
    if slab.objsize:
        return int(slab.objsize), f"nf_conntrack slab object size ({slab.source})"
    return ENTRY_BYTES_REFERENCE, "kernel reference figure (struct nf_conn with the usual extensions)"


def plan_capture(args) -> Plan:
    from ..commands._common import local_nets_from_args, settings_from_args
    from ..errors import InputError

    notes: list = []
    host = None
    if args.from_host:
        from .host import read_host
        host = read_host(seed=args.seed)
        settings, r4, r6 = host.settings, host.rule_paths4 + list(args.rules), host.rule_paths6 + list(args.rules6)
        for item in args.set:
            name, _, value = item.partition("=")
            settings.set(name, value, f"--set {item}")
        notes += host.notes
        cpus = args.cpus or host.cpus
    else:
        settings, r4, r6 = settings_from_args(args), list(args.rules), list(args.rules6)
        import os
        cpus = args.cpus or os.cpu_count() or 1
    if not 0 <= args.headroom <= 10:
        raise InputError("--headroom must be a percentage between 0 and 1000", "--headroom")
    loader = RuleLoader(r4, r6, args.ipset)
    try:
        base_rules = loader.load()
        base = Scenario("baseline", "baseline", "the settings and rules given" if not host else "this host",
                        derive_settings(settings, {}), base_rules, emittable=False)
        demand_b = max(settings.get("nf_conntrack_buckets"), 262144)
        demand = Scenario("demand", "demand", "unbounded table",
                          derive_settings(settings, {"nf_conntrack_max": UNBOUNDED,
                                                     "nf_conntrack_buckets": demand_b}), base_rules)
        mr = MultiReplay(args.capture, settings, local_nets_from_args(args), args)
        res = mr.run([base, demand], composition_for={"demand"})
        dres = res.pop("demand")
        users = base_rules.conntrack_users() if base_rules is not None else []
        nat = any("nat" in u.reason.lower() for u in users)
        cands = [C.stop_tracking(base, loader, users),
                 C.size_table(base, dres.peak, args.headroom), C.kube_proxy(base, cpus)]
        cands += C.notrack(base, loader, dres.composition, nat)
        t = C.timeouts(base, dres.state_mix_peak)
        if t is not None:
            cands.append(t)
        if args.scenarios:
            from .usertoml import load_scenarios
            cands += load_scenarios(args.scenarios, base, loader, {c.name for c in cands} | {"baseline"})
        res.update(mr.run(cands))
    finally:
        loader.close()
        if host is not None:
            host.close()
    scenarios = [base] + cands
    eb, src = entry_size()
    return Plan(capture=args.capture, scenarios=scenarios, results=res, ranking=rank(scenarios, res, eb),
                demand_peak=dres.peak, entry_bytes=eb, entry_source=src, headroom=args.headroom, cpus=cpus,
                from_host=bool(host), conntrack=host.conntrack if host else "unknown", notes=notes,
                capture_summary=mr.capture_summary)
