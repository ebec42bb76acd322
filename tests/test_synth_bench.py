"""The benchmark's peers count the same flows on a synthetic capture (no timing here)."""
import numpy as np
import pytest

from ctscope import synth
from ctscope.synth import spec as sp


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    rows = synth.generate("mix", packets=5000, seed=11)
    path = tmp_path_factory.mktemp("bench") / "mix.pcap"
    synth.write_pcap(str(path), rows, seed=11, ns=False)
    return str(path), rows


def expected_flows(rows):
    a = np.stack([rows["src_hi"], rows["src_lo"], rows["sport"].astype(np.uint64)], axis=1)
    b = np.stack([rows["dst_hi"], rows["dst_lo"], rows["dport"].astype(np.uint64)], axis=1)
    icmp = np.isin(rows["layout"], [sp.LAYOUT_ICMP_ECHO, sp.LAYOUT_ICMP_UNREACH])
    a[icmp, 2] = b[icmp, 2] = 0                      # the peers key ICMP without ids
    proto = np.where(np.isin(rows["layout"], [0, 1, 2]), 6, np.where(rows["layout"] == 3, 17, 1))
    swap = [tuple(x) > tuple(y) for x, y in zip(a, b)]
    keys = {(p,) + (tuple(y) + tuple(x) if s else tuple(x) + tuple(y))
            for p, x, y, s in zip(proto, a, b, swap)}
    return len(keys)


def test_dpkt_tracker_and_numba_floor_agree(capture):
    from bench.peers import dpkt_tracker, numba_floor
    path, rows = capture
    want = expected_flows(rows)
    tracked = dpkt_tracker.track(path)
    assert tracked["packets"] == 5000 and tracked["flows"] >= want
    assert numba_floor.run(path) == (want, 5000)


def test_numba_floor_grows_its_table(capture, monkeypatch):
    from bench.peers import numba_floor
    path, rows = capture
    original = numba_floor.new_table
    monkeypatch.setattr(numba_floor, "new_table", lambda cap: original(64 if cap == 1 << 16 else cap))
    assert numba_floor.run(path) == (expected_flows(rows), 5000)


def test_sizes_and_labels():
    from bench.suite import label, parse_size
    assert [parse_size(s) for s in ("100k", "1M", "5M", "2500")] == [100_000, 1_000_000, 5_000_000, 2500]
    assert [label(n) for n in (100_000, 1_000_000, 2500)] == ["100k", "1M", "2500"]
