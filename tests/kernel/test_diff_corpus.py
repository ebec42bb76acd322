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
KNOWN = {
    "path_class_e_destination_forwarded": (
        "decoder/path model: packets/path.py apply_path() drops 240.0.0.0/4 destinations, but "
        "net/ipv4/route.c ip_route_input_slow() has no class-E check: with a default route "
        "the router forwards them (kernel: NEW/forwarded)"),
    "ipv6_atomic_fragment_accounted_without_fragment_header": (
        "decoder: packets/decode.py skips an atomic fragment header (offset 0, M=0) and keeps "
        "iplen = payload length + 40; net/ipv6/netfilter/nf_conntrack_reasm.c nf_ct_frag6_gather() "
        "queues it like any fragment and nf_ct_frag6_reasm() removes the 8-byte header before "
        "conntrack accounts the packet (kernel bytes = engine bytes - 8)"),
}
_DCCP = ("engine: engine/tracker.py Tracker._entry() names protocol 33 'dccp' and shows sport/dport; "
         "6.18 has no DCCP tracker (removed in 6.16): nf_conntrack_core.c nf_ct_get_tuple() puts no "
         "ports in the tuple and nf_conntrack_standalone.c l4proto_name() prints 'unknown'")
KNOWN.update({f"dccp_entry_is_generic_unknown_without_ports_{v}": _DCCP for v in ("v4", "v6")})


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
