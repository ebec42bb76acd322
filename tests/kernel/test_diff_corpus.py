"""The scenario corpus (tests/scenarios) against the real kernel, scenario by scenario.

All scenarios are batched into a few namespace runs (one per distinct settings/rules/
timing, see ``verify_scenarios``); each test checks one scenario's frames and table
entries.  Known engine/decoder differences are strict xfails naming the kernel code.
"""
from __future__ import annotations

import pytest

from scenarios import build_corpus
from ctscope.verify import verify_scenarios
from ctscope.verify.compare import Comparison, compare_stats
from ctscope.verify.explain import format_explanation

pytestmark = pytest.mark.kernel

CORPUS = build_corpus()
KNOWN: dict[str, str] = {}   # scenario -> reason, for differences not fixed yet (strict xfail)


def _param(sc):
    marks = [pytest.mark.xfail(strict=True, reason=KNOWN[sc.name])] if sc.name in KNOWN else []
    return pytest.param(sc.name, marks=marks, id=sc.name)


@pytest.fixture(scope="module")
def corpus():
    return verify_scenarios(CORPUS)


@pytest.mark.parametrize("name", [_param(sc) for sc in CORPUS])
def test_scenario_agrees_with_the_kernel(corpus, name):
    view = corpus[0][name]
    if not view.agree:
        x = view.explain()
        pytest.fail(view.report() + ("\n" + format_explanation(x) if x else ""))
    assert view.comparison.frames == len(view.scenario.frames)


def test_stats_deltas_agree_in_every_run(corpus):
    bad = []
    for run in corpus[1]:
        if run.config.group == "xfail":
            continue
        out = Comparison()
        compare_stats(run.kernel.stats_delta, run.engine.tracker.stats(), out)
        if out.stats_diffs or run.kernel.capture_drops or run.kernel.table_problems:
            bad.append((run.config, out.stats_diffs, run.kernel.capture_drops, run.kernel.table_problems))
    assert bad == []


def test_corpus_agreement_figures(corpus):
    views = [v for v in corpus[0].values() if v.name not in KNOWN]
    scorable = sum(v.comparison.scorable for v in views)
    matched = sum(v.comparison.matched for v in views)
    frames = sum(v.comparison.frames for v in views)
    print(f"\ncorpus: {len(CORPUS)} scenarios in {len(corpus[1])} namespace runs; "
          f"{matched}/{scorable} scorable frames agree ({frames} frames)")
    assert scorable >= 0.97 * frames and matched == scorable
