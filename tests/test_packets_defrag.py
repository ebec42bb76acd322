"""IPv4 / IPv6 reassembly in the capture iterator."""
import struct

import pytest
from hypothesis import given, settings, strategies as st

from ctscope.packets import record as R
from ctscope.packets.pcapwrite import ether, ipv4, ipv6, udp
from ctscope.packets.source import decode_packets

A, B, A6, B6 = "10.0.0.1", "10.0.0.2", "2001:db8::1", "2001:db8::2"
NS = 1_000_000_000


def frag4(payload, proto=17, ident=7, sizes=(16, 16), src=A, dst=B):
    """Split an L4 payload into IPv4 fragments of the given sizes (last takes the rest)."""
    out, off = [], 0
    for i, size in enumerate(list(sizes) + [len(payload)]):
        chunk = payload[off:off + size] if i < len(sizes) else payload[off:]
        more = off + len(chunk) < len(payload)
        out.append(ipv4(src, dst, proto, chunk, ident=ident, flags_frag=(0x2000 if more else 0) | off // 8))
        off += len(chunk)
        if not more:
            break
    return out


def frag6(payload, nh=17, ident=9, sizes=(16, 16), hbh=False):
    out, off = [], 0
    for i, size in enumerate(list(sizes) + [len(payload)]):
        chunk = payload[off:off + size] if i < len(sizes) else payload[off:]
        more = off + len(chunk) < len(payload)
        fh = struct.pack(">BBHI", nh, 0, off | int(more), ident)
        if hbh:
            body, first = bytes([44, 0]) + b"\0" * 6 + fh + chunk, 0
        else:
            body, first = fh + chunk, 44
        out.append(ipv6(A6, B6, first, body))
        off += len(chunk)
        if not more:
            break
    return out


SEG4 = udp(A, B, 1111, 2222, b"0123456789" * 5)
SEG6 = udp(A6, B6, 3333, 4444, b"abcdefghij" * 5)


def run(ips, ts=None):
    return decode_packets([ether(p) for p in ips], ts_ns=ts)


@pytest.mark.parametrize("order", [[0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2]])
def test_ipv4_reassembly_any_order(order):
    fr = frag4(SEG4, sizes=(16, 16, 8))
    assert len(fr) == 4
    rec = run([fr[i] for i in order])
    assert list(rec["skip"][:3]) == [R.SKIP_FRAG_HELD] * 3
    last = rec[3]
    assert last["skip"] == 0 and last["pflags"] & R.PF_REASSEMBLED
    assert (last["sport"], last["dport"], last["proto"]) == (1111, 2222, 17)
    assert last["iplen"] == 20 + len(SEG4) and not last["pflags"] & R.PF_CSUM_BAD
    assert last["pflags"] & R.PF_L4_OK and last["n"] == 4


@pytest.mark.parametrize("hbh", [False, True])
def test_ipv6_reassembly(hbh):
    fr = frag6(SEG6, hbh=hbh)
    rec = run([fr[2], fr[0], fr[1]])
    last = rec[2]
    assert rec[0]["skip"] == rec[1]["skip"] == R.SKIP_FRAG_HELD
    assert last["skip"] == 0 and last["pflags"] & R.PF_REASSEMBLED and last["l3"] == 6
    assert (last["sport"], last["dport"]) == (3333, 4444) and not last["pflags"] & R.PF_CSUM_BAD
    assert last["iplen"] == 40 + (8 if hbh else 0) + len(SEG6)


def test_overlap_kills_queue():
    fr = frag4(SEG4, sizes=(16, 16))
    bad = ipv4(A, B, 17, SEG4[8:24], ident=7, flags_frag=0x2000 | 1)      # offset 8: overlaps
    rec = run([fr[0], bad, fr[1], fr[2]])
    assert rec[0]["skip"] == R.SKIP_FRAG_FAILED          # killed with its queue (same batch)
    assert rec[1]["skip"] == R.SKIP_FRAG_FAILED
    assert rec[2]["skip"] == rec[3]["skip"] == R.SKIP_FRAG_HELD   # a new queue, never complete


def test_exact_duplicate_dropped_alone():
    fr = frag4(SEG4, sizes=(16,))
    rec = run([fr[0], fr[0], fr[1]])
    assert list(rec["skip"]) == [R.SKIP_FRAG_HELD, R.SKIP_FRAG_FAILED, 0]
    assert rec[2]["pflags"] & R.PF_REASSEMBLED


def test_timeout_v4_30s_v6_60s():
    fr = frag4(SEG4, sizes=(16,))
    rec = run(fr, ts=[0, 31 * NS])
    assert rec[0]["skip"] == R.SKIP_FRAG_FAILED and rec[1]["skip"] == R.SKIP_FRAG_HELD
    rec = run(fr, ts=[0, 29 * NS])
    assert rec[1]["skip"] == 0
    f6 = frag6(SEG6, sizes=(16,))
    assert run(f6, ts=[0, 59 * NS])[1]["skip"] == 0
    assert run(f6, ts=[0, 61 * NS])[0]["skip"] == R.SKIP_FRAG_FAILED


def test_ipv6_non_last_fragment_not_multiple_of_8():
    f6 = frag6(SEG6, sizes=(13,))
    rec = run(f6)
    assert rec[0]["skip"] == R.SKIP_FRAG_FAILED


def test_memory_limit():
    from ctscope.packets.defrag import Defragmenter, FAILED, HELD
    d = Defragmenter(ipv4_high_thresh=2000)
    first = [frag4(SEG4, ident=i, sizes=(16,))[0] for i in range(5)]
    res = [d.add(4, p, len(p), 0, 0, (0, i))[0] for i, p in enumerate(first)]
    assert res[0] == HELD and FAILED in res and d.stats["over_limit"] >= 1


def test_cut_fragment_marks_unchecked():
    fr = frag4(SEG4, sizes=(16,))
    frames = [ether(p) for p in fr]
    rec = decode_packets([frames[0], frames[1][:40]], orig_lens=[len(frames[0]), len(frames[1])])
    assert rec[1]["pflags"] & R.PF_REASSEMBLED and rec[1]["pflags"] & R.PF_CSUM_UNCHECKED
    assert not rec[1]["pflags"] & R.PF_CSUM_BAD and rec[1]["sport"] == 1111


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=1, max_size=300), st.lists(st.integers(1, 6), min_size=0, max_size=6),
       st.randoms(use_true_random=False))
def test_property_reassembly_equals_whole(data, sizes8, rnd):
    """Any 8-byte-aligned split, in any order, reassembles to what the whole datagram decodes to."""
    seg = udp(A, B, 5, 6, data)
    fr = frag4(seg, sizes=[s * 8 for s in sizes8])
    rnd.shuffle(fr)
    whole = run([ipv4(A, B, 17, seg, ident=7)])[0]
    rec = run(fr)[-1]
    for f in ("sport", "dport", "proto", "iplen", "src_lo", "dst_lo"):
        assert rec[f] == whole[f]
    assert int(rec["pflags"]) & ~R.PF_REASSEMBLED == int(whole["pflags"])
    assert bool(rec["pflags"] & R.PF_REASSEMBLED) == (len(fr) > 1)


def test_frag6_timeout_from_settings():
    from ctscope.engine.settings import Settings
    s = Settings()
    s.set("nf_conntrack_frag6_timeout", "5")
    f6 = [ether(p) for p in frag6(SEG6, sizes=(16,))]
    rec = decode_packets(f6, ts_ns=[0, 6 * NS], settings=s)
    assert rec[0]["skip"] == R.SKIP_FRAG_FAILED and rec[1]["skip"] == R.SKIP_FRAG_HELD
    rec = decode_packets(f6, ts_ns=[0, 4 * NS], settings=s)
    assert rec[1]["skip"] == 0


def test_duplicate_inside_a_run_vs_overlap_across_runs():
    from ctscope.packets.defrag import FAILED, HELD, Defragmenter
    seg = udp(A, B, 1, 2, bytes(100))                  # 108 bytes of L4
    whole = ipv4(A, B, 17, seg, ident=3)

    def piece(off, ln, more=True):
        return ipv4(A, B, 17, seg[off:off + ln], ident=3, flags_frag=(0x2000 if more else 0) | off // 8)

    d = Defragmenter()
    add = (lambda p: d.add(4, p, len(p), 0, 0, (0, 0))[0])
    assert add(piece(0, 16)) == HELD and add(piece(16, 16)) == HELD     # one run [0, 32)
    assert add(piece(8, 16)) == FAILED and d.stats["failed"] == 1       # inside the run: dup
    assert len(d.queues) == 1                                          # queue kept
    assert add(piece(64, 16)) == HELD                                  # new tail run [64, 80)
    assert add(piece(24, 16)) == FAILED and not d.queues               # crosses run edge: killed
    assert whole  # (the datagram these pieces come from)
