"""``ctscope list`` on saved inputs (no kernel needed): every input format, filters,
-C, -S, output formats, errors in one line."""
from __future__ import annotations

import json

import pytest

from ctscope.cli import main
from ctscope.formats import format_conntrack, read_entries
from test_formats_roundtrip import LIST, PROC, XML
from test_formats_stats import PROC_STAT


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def files(tmp_path):
    paths = {}
    for name, text in (("proc", PROC), ("list", LIST), ("xml", XML), ("stat", PROC_STAT)):
        paths[name] = tmp_path / name
        paths[name].write_text(text)
    snap = {"kind": "ctscope-snapshot", "version": 1, "time": 1.0, "table_text": PROC}
    paths["snap"] = tmp_path / "snap.json"
    paths["snap"].write_text(json.dumps(snap))
    return paths


def test_proc_file_lists_like_conntrack(capsys, files):
    code, out, err = run(capsys, "list", "--input", str(files["proc"]))
    assert code == 0 and err.strip() == "ctscope list: 6 flow entries have been shown."
    lines = out.splitlines()
    expect = []
    for e in read_entries(PROC.splitlines()):
        e.use, e.gre_timeout, e.gre_stream_timeout = 1, None, None
        e.zone = e.zone or None
        expect.append(format_conntrack(e))
    assert lines == expect
    assert "src=::1 dst=::1" in out and "zone=0" not in out and "zone=3" in out and " use=2" not in out
    assert "stream_timeout" not in out


def test_snapshot_input_and_filters(capsys, files):
    _, out, _ = run(capsys, "list", "--input", str(files["snap"]), "-p", "udp", "--dport", "7000")
    assert len(out.splitlines()) == 1 and "dport=7000" in out
    _, out, _ = run(capsys, "list", "--input", str(files["snap"]), "-f", "ipv6")
    assert len(out.splitlines()) == 1 and out.startswith("udp ")
    _, out, _ = run(capsys, "list", "--input", str(files["proc"]), "-C", "-u", "SEEN_REPLY")
    assert out.strip() == "1"
    _, out, _ = run(capsys, "list", "--input", str(files["proc"]), "-w", "3", "-o", "extended")
    assert out.startswith("ipv4     2 udp") and "zone=3" in out


@pytest.mark.parametrize("src", ["list", "xml"])
def test_conntrack_outputs_read_back(capsys, files, src):
    _, out, _ = run(capsys, "list", "--input", str(files[src]), "-o", "json")
    rows = [json.loads(x) for x in out.splitlines()]
    assert rows and all("orig" in r for r in rows)
    if src == "list":
        _, again, _ = run(capsys, "list", "--input", str(files[src]))
        assert again == LIST


def test_xml_output_is_conntrack_xml(capsys, files):
    _, out, _ = run(capsys, "list", "--input", str(files["proc"]), "-o", "xml")
    assert out.startswith('<?xml version="1.0" encoding="utf-8"?>\n<conntrack>\n<flow>')
    assert out.rstrip().endswith("</conntrack>")


def test_stats_like_conntrack_S(capsys, files):
    _, out, _ = run(capsys, "list", "-S", "--input", str(files["stat"]))
    assert out.startswith("cpu=0   \tfound=") and "drop=" in out


@pytest.mark.parametrize("argv,msg", [(["--dport", "80"], "needs -p"), (["-p", "tcp", "--state", "X"], "tcp state"),
                                      (["-u", "FIXED_TIMEOUT"], "not shown"), (["-s", "1.2.3"], "not an address")])
def test_bad_options_fail_in_one_line(capsys, files, argv, msg):
    code, out, err = run(capsys, "list", "--input", str(files["proc"]), *argv)
    assert code == 2 and msg in err and len(err.strip().splitlines()) == 1 and not out


def test_not_a_table(capsys, tmp_path):
    bad = tmp_path / "bad"
    bad.write_text("hello world\n")
    code, _, err = run(capsys, "list", "--input", str(bad))
    assert code == 2 and "not a conntrack table" in err
