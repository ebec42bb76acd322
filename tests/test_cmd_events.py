"""``ctscope events`` with a stand-in ``conntrack`` (a script on PATH that prints real
6.18 event lines), so the churn summary, filters and formats are tested without
CAP_NET_ADMIN; the kernel comparison is in tests/kernel/test_live_traffic.py."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from test_formats_roundtrip import EVENTS, EVENTS_PLAIN

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def fake_path(tmp_path):
    script = tmp_path / "conntrack"
    script.write_text("#!/bin/sh\necho \"$@\" > \"$(dirname \"$0\")/args\"\n"
                      f"cat <<'EOF'\n{EVENTS}{EVENTS_PLAIN}EOF\n"
                      "echo 'conntrack v1.4.7 (conntrack-tools): 5 flow events have been shown.' >&2\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return tmp_path


def events(fake_path, *argv):
    env = {**os.environ, "PATH": f"{fake_path}:{os.environ['PATH']}", "PYTHONPATH": ROOT}
    return subprocess.run([sys.executable, "-m", "ctscope", "events", *argv], capture_output=True, text=True,
                          env=env, timeout=60)


def test_lines_pass_through_and_churn_is_summarised(fake_path):
    r = events(fake_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == EVENTS + EVENTS_PLAIN
    assert "5 flow events have been shown" in r.stderr
    assert "2 new" in r.stderr and "2 update" in r.stderr and "1 destroy" in r.stderr
    assert "tcp/8000 1" in r.stderr and "tcp/80 1" in r.stderr


def test_filters_are_passed_to_conntrack_and_state_applied_here(fake_path):
    r = events(fake_path, "-p", "tcp", "--dport", "80", "-e", "NEW,UPDATES", "-o", "timestamp,json",
               "--state", "SYN_SENT")
    assert r.returncode == 0, r.stderr
    assert (fake_path / "args").read_text().split() == ["-E", "-p", "tcp", "--dport", "80", "-e", "NEW,UPDATES",
                                                         "-o", "timestamp"]
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    # the stand-in ignores its filters: ours still apply all of them with --state
    assert [(x["event"], x["state"], x["orig"]["dport"]) for x in rows] == [("NEW", "SYN_SENT", 80)]
    r = events(fake_path, "-o", "json", "-p", "tcp", "--state", "SYN_SENT")
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["orig"]["dport"] for x in rows] == [8000, 80] and rows[0]["event_usec"] == 1795652454060608


def test_missing_tool_and_bad_output_are_one_line(fake_path, tmp_path):
    r = events(fake_path, "-o", "yaml")
    assert r.returncode == 2 and "unknown output" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    env = {"PATH": str(tmp_path / "empty"), "PYTHONPATH": ROOT}
    r = subprocess.run([sys.executable, "-m", "ctscope", "events"], capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "conntrack-tools is not installed" in r.stderr
