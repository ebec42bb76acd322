"""Capture files: pcap variants, pcapng, gzip, stdin, batching, errors at every byte."""
import gzip
import io
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ctscope.errors import InputError
from ctscope.packets import record as R
from ctscope.packets.pcapwrite import PcapngWriter, PcapWriter, ether, ipv4, tcp, udp
from ctscope.packets.source import open_capture

A, B = "10.1.0.1", "10.2.0.2"


def frames(n):
    return [ether(ipv4(A, B, 17, udp(A, B, 1000 + i, 53, b"q" * (i % 7)))) for i in range(n)]


def write_pcap(path, frs, ts=None, **kw):
    with open(path, "wb") as fh:
        w = PcapWriter(fh, **kw)
        for i, f in enumerate(frs):
            w.write(f, (ts[i] if ts else 1_700_000_000_000_000_000 + i * 1_000_000))
    return path


def read_all(path, **kw):
    cap = open_capture(str(path), **kw)
    batches = list(cap)
    return cap, (np.concatenate(batches) if batches else R.empty_batch(0))


@pytest.mark.parametrize("big", [False, True])
@pytest.mark.parametrize("nsec", [False, True])
def test_pcap_byte_orders_and_resolutions(tmp_path, big, nsec):
    ts = [1_700_000_000_123_456_789, 1_700_000_001_000_000_001]
    p = write_pcap(tmp_path / "c.pcap", frames(2), ts=ts, big=big, nsec=nsec)
    cap, rec = read_all(p)
    assert list(rec["n"]) == [1, 2] and list(rec["sport"]) == [1000, 1001]
    want = ts if nsec else [t // 1000 * 1000 for t in ts]
    assert list(rec["ts"]) == want
    assert cap.summary["frames"] == 2 and cap.linktypes == {0: 1}


def test_batches_in_frame_order_and_summary(tmp_path):
    frs = frames(1000)
    ts = [10**18 + i * 1000 for i in range(1000)]
    ts[500] = 10**18          # goes backwards: clamped to the previous timestamp
    p = write_pcap(tmp_path / "c.pcap", frs, ts=ts)
    cap = open_capture(str(p), batch_size=64)
    sizes, ns = [], []
    for b in cap:
        sizes.append(len(b))
        ns.extend(b["n"].tolist())
        assert np.all(np.diff(b["ts"]) >= 0)
    assert ns == list(range(1, 1001)) and max(sizes) == 64 and sum(sizes) == 1000
    s = cap.summary
    assert s["frames"] == 1000 and s["ip_frames"] == 1000 and s["ts_backwards"] == 1
    assert cap.bytes_total == os.path.getsize(p) and cap.bytes_read == cap.bytes_total


def test_small_buffer_and_big_frames(tmp_path):
    big = ether(ipv4(A, B, 6, tcp(A, B, 1, 2, payload=b"x" * 60000)))
    p = write_pcap(tmp_path / "c.pcap", [big, big] + frames(3))
    from ctscope.packets.source import Capture
    rec = np.concatenate(list(Capture(str(p), chunk=4096, batch_size=2)))
    assert len(rec) == 5 and rec[0]["datalen"] == 60000 and not rec[0]["pflags"] & R.PF_CSUM_BAD


def test_snaplen_cut_counted(tmp_path):
    f = frames(1)[0]
    p = tmp_path / "c.pcap"
    with open(p, "wb") as fh:
        PcapWriter(fh).write(f[:40], 0, orig_len=len(f))
    cap, rec = read_all(p)
    assert cap.summary["truncated_frames"] == 1 and rec[0]["pflags"] & R.PF_CSUM_UNCHECKED


def test_gzip_and_stdin(tmp_path):
    p = write_pcap(tmp_path / "c.pcap", frames(5))
    gz = tmp_path / "c.pcap.gz"
    gz.write_bytes(gzip.compress(p.read_bytes()))
    cap, rec = read_all(gz)
    assert cap.summary["gzip"] and list(rec["sport"]) == [1000 + i for i in range(5)]
    assert cap.bytes_total == cap.bytes_read == gz.stat().st_size
    code = ("from ctscope.packets.source import open_capture;c=open_capture('-');"
            "print(sum(len(b) for b in c), c.bytes_total)")
    out = subprocess.run([sys.executable, "-c", code], stdin=open(gz, "rb"), capture_output=True,
                         check=True, text=True).stdout.split()
    assert out == ["5", "None"]


def ng_capture(big=False):
    bio = io.BytesIO()
    w = PcapngWriter(bio, big=big)
    w.interface(1, name="eth0")                              # default resolution: usec
    w.interface(113, name="any", tsresol=9, snaplen=64)      # nanoseconds
    w.block(0x0BAD, b"unknown block body")                   # skipped
    w.epb(0, frames(1)[0], 1_700_000_000_000_001, flags=1)   # inbound
    f2 = struct.pack(">HHH8sH", 0, 1, 6, b"\2" * 8, 0x0800) + ipv4(A, B, 17, udp(A, B, 7, 8))
    w.epb(1, f2, 1_700_000_000_000_000_500, flags=2)         # outbound -> PF_EGRESS
    w.spb(frames(3)[2])                                      # previous timestamp, interface 0
    w.interface(1, name="bin", tsresol=0x80 | 10)            # 2^-10 s ticks
    w.epb(2, frames(1)[0], 1024 * 1_700_000_001 + 512)
    return bio.getvalue()


@pytest.mark.parametrize("big", [False, True])
def test_pcapng_interfaces_spb_flags(tmp_path, big):
    p = tmp_path / "c.pcapng"
    p.write_bytes(ng_capture(big))
    cap, rec = read_all(p, path_model=False)
    assert cap.interfaces == {1: "eth0", 2: "any", 3: "bin"}
    assert cap.linktypes == {1: 1, 2: 113, 3: 1}
    assert list(rec["ifindex"]) == [1, 2, 1, 3]
    assert list(rec["ts"]) == [1_700_000_000_000_001_000, 1_700_000_000_000_001_000,
                               1_700_000_000_000_001_000, 1_700_000_001_500_000_000]
    assert cap.summary["ts_backwards"] == 1          # the nsec EPB was 500 ns earlier
    assert [bool(f & R.PF_EGRESS) for f in rec["pflags"]] == [False, True, False, False]
    assert rec[2]["sport"] == 1002 and rec[1]["sport"] == 7


def test_pcapng_two_sections_restart_interface_numbering(tmp_path):
    p = tmp_path / "c.pcapng"
    p.write_bytes(ng_capture() + ng_capture(big=True))
    cap, rec = read_all(p, path_model=False)
    assert len(rec) == 8 and list(rec["ifindex"][4:]) == [4, 5, 4, 6]
    assert cap.interfaces[4] == "eth0"


def test_pcapng_epb_snaplen_from_interface_does_not_break_spb(tmp_path):
    bio = io.BytesIO()
    w = PcapngWriter(bio)
    w.interface(1, snaplen=40)
    f = frames(1)[0]
    w.spb(f)
    p = tmp_path / "s.pcapng"
    p.write_bytes(bio.getvalue())
    cap, rec = read_all(p)
    assert cap.summary["truncated_frames"] == 1 and rec[0]["pflags"] & R.PF_CSUM_UNCHECKED


@pytest.mark.parametrize("content,msg", [
    (b"", "empty file"),
    (b"\x00\x01\x02\x03" + b"\0" * 30, "not a pcap"),
    (b"\xd4\xc3\xb2\xa1\x02\x00", "truncated"),
])
def test_bad_files(tmp_path, content, msg):
    p = tmp_path / "bad.pcap"
    p.write_bytes(content)
    with pytest.raises(InputError, match=msg) as ei:
        list(open_capture(str(p)))
    assert str(p) in str(ei.value)


def test_missing_file():
    with pytest.raises(InputError, match="cannot open"):
        open_capture("/nonexistent/x.pcap")


def test_unsupported_link_type_named(tmp_path):
    p = write_pcap(tmp_path / "c.pcap", frames(1), linktype=127)
    with pytest.raises(InputError, match="IEEE802_11_RADIOTAP"):
        open_capture(str(p))
    bio = io.BytesIO()
    w = PcapngWriter(bio)
    w.interface(105)
    w.epb(0, b"\0" * 30, 0)
    (tmp_path / "c.pcapng").write_bytes(bio.getvalue())
    with pytest.raises(InputError, match=r"frame 1 \(byte 48\): unsupported link type IEEE802_11 \(105\)"):
        list(open_capture(str(tmp_path / "c.pcapng")))


def _outcome(path):
    try:
        return sum(len(b) for b in open_capture(str(path)))
    except InputError as exc:
        assert "frame" in str(exc) or "byte" in str(exc) or "empty" in str(exc)
        return None


@pytest.mark.parametrize("kind", ["pcap", "pcapng", "gzip"])
def test_truncated_at_every_byte_offset(tmp_path, kind):
    if kind == "pcapng":
        data = ng_capture()
    else:
        p = write_pcap(tmp_path / "full.pcap", frames(3))
        data = p.read_bytes()
    cut = tmp_path / "cut"
    results = []
    for n in range(len(data) + 1):
        part = data[:n]
        cut.write_bytes(gzip.compress(part) if kind == "gzip" else part)
        results.append(_outcome(cut))
    assert results[-1] == (4 if kind == "pcapng" else 3)
    assert results[0] is None
    assert sum(r is not None for r in results) >= 3            # record boundaries are valid files


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400), st.sampled_from(["pcap", "pcapng"]))
def test_fuzz_garbage_after_header(tmp_path, body, kind):
    bio = io.BytesIO()
    if kind == "pcap":
        PcapWriter(bio, linktype=1)
    else:
        PcapngWriter(bio).interface(1)
    p = tmp_path / "fuzz"
    p.write_bytes(bio.getvalue() + body)
    _outcome(p)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_fuzz_bitflips(tmp_path, data):
    base = bytearray(ng_capture() if data.draw(st.booleans()) else
                     write_pcap(tmp_path / "b.pcap", frames(3)).read_bytes())
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(base) - 1))
        base[i] = data.draw(st.integers(0, 255))
    p = tmp_path / "flip"
    p.write_bytes(bytes(base))
    _outcome(p)


def test_sll2_ifindex_listed_as_interface(tmp_path):
    ip = ipv4(A, B, 17, udp(A, B, 1, 2))
    f = struct.pack(">HHIHBB8s", 0x0800, 0, 9, 1, 0, 6, b"\2" * 8) + ip
    p = write_pcap(tmp_path / "c.pcap", [f], linktype=276)
    cap, rec = read_all(p)
    assert rec[0]["ifindex"] == 9 and cap.interfaces == {9: "ifindex 9"}


def test_pcapng_tsoffset_and_pcap_fcs_bits_in_linktype(tmp_path):
    bio = io.BytesIO()
    w = PcapngWriter(bio)
    w.interface(1, tsresol=0, tsoffset=1000)          # whole seconds, +1000 s
    w.epb(0, frames(1)[0], 5)
    (tmp_path / "o.pcapng").write_bytes(bio.getvalue())
    _, rec = read_all(tmp_path / "o.pcapng")
    assert rec[0]["ts"] == 1005 * 10**9
    p = write_pcap(tmp_path / "f.pcap", frames(1), linktype=0x14000001)   # FCS-length bits set
    cap, rec = read_all(p)
    assert cap.linktypes == {0: 1} and rec[0]["sport"] == 1000


@pytest.mark.parametrize("bits", [10, 30, 40, 62])
def test_pcapng_binary_resolutions(tmp_path, bits):
    bio = io.BytesIO()
    w = PcapngWriter(bio)
    w.interface(1, tsresol=0x80 | bits)
    secs, half = 1_700_000_000, 1 << (bits - 1)
    ticks = (secs << bits) + half if bits < 34 else ((secs % 4) << bits) + half
    w.epb(0, frames(1)[0], ticks)
    (tmp_path / "b.pcapng").write_bytes(bio.getvalue())
    _, rec = read_all(tmp_path / "b.pcapng")
    want_s = secs if bits < 34 else secs % 4
    assert rec[0]["ts"] == want_s * 10**9 + 500_000_000
