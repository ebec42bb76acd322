"""Resource limits: a crafted capture cannot make ctscope's memory or time grow without
bound.  The table stops at nf_conntrack_max; fragment queues stop at the kernel's
ipfrag_high_thresh / nf_conntrack_frag6_high_thresh (4 MB of queued fragments).

Each replay runs in a child process that reports its own peak RSS; the tests compare a
capture 10x larger with a small one (bounded = the same peak, give or take), so the
limits are checked without a machine-dependent absolute number.  The subprocess timeout
only guards against hangs (e.g. the quadratic fragment-expiry scan this test found:
20,000 fragments took > 5 minutes)."""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
T0 = 1_700_000_000 * 10**9
CHILD = ("import json, resource, sys\n"
         "from ctscope.cli import main\n"
         "rc = main(sys.argv[1:])\n"
         "print(json.dumps({'rc': rc, 'maxrss_kb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}),"
         " file=sys.stderr)\n")


def _csum(h: np.ndarray) -> np.ndarray:
    """IPv4 header checksums of rows of 20-byte headers."""
    w = h.reshape(len(h), 10, 2).astype(np.uint32)
    s = (w[:, :, 0] << 8 | w[:, :, 1]).sum(axis=1)
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return (~s & 0xFFFF).astype(np.uint16)


def write_raw_pcap(path, frames: np.ndarray, gap_ns: int = 10_000) -> None:
    """frames: (n, L) uint8, raw IPv4 (link type 101), nanosecond pcap."""
    n, length = frames.shape
    ts = T0 + np.arange(n, dtype=np.int64) * gap_ns
    hdr = np.zeros((n, 16), np.uint8)
    hdr[:, 0:4] = (ts // 10**9).astype("<u4").view(np.uint8).reshape(n, 4)
    hdr[:, 4:8] = (ts % 10**9).astype("<u4").view(np.uint8).reshape(n, 4)
    hdr[:, 8:12] = np.frombuffer(struct.pack("<I", length), np.uint8)
    hdr[:, 12:16] = np.frombuffer(struct.pack("<I", length), np.uint8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 101))
        fh.write(np.hstack([hdr, frames]).tobytes())


def ipv4_frames(n: int, proto: int, payload: np.ndarray, *, ident=None, frag=None, src=None) -> np.ndarray:
    """n IPv4 frames with distinct sources 10.x.y.z (unless ``src``), given payload rows."""
    plen = payload.shape[1]
    h = np.zeros((n, 20), np.uint8)
    h[:, 0], h[:, 2:4] = 0x45, np.frombuffer(struct.pack(">H", 20 + plen), np.uint8)
    idn = np.arange(n, dtype=np.uint32) if ident is None else ident
    h[:, 4], h[:, 5] = (idn >> 8) & 255, idn & 255
    if frag is not None:
        h[:, 6], h[:, 7] = (frag >> 8) & 255, frag & 255
    h[:, 8], h[:, 9] = 64, proto
    i = np.arange(n, dtype=np.uint32) if src is None else src
    h[:, 12], h[:, 13], h[:, 14], h[:, 15] = 10, (i >> 16) & 255, (i >> 8) & 255, i & 255
    h[:, 16:20] = (192, 0, 2, 1)
    c = _csum(h)
    h[:, 10], h[:, 11] = c >> 8, c & 255
    return np.hstack([h, payload])


def replay(path, *extra, timeout=240) -> tuple[dict, dict]:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-c", CHILD, "replay", str(path), "--ram", "1G", "--json",
                        "--no-progress", *extra], capture_output=True, text=True, timeout=timeout, env=env)
    info = json.loads(r.stderr.strip().splitlines()[-1])
    assert info["rc"] == 0, r.stderr
    return json.loads(r.stdout), info


def first_fragments(n: int) -> np.ndarray:
    """n first fragments (MF set, offset 0) of n different datagrams: n fragment queues."""
    return ipv4_frames(n, 17, np.zeros((n, 16), np.uint8), frag=np.full(n, 0x2000, np.uint32))


@pytest.fixture(scope="module")
def caps(tmp_path_factory):
    d = tmp_path_factory.mktemp("limits")
    paths = {}
    for n in (20_000, 200_000):
        paths[("frag", n)] = d / f"frag-{n}.pcap"
        write_raw_pcap(paths[("frag", n)], first_fragments(n))
        udp = np.zeros((n, 9), np.uint8)
        sport = 1024 + np.arange(n) % 60000
        udp[:, 0], udp[:, 1], udp[:, 2:4], udp[:, 5] = sport >> 8, sport & 255, (0, 53), 9
        paths[("flow", n)] = d / f"flow-{n}.pcap"
        write_raw_pcap(paths[("flow", n)], ipv4_frames(n, 17, udp))
    return paths


def test_fragment_queues_are_bounded(caps):
    small, rs = replay(caps[("frag", 20_000)])
    big, rb = replay(caps[("frag", 200_000)])
    for s in (small, big):
        fr = s["capture_summary"]["fragments"]
        held = s["not_seen"].get("fragment held for reassembly", 0)
        # 4 MB / (16 bytes + 512 overhead) ~ 7,944 queues, as the kernel's ipfrag_high_thresh
        assert 7_000 < held < 9_000, s["not_seen"]
        assert fr["over_limit"] == s["frames"] - held
    assert big["frames"] == 200_000
    grow_mb = (rb["maxrss_kb"] - rs["maxrss_kb"]) / 1024
    assert grow_mb < 48, f"peak RSS grew by {grow_mb:.0f} MB for 10x the fragments"


def test_table_is_bounded_by_nf_conntrack_max(caps):
    small, rs = replay(caps[("flow", 20_000)], "--set", "nf_conntrack_max=4096")
    big, rb = replay(caps[("flow", 200_000)], "--set", "nf_conntrack_max=4096")
    assert big["tracked"] + big["dropped"] == 200_000
    assert small["peak_entries"] == big["peak_entries"] == 4096
    assert big["entries_end"] <= 4096
    grow_mb = (rb["maxrss_kb"] - rs["maxrss_kb"]) / 1024
    assert grow_mb < 48, f"peak RSS grew by {grow_mb:.0f} MB for 10x the flows"


def _pieces(per: int, datagrams: int) -> np.ndarray:
    """``datagrams`` datagrams of ``per`` 8-byte pieces each, sent last piece first."""
    n = per * datagrams
    i = np.arange(n, dtype=np.uint32)
    d, j = i // per, i % per
    frag = ((per - 1 - j) | np.where(j == 0, 0, 0x2000)).astype(np.uint32)
    return ipv4_frames(n, 17, np.zeros((n, 8), np.uint8), ident=d, frag=frag, src=np.zeros(n, np.uint32))


def test_many_pieces_of_one_datagram(tmp_path):
    """8,190 8-byte pieces per datagram, last piece first (each a new run in the queue):
    was quadratic per queue, and the complete 65,540-byte datagram raised OverflowError
    (ip_frag_reasm() drops datagrams over 65,535 bytes: 'out_oversize')."""
    path = tmp_path / "pieces.pcap"
    write_raw_pcap(path, _pieces(8190, 3), gap_ns=1000)
    s, _ = replay(path, timeout=120)
    assert s["capture_summary"]["fragments"]["failed"] == 3          # each too long: dropped
    assert s["capture_summary"]["fragments"]["reassembled"] == 0
    # one piece fewer (65,532 bytes with the header): reassembled
    write_raw_pcap(path, _pieces(8189, 3), gap_ns=1000)
    s, _ = replay(path, timeout=120)
    assert s["capture_summary"]["fragments"]["reassembled"] == 3, s["capture_summary"]
    assert sum(s["ctinfo"].values()) == 3, s["ctinfo"]     # the 3 datagrams reach conntrack


def test_expiry_is_not_quadratic():
    """Defragmenter.expire() used to scan every queue for every fragment."""
    from ctscope.packets.defrag import Defragmenter
    d = Defragmenter(ipv4_high_thresh=1 << 40)
    calls = [0]

    class Counting(dict):
        def items(self):
            calls[0] += 1
            for kv in dict.items(self):
                calls[0] += 1
                yield kv
    d._by_age = {4: Counting(), 6: Counting()}
    pkt = bytes(first_fragments(1)[0])
    for k in range(5000):
        p = bytearray(pkt)
        p[4:6] = k.to_bytes(2, "big")
        d.add(4, bytes(p), len(p), 0, T0 + k, (0, k))
    assert len(d.queues) == 5000
    assert calls[0] < 5 * 5000 * 2, calls[0]      # O(1) per fragment, not O(queues)


def test_time_jump_does_not_grow_the_occupancy_series(tmp_path):
    """Two packets 60 years apart: the engine's per-second occupancy series grew to one
    sample per second of capture time (a 1 KB capture found by the fuzzer made replay
    allocate > 24 GB and get OOM-killed).  Now the step doubles past 2^20 samples."""
    from ctscope.engine.tracker import MAX_SERIES

    udp = np.zeros((2, 9), np.uint8)
    udp[:, 1], udp[:, 3], udp[:, 5] = 7, 53, 9
    frames = ipv4_frames(2, 17, udp)
    path = tmp_path / "jump.pcap"
    write_raw_pcap(path, frames, gap_ns=60 * 365 * 86400 * 10**9)
    s, info = replay(path, timeout=120)
    assert s["frames"] == 2 and s["duration_s"] > 1.8e9
    assert info["maxrss_kb"] < 1024 * 1024, f"{info['maxrss_kb'] / 1024:.0f} MB"

    from ctscope.engine.settings import Settings
    from ctscope.engine.tracker import Tracker
    from ctscope.packets.source import open_capture
    tr = Tracker(Settings(ram=1 << 30), None, {})
    for batch in open_capture(str(path)):
        tr.process_batch(batch)
    first, step, counts = tr.occupancy()
    assert len(counts) <= MAX_SERIES and step >= (60 * 365 * 86400 * 10**9) // MAX_SERIES
    assert len(counts) > MAX_SERIES // 4               # coarsened, not truncated
