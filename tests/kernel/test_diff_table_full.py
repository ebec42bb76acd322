"""Table full at the kernel's scale (nf_conntrack_max of the running kernel, read-only):
the engine, fed the same fill, drops exactly the frames the kernel drops, and early
drop keeps the same books on both sides.  One fill per kind per run (module fixture)."""
from __future__ import annotations

import numpy as np
import pytest

from ctscope.craft import TcpConversation, eth, icmp_echo, ipv4, udp
from ctscope.engine.layout import CT_DROPPED, CT_ESTABLISHED, CT_NEW, FATE_CONNTRACK_DROP, FATE_FORWARDED
from ctscope.kernel.fill import handshake_frames
from ctscope.verify.fill import table_full_experiment

pytestmark = pytest.mark.kernel
NEW_SYNS = 8


def new_syns(n=NEW_SYNS):
    return [(0.0, "c", TcpConversation(f"198.20.0.{k + 1}", "198.19.0.1", 50000 + k, 80).syn()[1])
            for k in range(n)]


def assured_probe():
    """New SYNs, interleaved with a packet of an existing (ASSURED) flow, a new UDP flow
    and a new ICMP echo: only the frames that need a new entry are dropped."""
    existing_ack = handshake_frames(1, "assured", first=5)[2][1]
    items = new_syns()
    items.insert(2, (0.0, "c", existing_ack))
    items.insert(5, (0.0, "c", eth(ipv4("198.20.1.1", "198.19.0.1", udp(5000, 53, b"q")))))
    items.insert(7, (0.0, "c", eth(ipv4("198.20.1.2", "198.19.0.1", icmp_echo(1, 1, b"p")))))
    return items


@pytest.fixture(scope="module")
def full_runs():
    # Order matters.  The assured probe makes early_drop() fail, which sets the GC
    # worker's early-drop flag; that flag is global (one gc_work for all namespaces,
    # nf_conntrack_core.c early_drop()/gc_worker()) and stays set until a GC run ends
    # with a non-zero delay.  A fill of unassured entries right after would be culled
    # by that GC (every non-ASSURED entry while count >= 95 % of max; CI once lost 257
    # = one 256-reap slice + 1).  Unassured first: its probe's early drops succeed and
    # leave the flag clear; assured entries are immune to the GC's culling.
    runs = {"unassured": table_full_experiment("unassured", new_syns())}
    runs["assured"] = table_full_experiment("assured", assured_probe())
    return runs


def test_fill_reaches_the_limit_on_both_sides(full_runs):
    for run in full_runs.values():
        assert run.kernel_fill.capture_drops == 0
        assert run.kernel_count_fill == run.max == run.engine_count_fill, \
            f"{run.kind}: fill of {run.kernel_fill.frames} frames took {run.kernel_fill.send_seconds:.1f} s"
        assert run.kernel_fill.stats_delta["drop"] == run.engine_stats_fill["drop"] == 0


def test_assured_table_drops_exactly_the_same_frames(full_runs):
    run = full_runs["assured"]
    k_ct, k_fate = run.kernel_probe.codes()
    assert list(run.engine_ct) == list(k_ct)
    assert list(run.engine_fate) == list(k_fate)
    dropped = int(np.count_nonzero(k_ct == CT_DROPPED))
    assert dropped == NEW_SYNS + 2 and np.all(k_fate[k_ct == CT_DROPPED] == FATE_CONNTRACK_DROP)
    assert k_ct[2] == CT_ESTABLISHED and k_fate[2] == FATE_FORWARDED      # the existing flow passes
    assert run.kernel_probe.stats_delta["drop"] == run.engine_stats_probe["drop"] == dropped
    assert run.kernel_probe.stats_delta["early_drop"] == run.engine_stats_probe["early_drop"] == 0


def test_unassured_table_early_drops_for_every_new_syn(full_runs):
    run = full_runs["unassured"]
    k_ct, k_fate = run.kernel_probe.codes()
    assert list(k_ct) == list(run.engine_ct) == [CT_NEW] * NEW_SYNS
    assert list(k_fate) == list(run.engine_fate) == [FATE_FORWARDED] * NEW_SYNS
    k_early, e_early = run.kernel_probe.stats_delta["early_drop"], run.engine_stats_probe["early_drop"]
    assert k_early >= NEW_SYNS and e_early >= NEW_SYNS
    assert run.kernel_probe.count == run.max + NEW_SYNS - k_early
    assert run.engine_count == run.max + NEW_SYNS - e_early
    assert run.kernel_probe.stats_delta["drop"] == run.engine_stats_probe["drop"] == 0


def test_memory_per_entry_is_recorded(full_runs, record_property):
    run = full_runs["assured"]
    before, after = run.kernel_fill.slab_before, run.kernel_fill.slab_after
    if not after:
        pytest.skip("/proc/slabinfo is not readable")
    kernel_b = (after["bytes"] - before.get("bytes", 0)) / run.max
    engine_b = run.engine_table_bytes / run.max
    unreclaim_b = run.sunreclaim_delta / run.max if run.sunreclaim_delta else float("nan")
    record_property("kernel_slab_bytes_per_entry", round(kernel_b, 1))
    record_property("kernel_sunreclaim_bytes_per_entry", round(unreclaim_b, 1))
    record_property("engine_bytes_per_entry", round(engine_b, 1))
    print(f"\nnf_conntrack slab: {kernel_b:.0f} B/entry (objsize {after['objsize']}), SUnreclaim "
          f"{unreclaim_b:.0f} B/entry (with extensions); ctscope table: {engine_b:.0f} B/entry")
    assert after["objsize"] >= 200 and 0 < engine_b < kernel_b
