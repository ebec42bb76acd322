"""Every bad-input class through the real CLI (a subprocess, as a user runs it):
one line on stderr naming the file (or option) and the position, exit code 2, no
traceback (unless --debug), and no output file -- not even a temporary -- left in
the directory.  Issue [7/7]."""
from __future__ import annotations

import gzip
import os
import re
import struct
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOOD = os.path.join(ROOT, "fuzz", "corpus", "pcap", "seed-eth_tcp.pcap")
REGRESSIONS = os.path.join(ROOT, "fuzz", "regressions")
OUTS = ["--verdicts", "v.jsonl", "--table", "t.txt", "--stats", "s.json", "--events", "e.txt"]


def _inputs(d) -> None:
    good = open(GOOD, "rb").read()
    files = {
        "good.pcap": good,
        "empty.pcap": b"",
        "trunc.pcap": good[:-10],
        "header-only.pcap": good[:20],
        "badmagic.pcap": b"GARBAGE!" * 10,
        "binary.bin": bytes(range(256)) * 8,
        "text.pcap": b"this is not a capture\n",
        "unsupported.nft": b"table ip raw {\n chain pre {\n  type filter hook prerouting priority raw;\n"
                           b"  ip dscp 4 notrack\n }\n}\n",
        "garbage.rules": b"hello world\n",
        "badmark.nft": b"table ip raw {\n chain pre {\n  type filter hook prerouting priority raw;\n"
                       b"  meta mark 0xZZ notrack\n }\n}\n",
        "unclosed.ipset": b'create S hash:ip family inet\nadd S "10.0.0.1\n',
        "unknown.sysctl": b"net.netfilter.nf_conntrack_max = 100\nnet.netfilter.nf_conntrack_bogus = 1\n",
        "novalue.sysctl": b"net.netfilter.nf_conntrack_max = 100\nnf_conntrack_tcp_loose\n",
        "badvalue.sysctl": b"\n\nnet.netfilter.nf_conntrack_tcp_loose = yes\n",
        "bad.toml": b'[[scenario]]\nname = "x"\nset = { nf_conntrack_max = "big" }\n',
        "broken.toml": b'[[scenario]]\nname = "x\n',
        "garbage-snapshot.json": b'{"kind": "ctscope-snapshot", "version": 1,\n "sysctl": [\n',
        "garbage.proc": b"ipv4     2 tcp      6 431999 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=1 dport=80 "
                        b"src=10.0.0.2 dst=10.0.0.1 sport=80 dport=1 [ASSURED] mark=0 zone=0 use=2\n"
                        b"ipv4     2 tcp      6 zz BOGUS src=1.2.3\n",
        "garbage.conntrack": b"tcp      6 119 TIME_WAIT src=127.0.0.1 dst=127.0.0.1 sport=1 dport=2 src=127.0.0.1 "
                             b"dst=127.0.0.1 sport=2 dport=1 [ASSURED] mark=0 use=1\ntcp 6 x TIME_WAIT src=\n",
        "garbage.xml": b'<?xml version="1.0" encoding="utf-8"?>\n<conntrack>\n<flow><meta direction="original">'
                       b'<layer3 protonum="2" protoname="ipv4"><src>1.2.3.400</src></layer3></meta></flow>\n'
                       b'</conntrack>\n',
        "garbage.stat": b"entries found\nzz yy\n",
    }
    bad = bytearray(good)
    bad[24 + 8:24 + 12] = struct.pack("<I", 0x7FFFFFFF)
    files["badcaplen.pcap"] = bytes(bad)
    lt = bytearray(good)
    lt[20:24] = struct.pack("<I", 147)
    files["linktype.pcap"] = bytes(lt)
    gz = gzip.compress(good, mtime=0)
    files["corrupt.pcap.gz"] = gz[:len(gz) // 2] + b"\0" * 20
    files["trunc.pcap.gz"] = gz[:len(gz) - 12]
    for name, data in files.items():
        (d / name).write_bytes(data)
    # 150,000 good frames (several batches: the verdicts temporary has content), then a corrupt record
    import numpy as np
    from test_robust_limits import ipv4_frames, write_raw_pcap
    write_raw_pcap(d / "late-corrupt.pcap", ipv4_frames(150_000, 17, np.zeros((150_000, 9), np.uint8)))
    with open(d / "late-corrupt.pcap", "ab") as fh:
        fh.write(struct.pack("<IIII", 1, 0, 0x7FFFFFFF, 60) + b"x" * 60)


# (id, argv, the message must match this regex: file/option and position)
CASES = [
    # --- replay: captures ---
    ("replay-missing", ["replay", "missing.pcap", *OUTS], r"missing\.pcap: cannot open capture"),
    ("replay-empty", ["replay", "empty.pcap", *OUTS], r"empty\.pcap: empty file"),
    ("replay-header-only", ["replay", "header-only.pcap", *OUTS], r"header-only\.pcap: byte \d+: truncated"),
    ("replay-truncated", ["replay", "trunc.pcap", *OUTS], r"trunc\.pcap: frame \d+ \(byte \d+\): .*truncated"),
    ("replay-bad-magic", ["replay", "badmagic.pcap", *OUTS], r"badmagic\.pcap: byte 0: not a pcap"),
    ("replay-text", ["replay", "text.pcap", *OUTS], r"text\.pcap: byte 0: not a pcap"),
    ("replay-corrupt-record", ["replay", "badcaplen.pcap", *OUTS], r"badcaplen\.pcap: frame 1 \(byte 24\): record length"),
    ("replay-corrupt-late", ["replay", "late-corrupt.pcap", *OUTS],
     r"late-corrupt\.pcap: frame 150001 \(byte \d+\): record length 2147483647"),
    ("replay-link-type", ["replay", "linktype.pcap", *OUTS], r"linktype\.pcap: byte 20: unsupported link type"),
    ("replay-corrupt-gzip", ["replay", "corrupt.pcap.gz", *OUTS], r"corrupt\.pcap\.gz: byte \d+: corrupt compressed"),
    ("replay-truncated-gzip", ["replay", "trunc.pcap.gz", *OUTS], r"trunc\.pcap\.gz: byte \d+: corrupt compressed"),
    # --- replay: options ---
    ("replay-bad-ram", ["replay", "good.pcap", "--ram", "12Q", *OUTS], r"--ram: not a size"),
    ("replay-bad-seed", ["replay", "good.pcap", "--seed", "x", *OUTS], r"--seed: invalid int value"),
    ("replay-unknown-option", ["replay", "good.pcap", "--bogus", *OUTS], r"unrecognized arguments: --bogus"),
    ("replay-bad-events-format", ["replay", "good.pcap", "--events-format", "xml", *OUTS], r"--events-format"),
    ("replay-set-no-equals", ["replay", "good.pcap", "--set", "nf_conntrack_max", *OUTS], r"--set: expected NAME=VALUE"),
    ("replay-set-not-int", ["replay", "good.pcap", "--set", "nf_conntrack_max=abc", *OUTS],
     r"--set nf_conntrack_max=abc: .*not an integer"),
    ("replay-set-range", ["replay", "good.pcap", "--set", "nf_conntrack_max=99999999999", *OUTS], r"out of range"),
    ("replay-bad-local", ["replay", "good.pcap", "--local", "1.2.3.999", *OUTS], r"--local: not an address"),
    ("replay-bad-ifname", ["replay", "good.pcap", "--ifname", "x", *OUTS], r"--ifname: expected IDX=NAME"),
    ("replay-output-dir-missing", ["replay", "good.pcap", "--verdicts", "nodir/v.jsonl", "--stats", "s.json"],
     r"nodir/v\.jsonl: cannot write"),
    ("replay-output-is-dir", ["replay", "good.pcap", "--stats", "."], r"\.: cannot write"),
    # --- replay: sysctls and rules ---
    ("replay-unknown-sysctl", ["replay", "good.pcap", "--set", "nf_conntrack_bogus=1", *OUTS],
     r"nf_conntrack_bogus.*unknown sysctl|unknown sysctl 'nf_conntrack_bogus'"),
    ("replay-unknown-sysctl-file", ["replay", "good.pcap", "--sysctl-file", "unknown.sysctl", *OUTS],
     r"unknown\.sysctl:2: unknown sysctl"),
    ("replay-sysctl-no-value", ["replay", "good.pcap", "--sysctl-file", "novalue.sysctl", *OUTS],
     r"novalue\.sysctl:2: expected 'key = value'"),
    ("replay-sysctl-bad-value", ["replay", "good.pcap", "--sysctl-file", "badvalue.sysctl", *OUTS],
     r"badvalue\.sysctl:3: .*not an integer"),
    ("replay-sysctl-missing", ["replay", "good.pcap", "--sysctl-file", "missing.conf", *OUTS],
     r"missing\.conf: cannot read"),
    ("replay-unsupported-rule", ["replay", "good.pcap", "--rules", "unsupported.nft", *OUTS],
     r"unsupported\.nft:4: unsupported expression 'ip dscp'"),
    ("replay-bad-number-rule", ["replay", "good.pcap", "--rules", "badmark.nft", *OUTS],
     r"badmark\.nft:4: unsupported expression"),
    ("replay-garbage-rules", ["replay", "good.pcap", "--rules", "garbage.rules", *OUTS],
     r"garbage\.rules:1: not an nft ruleset"),
    ("replay-binary-rules", ["replay", "good.pcap", "--rules", "binary.bin", *OUTS], r"binary\.bin: .*not UTF-8"),
    ("replay-rules-missing", ["replay", "good.pcap", "--rules", "missing.nft", *OUTS], r"missing\.nft: cannot read"),
    ("replay-ipset-unclosed-quote", ["replay", "good.pcap", "--rules", "garbage.rules", "--ipset", "unclosed.ipset",
                                     *OUTS], r"unclosed\.ipset:2: .*quotation"),
    ("replay-ipset-binary", ["replay", "good.pcap", "--rules", "garbage.rules", "--ipset", "binary.bin", *OUTS],
     r"binary\.bin: .*not UTF-8"),
    # --- plan ---
    ("plan-missing", ["plan", "missing.pcap", "--ram", "1G", "--report", "r.html", "--emit", "out"],
     r"missing\.pcap: cannot open capture"),
    ("plan-truncated", ["plan", "trunc.pcap", "--ram", "1G", "--report", "r.html", "--emit", "out"],
     r"trunc\.pcap: frame \d+ \(byte \d+\)"),
    ("plan-bad-rate", ["plan", "--rate", "tcp:5000"], r"--rate tcp:5000: expected PROTO:RATE/s"),
    ("plan-bad-rate-number", ["plan", "--rate", "tcp:./s"], r"--rate tcp:\./s: expected"),
    ("plan-bad-rate-key", ["plan", "--rate", "udp:5/s,colour=red"], r"--rate udp:5/s,colour=red: unknown key"),
    ("plan-bad-rate-duration", ["plan", "--rate", "tcp:5/s,lifetime=.s"], r"not a duration"),
    ("plan-bad-scenarios", ["plan", "good.pcap", "--ram", "1G", "--scenarios", "bad.toml", "--report", "r.html"],
     r"bad\.toml:2: scenario x: nf_conntrack_max must be an integer"),
    ("plan-broken-toml", ["plan", "good.pcap", "--ram", "1G", "--scenarios", "broken.toml"], r"broken\.toml:2: not valid TOML"),
    ("plan-binary-toml", ["plan", "good.pcap", "--ram", "1G", "--scenarios", "binary.bin"], r"binary\.bin:\d+: not UTF-8"),
    ("plan-bad-headroom", ["plan", "good.pcap", "--ram", "1G", "--headroom", "abc"], r"--headroom"),
    ("plan-unknown-sysctl", ["plan", "good.pcap", "--ram", "1G", "--set", "nf_conntrack_nope=3"], r"unknown sysctl"),
    # --- verify (input is checked before any namespace is made) ---
    ("verify-missing", ["verify", "missing.pcap"], r"missing\.pcap: cannot open capture"),
    ("verify-truncated", ["verify", "trunc.pcap"], r"trunc\.pcap: .*byte \d+: .*truncated"),
    ("verify-bad-max-gap", ["verify", "good.pcap", "--max-gap", "soon"], r"--max-gap: invalid float value"),
    ("verify-unknown-sysctl", ["verify", "good.pcap", "--set", "nf_conntrack_nope=3"], r"unknown sysctl"),
    # --- size / synth ---
    ("size-bad-ram", ["size", "--ram", "1Z"], r"--ram: not a size"),
    ("size-bad-max", ["size", "--max", "abc"], r"--max: 'abc'"),
    ("synth-unknown-profile", ["synth", "nosuch", "--out", "s.pcap"], r"PROFILE: invalid choice: 'nosuch'"),
    ("synth-bad-packets", ["synth", "mix", "--out", "s.pcap", "--packets", "-5"], r"--packets must be positive"),
    ("synth-output-dir-missing", ["synth", "mix", "--out", "nodir/s.pcap", "--packets", "100", "-q"],
     r"nodir/s\.pcap: cannot write"),
    # --- offline list / doctor / snapshot ---
    ("list-missing", ["list", "--input", "missing.txt"], r"missing\.txt: cannot read"),
    ("list-garbage-proc", ["list", "--input", "garbage.proc", "-C"], r"garbage\.proc:2: "),
    ("list-garbage-conntrack", ["list", "--input", "garbage.conntrack", "-C"], r"garbage\.conntrack:2: "),
    ("list-garbage-xml", ["list", "--input", "garbage.xml", "-C"], r"garbage\.xml:\d+: "),
    ("list-garbage-snapshot", ["list", "--input", "garbage-snapshot.json"], r"garbage-snapshot\.json: .*line 3"),
    ("list-binary", ["list", "--input", "binary.bin"], r"binary\.bin: not a conntrack table"),
    ("list-capture-given", ["list", "--input", "good.pcap"], r"good\.pcap: not a conntrack table"),
    ("list-garbage-stat", ["list", "-S", "--input", "garbage.stat"], r"garbage\.stat:2: "),
    ("list-bad-filter", ["list", "--input", "garbage.proc", "-p", "nosuchproto"], r"-p: unknown protocol"),
    ("doctor-missing", ["doctor", "--input", "missing.txt"], r"missing\.txt: cannot read"),
    ("doctor-garbage-proc", ["doctor", "--input", "garbage.proc"], r"garbage\.proc:2: "),
    ("doctor-garbage-conntrack", ["doctor", "--input", "garbage.conntrack"], r"garbage\.conntrack:2: "),
    ("doctor-garbage-snapshot", ["doctor", "--input", "garbage-snapshot.json"], r"garbage-snapshot\.json: .*line 3"),
    ("doctor-binary", ["doctor", "--input", "binary.bin"], r"binary\.bin: not a conntrack table"),
    ("doctor-bad-top", ["doctor", "--input", "garbage.proc", "--top", "0"], r"--top: must be at least 1"),
    ("doctor-bad-compare", ["doctor", "--input", "garbage.proc", "--compare", "garbage-snapshot.json"], r"garbage"),
    ("snapshot-output-dir-missing", ["snapshot", "--out", "nodir/x.json", "--no-log", "--no-table"],
     r"nodir/x\.json: cannot write"),
    ("snapshot-bad-top", ["snapshot", "--top", "x", "--out", "x.json"], r"--top: invalid int value"),
]


def ctscope(args, cwd, timeout=120, **kw):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("CTSCOPE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "ctscope", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, **kw)


@pytest.fixture(scope="module")
def indir(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad-inputs")
    _inputs(d)
    return d


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case, indir, tmp_path):
    name, argv, pattern = case
    work = tmp_path / "w"
    work.mkdir()
    for f in indir.iterdir():
        os.symlink(f, work / f.name)
    before = sorted(os.listdir(work))
    r = ctscope(argv, work)
    lines = r.stderr.splitlines()
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("ctscope"), lines[0]
    assert re.search(pattern, lines[0]), f"{lines[0]!r} does not match {pattern!r}"
    assert sorted(os.listdir(work)) == before, "partial output files left behind"
    if argv[0] not in ("list",):        # list streams to stdout like conntrack -L; the others print nothing
        assert r.stdout == "", r.stdout


def test_debug_shows_the_traceback(indir):
    for argv in (["--debug", "replay", "trunc.pcap"], ["replay", "trunc.pcap", "--debug"]):
        r = ctscope(argv, indir)
        assert r.returncode != 0
        assert "Traceback" in r.stderr and "InputError" in r.stderr, r.stderr


def test_good_replay_writes_every_output(indir, tmp_path):
    """The control: the same command with a good capture succeeds and writes the files
    (so the absence of files above means something)."""
    work = tmp_path / "ok"
    work.mkdir()
    r = ctscope(["replay", str(indir / "good.pcap"), "--ram", "1G", *OUTS], work)
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(work)) == sorted(OUTS[1::2])


# --- snapshots with wrong-typed parts the fuzzer found (live/snapshot_schema.py) ----------
_LIVE_CRASHES = sorted(os.listdir(os.path.join(REGRESSIONS, "snapshot"))) if os.path.isdir(
    os.path.join(REGRESSIONS, "snapshot")) else []


@pytest.mark.parametrize("crash", _LIVE_CRASHES)
def test_doctor_wrong_typed_snapshot(crash, tmp_path):
    path = os.path.join(REGRESSIONS, "snapshot", crash)
    r = ctscope(["doctor", "--input", path], tmp_path)
    assert "Traceback" not in r.stderr
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.splitlines()) == 1 and crash in r.stderr
    assert "not a valid ctscope snapshot: " in r.stderr        # named by the schema check
