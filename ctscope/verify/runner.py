"""Running frames through the kernel and the engine and comparing them.

``verify_frames(frames, config)``: one namespace run, one engine run, compared.
``verify_scenarios(scenarios)``: many independent ``craft.Scenario`` objects batched
into as few namespace runs as possible (one per distinct settings/rules/timing), then
compared scenario by scenario (frames by index, table entries by the scenario's
source addresses).  On a difference, ``explain()`` replays the frames up to the first
diverging one in step mode on both sides and shows the entry before and after.
"""
from __future__ import annotations

import ipaddress
import os
import tempfile
import time
from dataclasses import dataclass, field

from ..craft.peek import peek, reverse
from ..kernel import KernelHarness
from .compare import (Comparison, compare_frames, compare_stats, compare_tables, ct_name, entry_dict,
                      fate_name, owners_mask, show_entry)
from .engine import BASE_NS, engine_settings, host_limits, run_engine

STEP_LIMIT = 5000          # frames replayed in step mode to explain a difference


@dataclass(frozen=True)
class Config:
    """What a namespace run is set up with (hashable: groups scenarios)."""

    settings: tuple = ()                 # sorted (sysctl name, value) pairs
    rules_nft: str | None = None         # nft statements for the prerouting raw chain
    rules_ipt4: str | None = None        # iptables-restore input
    rules_ipt6: str | None = None        # ip6tables-restore input
    nft_ruleset: str | None = None       # a whole nft ruleset file (the CLI's --rules)
    realtime: bool = False
    max_gap: float | None = None
    group: str = ""                      # only separates runs (e.g. known differences)

    @classmethod
    def of(cls, settings: dict | None = None, **kw) -> "Config":
        return cls(tuple(sorted((settings or {}).items())), **kw)

    @classmethod
    def for_scenario(cls, sc) -> "Config":
        return cls.of(sc.settings, rules_nft=sc.rules_nft, rules_ipt4=sc.rules_ipt4,
                      rules_ipt6=sc.rules_ipt6, realtime=bool(getattr(sc, "realtime", False)),
                      group=getattr(sc, "group", ""))

    def harness(self) -> KernelHarness:
        h = KernelHarness(dict(self.settings), self.rules_nft, self.rules_ipt4, self.rules_ipt6)
        if self.nft_ruleset:
            try:
                h.topo.load_nft(self.nft_ruleset)
            except BaseException:
                h.close()
                raise
        return h

    def engine_rules(self):
        """The same raw-table rules for the engine, through the product's rule loader."""
        if not (self.rules_nft or self.rules_ipt4 or self.rules_ipt6 or self.nft_ruleset):
            return None
        from ..rules import load_rules
        with tempfile.TemporaryDirectory(prefix="ctscope-rules-") as d:
            p4, p6 = [], []

            def put(name, text, into):
                path = os.path.join(d, name)
                with open(path, "w") as f:
                    f.write(text if text.endswith("\n") else text + "\n")
                into.append(path)
            if self.rules_nft:
                body = "\n        ".join(ln.strip() for ln in self.rules_nft.splitlines() if ln.strip())
                put("user.nft", "table inet ctsc_user {\n    chain user_raw {\n        type filter hook "
                    f"prerouting priority raw; policy accept;\n        {body}\n    }}\n}}\n", p4)
            if self.nft_ruleset:
                put("ruleset.nft", self.nft_ruleset, p4)
            if self.rules_ipt4:
                put("rules.v4", self.rules_ipt4, p4)
            if self.rules_ipt6:
                put("rules.v6", self.rules_ipt6, p6)
            return load_rules(p4, p6)


@dataclass
class GroupRun:
    """One namespace run and the engine run fed with its actual send times."""

    config: Config
    frames: list
    kernel: object                 # kernel.KernelResult
    engine: object                 # engine.EngineRun
    etable: list                   # engine entries (harness dict shape) at the kernel's read time
    seconds: float = 0.0

    def compare(self, idx=None, sources: set | None = None, stats: bool = True) -> Comparison:
        """Frames ``idx`` (default all), entries of ``sources`` (default all), stats deltas."""
        out = Comparison()
        compare_frames(self.kernel, self.engine, range(len(self.frames)) if idx is None else idx, out)
        kt, et = self.kernel.table, self.etable
        if sources is not None:
            kt, et = owners_mask(kt, sources), owners_mask(et, sources)
        compare_tables(kt, et, out)
        if stats:
            compare_stats(self.kernel.stats_delta, self.engine.tracker.stats(), out)
        if self.kernel.table_problems:
            out.problems += [f"kernel table read: {p}" for p in self.kernel.table_problems]
        if self.kernel.capture_drops:
            out.problems.append(f"capture dropped {self.kernel.capture_drops} frames")
        return out


def run_group(frames, config: Config, limits: dict | None = None) -> GroupRun:
    """``frames`` = [(t, side, frame)] through a fresh namespace, then the engine."""
    t0 = time.monotonic()
    with config.harness() as h:
        kres = h.run(frames, realtime=config.realtime, max_gap=config.max_gap)
    settings = engine_settings(dict(config.settings), limits)
    eng = run_engine([f for _t, _s, f in frames], BASE_NS + kres.sent_ns(), [f.side for f in kres.frames],
                     settings, config.engine_rules())
    etable = [entry_dict(e) for e in eng.tracker.entries(now=BASE_NS + kres.t_read_ns)]
    return GroupRun(config, list(frames), kres, eng, etable, time.monotonic() - t0)


def _flow(frame: bytes):
    p = peek(frame)
    key = p.inner or p.key
    return None if key is None else frozenset((key, reverse(key)))


def explain(frames, config: Config, i: int, limits: dict | None = None) -> dict:
    """Replay ``frames[:i + 1]`` in step mode on both sides: frame ``i``'s verdicts and
    its flow's entry before and after it (kernel: ctnetlink GET after every frame)."""
    sub = list(frames[:i + 1])
    with config.harness() as h:
        kres = h.run(sub, realtime=config.realtime, max_gap=config.max_gap, step=True)
    settings = engine_settings(dict(config.settings), limits)
    eng = run_engine([f for _t, _s, f in sub], BASE_NS + kres.sent_ns(), [f.side for f in kres.frames],
                     settings, config.engine_rules(), step=True)
    flow = _flow(sub[i][2])
    k_before = None
    for j in range(i - 1, -1, -1):
        if flow is not None and _flow(sub[j][2]) == flow:
            k_before = kres.frames[j].entry
            break
    k_ct, k_fate = kres.codes()
    p = peek(sub[i][2])
    return {
        "frame": i, "side": kres.frames[i].side, "summary": describe(p),
        "kernel": {"ctinfo": ct_name(k_ct[i]) if k_ct[i] != 255 else kres.frames[i].ctinfo,
                   "fate": fate_name(k_fate[i]), "reason": kres.frames[i].reason,
                   "before": k_before, "after": kres.frames[i].entry},
        "engine": {"ctinfo": ct_name(eng.ct[i]), "fate": fate_name(eng.fate[i]),
                   "before": entry_dict(eng.before[i]), "after": entry_dict(eng.after[i])},
    }


def describe(p) -> str:
    """A short text for a peeked frame: 'tcp 198.18.0.1:40000 -> 198.19.0.1:80'."""
    if p.version == 0:
        return "not IP"
    src, dst = ipaddress.ip_address(p.src), ipaddress.ip_address(p.dst)
    names = {1: "icmp", 6: "tcp", 17: "udp", 47: "gre", 58: "icmpv6", 132: "sctp", 136: "udplite"}
    text = f"{names.get(p.proto, f'proto {p.proto}')} {src} -> {dst}"
    if p.key and p.proto in (6, 17, 132, 136):
        text = f"{names[p.proto]} {src}:{p.key[3]} -> {dst}:{p.key[4]}"
    if p.proto == 6 and len(p.l3) > ((p.l3[0] & 15) * 4 if p.version == 4 else 40) + 13:
        off = (p.l3[0] & 15) * 4 if p.version == 4 else 40
        fl = p.l3[off + 13]
        text += " [" + "".join(c for b, c in zip((2, 16, 1, 4, 8), "SAFRP") if fl & b) + "]"
    if p.fragment:
        text += " (fragment)"
    if p.inner:
        text += " (ICMP error)"
    return text


def format_explanation(x: dict) -> str:
    k, e = x["kernel"], x["engine"]
    return "\n".join([
        f"first diverging frame: #{x['frame']} (side {x['side']}): {x['summary']}",
        f"  kernel: {k['ctinfo']}/{k['fate']}" + (f" ({k['reason']})" if k["reason"] else ""),
        f"    entry before: {show_entry(k['before'])}",
        f"    entry after:  {show_entry(k['after'])}",
        f"  engine: {e['ctinfo']}/{e['fate']}",
        f"    entry before: {show_entry(e['before'])}",
        f"    entry after:  {show_entry(e['after'])}"])


@dataclass
class VerifyResult:
    """A comparison plus, on a frame difference, the step-mode explanation."""

    comparison: Comparison
    run: GroupRun
    explanation: dict | None = None

    @property
    def agree(self) -> bool:
        return self.comparison.agree

    @property
    def first_mismatch(self):
        return self.comparison.frame_diffs[0] if self.comparison.frame_diffs else None

    def to_dict(self) -> dict:
        k = self.run.kernel
        d = self.comparison.to_dict()
        d.update(kernel=k.kernel, inject_seconds=round(k.inject_seconds, 3),
                 seconds=round(self.run.seconds, 3), explanation=self.explanation,
                 stats_delta_kernel={n: k.stats_delta.get(n, 0) for n in sorted(k.stats_delta)},
                 stats_engine=self.run.engine.tracker.stats())
        return d

    def format(self) -> str:
        c = self.comparison
        pct = 100.0 * c.matched / c.scorable if c.scorable else 100.0
        lines = [f"kernel      Linux {self.run.kernel.kernel}, {c.frames:,} frames injected in "
                 f"{self.run.kernel.inject_seconds:.2f} s",
                 f"frames      {c.matched:,} of {c.scorable:,} scorable frames agree ({pct:.2f} %)"]
        if c.unscorable:
            lines.append("unscorable  " + ", ".join(f"{n} {r}" for r, n in sorted(c.unscorable.items())))
        lines.append(f"table       {c.table_matched:,} entries agree; kernel {c.table_kernel:,}, "
                     f"engine {c.table_engine:,} (timeouts within 2 s)")
        lines.append("stats       " + ("deltas agree" if not c.stats_diffs else ", ".join(
            f"{n}: kernel {kv} engine {ev}" for n, (kv, ev) in c.stats_diffs.items())))
        for p in c.problems:
            lines.append(f"problem     {p}")
        for d in c.frame_diffs[:10]:
            lines.append(f"differs     {d}")
        for t in c.table_diffs[:10]:
            lines.append(f"table diff  {t}")
        if self.explanation:
            lines.append(format_explanation(self.explanation))
        lines.append("verdict     " + ("AGREE" if self.agree else "DIFFER"))
        return "\n".join(lines)


def verify_frames(frames, config: Config | None = None, explain_first: bool = True,
                  limits: dict | None = None) -> VerifyResult:
    """One namespace run of ``frames`` = [(t, side|None, Ethernet frame)], compared."""
    config = config or Config()
    limits = limits or host_limits()
    run = run_group(frames, config, limits)
    comp = run.compare()
    res = VerifyResult(comp, run)
    if explain_first and comp.frame_diffs and comp.frame_diffs[0].i < STEP_LIMIT:
        res.explanation = explain(frames, config, comp.frame_diffs[0].i, limits)
    return res


def verify_capture(path: str, config: Config | None = None, **kw) -> VerifyResult:
    """A classic pcap (Ethernet, optionally gzip) through both; sides by first frame of a flow."""
    from .capture import read_frames
    return verify_frames(read_frames(path), config, **kw)


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
    limits = limits or host_limits()
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
