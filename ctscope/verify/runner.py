"""Running frames through the kernel and the engine and comparing them.

``verify_frames(frames, config)``: one namespace run, one engine run, compared; on a
frame difference ``explain.explain()`` replays the frames up to the first diverging
one in step mode on both sides and shows the entry before and after.  Batched
scenarios: ``scenarios.verify_scenarios``.
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass

from ..kernel import KernelHarness
from . import engine as E
from .compare import Comparison, compare_frames, compare_stats, compare_tables, entry_dict, owners_mask
from .explain import STEP_LIMIT, explain, format_explanation


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
        """Settings equal to what the harness pins anyway are left out (fewer runs)."""
        from ..kernel.netns import PINNED
        return cls(tuple(sorted((k, v) for k, v in (settings or {}).items() if PINNED.get(k) != v)), **kw)

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
    settings = E.engine_settings(dict(config.settings), limits)
    eng = E.run_engine([f for _t, _s, f in frames], E.BASE_NS + kres.sent_ns(), [f.side for f in kres.frames],
                       settings, config.engine_rules())
    etable = [entry_dict(e) for e in eng.tracker.entries(now=E.BASE_NS + kres.t_read_ns)]
    return GroupRun(config, list(frames), kres, eng, etable, time.monotonic() - t0)


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
    limits = limits or E.host_limits()
    run = run_group(frames, config, limits)
    comp = run.compare()
    res = VerifyResult(comp, run)
    if explain_first and comp.frame_diffs and comp.frame_diffs[0].i < STEP_LIMIT:
        res.explanation = explain(frames, config, comp.frame_diffs[0].i, limits)
    return res


def verify_capture(path: str, config: Config | None = None, **kw) -> VerifyResult:
    """A pcap or pcapng (Ethernet, optionally gzip) through both; sides by first frame of a flow."""
    from .capture import read_frames
    return verify_frames(read_frames(path), config, **kw)
