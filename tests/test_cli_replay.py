"""`ctscope replay` end to end: outputs, summary, and bad input (one line, exit 2,
no files left behind)."""
import gzip
import json
import os
import struct

import pytest

from ctscope.cli import main
from ctscope.craft import eth, ipv4, udp

NS = 1_000_000_000


def pcap_bytes(frames, linktype=1, nsec=False):
    magic = 0xA1B23C4D if nsec else 0xA1B2C3D4
    out = [struct.pack("<IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)]
    for ts, data in frames:
        sec, frac = divmod(int(ts * NS), NS)
        frac = frac if nsec else frac // 1000
        out.append(struct.pack("<IIII", sec, frac, len(data), len(data)) + data)
    return b"".join(out)


def udp_frame(src, dst, sport, dport, payload=b"x" * 20):
    return eth(ipv4(src, dst, udp(sport, dport, payload)))


@pytest.fixture
def capture(tmp_path):
    frames = [(1000.0, udp_frame("198.18.0.1", "198.19.0.1", 5000, 53)),
              (1000.1, udp_frame("198.19.0.1", "198.18.0.1", 53, 5000)),
              (1003.0, udp_frame("198.18.0.1", "198.19.0.1", 5000, 53))]
    p = tmp_path / "c.pcap"
    p.write_bytes(pcap_bytes(frames))
    return p


def run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_outputs(capsys, capture, tmp_path):
    v, t, s, e = (tmp_path / n for n in ("v.jsonl", "t.txt", "s.json", "e.txt"))
    rc, out, err = run(capsys, "replay", str(capture), "--ram", "1G", "--no-progress", "--verdicts", str(v),
                       "--table", str(t), "--stats", str(s), "--events", str(e))
    assert rc == 0, err
    verdicts = [json.loads(line) for line in v.read_text().splitlines()]
    assert [x["ctinfo"] for x in verdicts] == ["NEW", "ESTABLISHED_REPLY", "ESTABLISHED"]
    assert [x["n"] for x in verdicts] == [1, 2, 3]
    lines = t.read_text().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("ipv4     2 udp      17 120 src=198.18.0.1 dst=198.19.0.1 sport=5000 dport=53 ")
    assert lines[0].endswith("[ASSURED] mark=0 zone=0 use=2")
    stats = json.loads(s.read_text())
    assert stats["entries"] == 1 and stats["invalid"] == 0
    ev = e.read_text().splitlines()
    assert len(ev) == 3 and "[NEW]" in ev[0] and "[UPDATE]" in ev[2] and "[ASSURED]" in ev[2]
    assert "nf_conntrack_max 8,192" in out


def test_json_summary(capsys, capture):
    rc, out, _ = run(capsys, "replay", str(capture), "--ram", "1G", "--no-progress", "--json")
    d = json.loads(out)
    assert rc == 0 and d["frames"] == 3 and d["peak_entries"] == 1 and d["table_full_drops"] == 0
    assert d["settings"]["nf_conntrack_max"] == 8192 and d["ctinfo"]["NEW"] == 1


def test_gzip_input(capsys, capture, tmp_path):
    gz = tmp_path / "c.pcap.gz"
    gz.write_bytes(gzip.compress(capture.read_bytes()))
    rc, out, _ = run(capsys, "replay", str(gz), "--ram", "1G", "--no-progress", "--json")
    assert rc == 0 and json.loads(out)["frames"] == 3


def _bad(capsys, tmp_path, *argv):
    outs = [tmp_path / "v.jsonl", tmp_path / "t.txt"]
    rc, out, err = run(capsys, "replay", *argv, "--no-progress", "--verdicts", str(outs[0]), "--table", str(outs[1]))
    assert rc == 2
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert not any(p.exists() for p in outs)
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".ctscope-")]
    return lines[0]


def test_missing_file(capsys, tmp_path):
    msg = _bad(capsys, tmp_path, str(tmp_path / "nope.pcap"))
    assert "nope.pcap" in msg


def test_empty_file(capsys, tmp_path):
    p = tmp_path / "empty.pcap"
    p.write_bytes(b"")
    assert "empty.pcap" in _bad(capsys, tmp_path, str(p))


def test_truncated_capture(capsys, capture, tmp_path):
    p = tmp_path / "cut.pcap"
    p.write_bytes(capture.read_bytes()[:-7])
    msg = _bad(capsys, tmp_path, str(p))
    assert "cut.pcap" in msg and "frame 3" in msg


def test_unknown_linktype(capsys, tmp_path):
    p = tmp_path / "lt.pcap"
    p.write_bytes(pcap_bytes([(1.0, b"\x00" * 40)], linktype=147))
    assert "147" in _bad(capsys, tmp_path, str(p))


def test_bad_set_value(capsys, capture, tmp_path):
    assert "nf_conntrack_max" in _bad(capsys, tmp_path, str(capture), "--set", "nf_conntrack_max=lots")


def test_unknown_sysctl(capsys, capture, tmp_path):
    assert "nf_conntrack_frobnicate" in _bad(capsys, tmp_path, str(capture), "--set", "nf_conntrack_frobnicate=1")


def test_bad_ram(capsys, capture, tmp_path):
    assert "--ram" in _bad(capsys, tmp_path, str(capture), "--ram", "much")


def test_unsupported_rule(capsys, capture, tmp_path):
    r = tmp_path / "raw.rules"
    r.write_text("*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -m frobnicate --frob 1 -j NOTRACK\nCOMMIT\n")
    msg = _bad(capsys, tmp_path, str(capture), "--rules", str(r))
    assert "raw.rules:3" in msg
