"""Synthetic traffic through ctscope's own conntrack model (``ctscope replay --json``):
every packet of every session that starts inside the capture is accepted -- in
particular the TCP window checks pass -- and the profiles leave the entries they
claim.  Skipped while the replay command does not exist."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ctscope import synth
from ctscope.synth import spec as sp

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(importlib.util.find_spec("ctscope.commands.replay") is None,
                                reason="ctscope replay does not exist yet")


def replay(rows, path):
    synth.write_pcap(str(path), rows, seed=1)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "ctscope", "replay", str(path), "--json", "--no-progress"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def started_inside(rows):
    """Only the sessions whose first frame opens them (not already running at t=0)."""
    order = np.argsort(rows["sid"], kind="stable")
    sid = rows["sid"][order]
    first = order[np.r_[True, sid[1:] != sid[:-1]]]
    f = rows[first]
    tcp = np.isin(f["layout"], [sp.LAYOUT_TCP, sp.LAYOUT_TCP_SYN, sp.LAYOUT_TCP_MSS])
    opens = np.where(tcp, (f["flags"] & sp.TH_SYN).astype(bool) & ~(f["flags"] & sp.TH_ACK).astype(bool),
                     (f["dir"] == 0) & ((f["layout"] != sp.LAYOUT_ICMP_ECHO) | (f["dport"] == 1)))
    return rows[np.isin(rows["sid"], f["sid"][opens])]


def test_mix_sessions_are_all_accepted(tmp_path):
    rows = started_inside(synth.generate("mix", packets=40_000, seed=2))
    out = replay(rows, tmp_path / "mix.pcap")
    assert out["capture_summary"]["csum_bad"] == 0
    assert out["invalid"] == 0
    assert out["ctinfo"]["NEW"] > 1000


@pytest.mark.parametrize("profile", ["http-no-keepalive", "dns-resolver", "gateway", "syn-flood", "udp-scan"])
def test_profiles_are_accepted(profile, tmp_path):
    rows = synth.generate(profile, duration=4.0, seed=3)
    out = replay(rows, tmp_path / f"{profile}.pcap")
    assert out["capture_summary"]["csum_bad"] == 0 and out["invalid"] == 0
    mix = out["state_mix_end"]
    if profile == "http-no-keepalive":
        assert mix == {"tcp TIME_WAIT": 800}                 # 200/s for 4 s, all closed by FINs
    elif profile == "syn-flood":
        assert mix == {"tcp SYN_SENT": 20_000}
    elif profile == "udp-scan":
        assert out["ctinfo"]["RELATED_REPLY"] > 2000        # the ICMP port unreachables


def test_flows_are_all_in_the_table_at_once(tmp_path):
    """``flows``: every flow is tracked, none invalid or dropped, and the peak table holds
    them all (a table big enough, as the benchmark sets it)."""
    rows = synth.generate("flows", concurrency=5000, duration=5.0, seed=6)
    synth.write_pcap(str(tmp_path / "flows.pcap"), rows, seed=6)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "ctscope", "replay", str(tmp_path / "flows.pcap"), "--json",
                           "--no-progress", "--set", "nf_conntrack_max=16384", "--set", "nf_conntrack_buckets=16384"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["capture_summary"]["csum_bad"] == 0
    assert out["invalid"] == 0 and out["dropped"] == 0 and out["untracked"] == 0
    assert out["tracked"] == len(rows) and out["ctinfo"]["NEW"] == 5000
    assert out["peak_entries"] == 5000 and out["table_full_drops"] == 0
    mix = out["state_mix_end"]
    assert mix["udp"] + mix["tcp ESTABLISHED"] + mix["tcp TIME_WAIT"] + mix["tcp CLOSE"] == 5000
