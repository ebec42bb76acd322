"""Bulk fill, table full, and measured rates (root only).

The full 262,144-entry table-full experiment takes about 40 s and ~100 MB of kernel
memory: it runs only with CTSCOPE_SLOW=1 (marker ``slow``).
"""
from __future__ import annotations

import os
import time

import pytest

from ctscope.craft import TcpConversation, eth, ipv4, tcp
from ctscope.kernel import KernelHarness

pytestmark = pytest.mark.kernel


def test_per_frame_verdict_rate_and_completeness():
    frames = []
    for i in range(2500):                      # 2,500 connections x 9 frames = 22,500 frames
        conv = TcpConversation(f"198.18.{i >> 8}.{i & 255}", "198.19.0.1", 20000 + (i & 4095), 80)
        items = conv.handshake() + [conv.send("c", 64), conv.ack("s")] + conv.close("c")
        frames += [(0.0, s, f) for s, f in items]
    with KernelHarness() as h:
        t = time.monotonic()
        r = h.run(frames, read_netlink=False)
        total = time.monotonic() - t
    assert r.capture_drops == 0 and r.unmatched_out == 0
    assert r.fates().count("forwarded") == len(frames)
    per_conn = ["NEW", "ESTABLISHED_REPLY", "ESTABLISHED", "ESTABLISHED", "ESTABLISHED_REPLY",
                "ESTABLISHED", "ESTABLISHED_REPLY", "ESTABLISHED_REPLY", "ESTABLISHED"]
    assert r.ctinfos() == per_conn * 2500
    assert {e["state"] for e in r.table} == {"TIME_WAIT"} and r.count == 2500
    print(f"\nper-frame verdicts: {len(frames) / r.inject_seconds:,.0f} frames/s injected, "
          f"{len(frames) / total:,.0f} frames/s incl. barrier+read-back ({total:.2f} s)")


@pytest.mark.parametrize("kind,state,flags", [("assured", "ESTABLISHED", ["ASSURED"]),
                                              ("unassured", "SYN_SENT", ["UNREPLIED"])])
def test_fill_creates_the_requested_entries(kind, state, flags):
    n = 20000
    with KernelHarness({"nf_conntrack_acct": 0}) as h:
        res = h.fill(n, kind)
        table = h.table_proc()
    assert res.count == n and len(table) == n and res.capture_drops == 0
    assert all(e["state"] == state and e["flags"] == flags for e in table)
    assert res.stats_delta["drop"] == 0 and res.stats_delta["invalid"] == 0
    print(f"\nfill {kind} {n}: build {res.build_seconds:.2f} s, send {res.pps:,.0f} frames/s")


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("CTSCOPE_SLOW") != "1", reason="set CTSCOPE_SLOW=1 (about 40 s)")
def test_table_full_drops_new_flows_when_all_entries_are_assured():
    with open("/proc/sys/net/netfilter/nf_conntrack_max") as f:
        ct_max = int(f.read())
    with KernelHarness({"nf_conntrack_acct": 0}) as h:
        res = h.fill(ct_max, "assured")
        assert res.count == ct_max
        probes = [(0, "c", eth(ipv4(f"198.18.250.{j}", "198.19.0.2", tcp(30000 + j, 443, "S", 1))))
                  for j in range(5)]
        r = h.run(probes, read_table=False)
        assert r.fates() == ["dropped"] * 5
        assert r.stats_delta["drop"] == 5 and r.stats_delta["early_drop"] == 0
        assert "dropped by conntrack" in r.frames[0].reason
        print(f"\nfill {ct_max}: {res.pps:,.0f} frames/s, slab {res.slab_after.get('bytes', 0) >> 20} MiB")


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("CTSCOPE_SLOW") != "1", reason="set CTSCOPE_SLOW=1 (about 20 s)")
def test_table_full_of_unassured_entries_early_drops_for_new_flows():
    with open("/proc/sys/net/netfilter/nf_conntrack_max") as f:
        ct_max = int(f.read())
    with KernelHarness({"nf_conntrack_acct": 0}) as h:
        res = h.fill(ct_max, "unassured")
        assert res.count == ct_max
        probes = [(0, "c", eth(ipv4(f"198.18.251.{j}", "198.19.0.2", tcp(30000 + j, 443, "S", 1))))
                  for j in range(5)]
        r = h.run(probes, read_table=False)
        assert r.fates() == ["forwarded"] * 5 and r.ctinfos() == ["NEW"] * 5
        assert r.stats_delta["drop"] == 0 and r.stats_delta["early_drop"] >= 5   # counts evicted entries
        assert ct_max - 5 <= r.count <= ct_max
