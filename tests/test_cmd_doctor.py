"""``ctscope doctor`` and ``ctscope snapshot`` from the command line: saved inputs of
every kind, churn from two snapshots, --json, --help, errors."""
from __future__ import annotations

import json
import os

import pytest

from ctscope.cli import build_parser, main
from ctscope.formats import write_entries
from test_formats_roundtrip import LIST, PROC, XML
from test_live_doctor import table

REQUIRED = {"netns", "count", "max", "buckets", "usage", "by_protocol", "by_state", "top", "stats",
            "log_events", "diagnosis", "remedies"}


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("text", [PROC, LIST, XML], ids=["proc", "conntrack-L", "xml"])
def test_saved_tables_of_every_format(capsys, tmp_path, text):
    f = tmp_path / "t"
    f.write_text(text)
    code, out, err = run(capsys, "doctor", "--input", str(f), "--json", "--max", "8")
    rep = json.loads(out)
    assert code == 0 and REQUIRED <= rep.keys() and rep["netns"] == ""
    assert rep["count"] == len([x for x in text.splitlines() if x.startswith(("ipv", "tcp", "udp", "unk", "<flow"))])
    assert rep["usage"] == round(rep["count"] / 8, 4)
    assert set(rep["top"]) == {"sources", "destinations", "dports", "pairs", "other"}
    for row in rep["top"]["pairs"]:
        assert set(row) == {"src", "dport", "proto", "count"}
    code, out, _ = run(capsys, "doctor", "--input", str(f))
    assert code == 0 and "diagnosis:" in out


def test_jsonl_table(capsys, tmp_path):
    from ctscope.formats import read_entries
    f = tmp_path / "t.jsonl"
    f.write_text("\n".join(write_entries(read_entries(PROC.splitlines()), "jsonl")) + "\n")
    rep = json.loads(run(capsys, "doctor", "--input", str(f), "--json")[1])
    assert rep["count"] == 6 and rep["by_protocol"]["udp"] == 2


def test_churn_from_two_snapshots(capsys, tmp_path):
    old, new = table(50, 0), table(40, 30)          # 10 TCP entries went, 30 DNS ones came
    for name, text, t in (("a.json", old, 100.0), ("b.json", new, 110.0)):
        (tmp_path / name).write_text(json.dumps({"kind": "ctscope-snapshot", "version": 1, "time": t,
                                                 "table_text": text, "netns": "blue",
                                                 "sysctl": {"values": {"nf_conntrack_max": 100}}}))
    rep = json.loads(run(capsys, "doctor", "--input", str(tmp_path / "b.json"), "--compare",
                         str(tmp_path / "a.json"), "--json")[1])
    assert rep["netns"] == "blue" and rep["count"] == 70 and rep["max"] == 100
    c = rep["churn"]
    assert (c["new"], c["destroy"], c["seconds"], c["new_per_s"]) == (30, 10, 10.0, 3.0)
    code, _, err = run(capsys, "doctor", "--compare", str(tmp_path / "a.json"))
    assert code == 2 and "--compare needs --input" in err


def test_help_teaches(capsys):
    parser = build_parser()
    for cmd, words in (("doctor", ["--json prints one object", "CAP_NET_ADMIN", "examples:"]),
                       ("snapshot", ["ctscope-snapshot", "atomically"]),
                       ("list", ["conntrack -L", "-C / --count", "use=1"]),
                       ("events", ["pyroute2", "churn", "CAP_NET_ADMIN"]),
                       ("top", ["keys:", "space", "root"])):
        with pytest.raises(SystemExit):
            parser.parse_args([cmd, "--help"])
        out = capsys.readouterr().out
        assert all(w in out for w in words), (cmd, [w for w in words if w not in out])


@pytest.mark.skipif(os.geteuid() != 0, reason="reads the live table (root)")
def test_snapshot_file_of_this_host_reads_back(capsys, tmp_path):
    f = tmp_path / "s.json"
    code, out, err = run(capsys, "snapshot", "--out", str(f))
    assert code == 0 and not out and "entries" in err
    snap = json.loads(f.read_text())
    assert snap["kind"] == "ctscope-snapshot" and snap["version"] == 1 and "table_text" in snap
    assert {"sysctl", "stat", "table", "kernel_log", "slab", "module", "config", "rules", "kube_proxy"} <= snap.keys()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".ctscope-")]      # no temporary left
    rep = json.loads(run(capsys, "doctor", "--input", str(f), "--json")[1])
    assert rep["max"] == snap["sysctl"]["values"]["nf_conntrack_max"]


@pytest.mark.parametrize("argv, starts", [
    (["doctor"], True), (["doctor", "--churn", "0", "--json"], True),
    (["doctor", "--input", "t.txt"], False), (["doctor", "--inp=t.txt"], False),
    (["doctor", "--netns", "x"], False), (["doctor", "-h"], False), (["list"], False)])
def test_live_doctor_starts_the_walk_before_parsing(monkeypatch, argv, starts):
    """Only a live ``doctor`` starts the kernel's walk of the table early (any prefix of
    --input/--netns/--help, as argparse accepts, rules it out)."""
    import ctscope.cli as cli
    import ctscope.live.tables as tables
    calls = []
    monkeypatch.setattr(tables, "start_reading", lambda *a: calls.append(a))
    cli._early_start(argv)
    assert bool(calls) == starts
