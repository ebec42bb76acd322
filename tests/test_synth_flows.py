"""The ``flows`` profile: N flows, all open at the same time (the benchmark's big tables)."""
import os

import numpy as np
import pytest

from ctscope import synth
from ctscope.synth import spec as sp
from ctscope.synth.flows import OPEN_SHARE
from test_synth import check_connection, checksum_errors, pcap_bytes, tcp_flows

N = 3000
DURATION = 5.0


@pytest.fixture(scope="module")
def rows():
    return synth.generate("flows", concurrency=N, duration=DURATION, seed=4)


def per_flow(rows):
    """(sid, first ts, last ts, packets) per flow, and the rows sorted by (sid, ts)."""
    order = np.lexsort((rows["ts"], rows["sid"]))
    r = rows[order]
    start = np.r_[True, r["sid"][1:] != r["sid"][:-1]]
    idx = np.flatnonzero(start)
    counts = np.diff(np.r_[idx, len(r)])
    last = r["ts"][np.r_[idx[1:], len(r)] - 1]
    return r["sid"][idx], r["ts"][idx], last, counts, r


def five_tuples(rows):
    a = np.stack([rows["src_hi"], rows["src_lo"], rows["sport"].astype(np.uint64)], axis=1)
    b = np.stack([rows["dst_hi"], rows["dst_lo"], rows["dport"].astype(np.uint64)], axis=1)
    tcp = np.isin(rows["layout"], [sp.LAYOUT_TCP, sp.LAYOUT_TCP_SYN, sp.LAYOUT_TCP_MSS])
    swap = np.array([tuple(x) > tuple(y) for x, y in zip(a, b)])
    lo = np.where(swap[:, None], b, a)
    hi = np.where(swap[:, None], a, b)
    return {(int(t),) + tuple(map(int, x)) + tuple(map(int, y)) for t, x, y in zip(tcp, lo, hi)}


def test_same_options_same_bytes():
    a = pcap_bytes(synth.generate("flows", concurrency=500, duration=3.0, seed=1), seed=1)
    b = pcap_bytes(synth.generate("flows", concurrency=500, duration=3.0, seed=1), seed=1)
    c = pcap_bytes(synth.generate("flows", concurrency=500, duration=3.0, seed=2), seed=2)
    assert a == b and a != c


def test_every_flow_is_distinct_and_open_at_once(rows):
    sid, first, last, counts, r = per_flow(rows)
    assert len(sid) == N
    assert len(five_tuples(rows)) == N                    # one 5-tuple per flow, none shared
    assert np.all(np.diff(rows["ts"]) >= 0)
    w = OPEN_SHARE * DURATION * 1e9
    assert first.max() < w                               # every flow opened inside the window
    # nothing closes before the last flow opened
    closing = (rows["flags"] & (sp.TH_FIN | sp.TH_RST)) != 0
    assert rows["ts"][closing].min() > first.max()
    # no flow is quiet for longer than the window (UDP timeout 30 s, TCP far longer)
    gaps = np.diff(r["ts"])[r["sid"][1:] == r["sid"][:-1]]
    assert gaps.max() <= w + 1e9 and gaps.max() < 30e9
    assert 4.8 < counts.mean() < 5.5 and counts.min() >= 4 and counts.max() <= 8
    assert rows["ts"][-1] < 1.1 * DURATION * 1e9


def test_mix_of_kinds(rows):
    sid, first, last, counts, r = per_flow(rows)
    firsts = r[np.r_[True, r["sid"][1:] != r["sid"][:-1]]]
    v6 = (firsts["l3"] == 6).mean()
    udp = (firsts["layout"] == sp.LAYOUT_UDP).mean()
    assert 0.15 < v6 < 0.25 and 0.15 < udp < 0.25
    tcp = firsts["layout"] != sp.LAYOUT_UDP
    assert np.all(firsts["flags"][tcp] == sp.TH_SYN)         # every TCP flow starts with its SYN
    assert np.all(firsts["app"][~tcp] == sp.APP_DNS_Q)      # every UDP flow with its query
    closed = np.unique(rows["sid"][(rows["flags"] & (sp.TH_FIN | sp.TH_RST)) != 0])
    assert 0.1 < len(closed) / tcp.sum() < 0.3
    fins = np.unique(rows["sid"][(rows["flags"] & sp.TH_FIN) != 0])
    assert 0.3 < len(fins) / len(closed) < 0.7


def test_checksums_and_tcp_windows(rows):
    data = pcap_bytes(rows, seed=4)
    total, bad = checksum_errors(data)
    assert total == len(rows) and bad == 0
    flows = tcp_flows(data)
    assert len(flows) > 0.7 * N
    for pkts in flows.values():
        assert check_connection(pkts) == []


def test_rate_sets_the_window():
    a = synth.generate("flows", concurrency=1000, rate=500.0, seed=1)     # 1000 flows at 500/s: 2 s
    sid, first, *_ = per_flow(a)
    assert 1.8e9 < first.max() < 2e9
    assert len(synth.generate("flows", concurrency=1000, duration=3.0, packets=100)) == 100


def test_bad_parameters():
    with pytest.raises(ValueError):
        synth.generate("flows", concurrency=0)
    with pytest.raises(ValueError):
        synth.generate("flows", concurrency=10, duration=1.0)


def test_command(tmp_path, capsys):
    from ctscope.cli import main
    out = tmp_path / "flows.pcap"
    assert main(["synth", "flows", "--flows", "400", "--duration", "3", "--seed", "5", "--out", str(out)]) == 0
    rows = synth.generate("flows", concurrency=400, duration=3.0, seed=5)
    assert out.read_bytes() == pcap_bytes(rows, seed=5)
    assert f"{len(rows):,} frames" in capsys.readouterr().err
    again = tmp_path / "again.pcap"
    assert main(["synth", "flows", "--concurrency", "400", "--duration", "3", "--seed", "5",
                 "--quiet", "--out", str(again)]) == 0
    assert again.read_bytes() == out.read_bytes()
    assert main(["synth", "flows", "--flows", "10", "--duration", "90", "--out", str(tmp_path / "x.pcap")]) == 2
    assert main(["synth", "syn-flood", "--flows", "10", "--out", str(tmp_path / "y.pcap")]) == 2
    assert sorted(os.listdir(tmp_path)) == ["again.pcap", "flows.pcap"]
