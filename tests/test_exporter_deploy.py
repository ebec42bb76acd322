"""deploy/: alert rules (promtool check + unit tests), Grafana dashboard, systemd units.

promtool comes with the Debian package ``prometheus``; under CI (CI=true) a missing
promtool fails instead of skipping."""
from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import shutil
import subprocess
import time

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from ctscope.cli import build_parser
from ctscope.exporter.metrics import ConntrackCollector
from ctscope.exporter.targets import Target

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEPLOY = os.path.join(ROOT, "deploy")
RULES = os.path.join(DEPLOY, "prometheus", "ctscope-conntrack.rules.yml")
RULE_TESTS = os.path.join(DEPLOY, "prometheus", "ctscope-conntrack.test.yml")
DASHBOARD = os.path.join(DEPLOY, "grafana", "ctscope-conntrack.json")
UNITS = os.path.join(DEPLOY, "systemd")
METRIC_RE = re.compile(r"\b((?:node_nf_conntrack|ctscope)_[a-z0-9_]+)\b")


def promtool() -> str:
    exe = shutil.which("promtool")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("promtool missing: apt-get install prometheus")
        pytest.skip("promtool not installed (Debian package 'prometheus')")
    return exe


def exported_names() -> set[str]:
    """Every sample name the exporter produces for a complete snapshot."""
    t = Target(label=None)
    t.up, t.reads = True, 1
    t.snapshot = {"count": 5, "max": 10, "buckets": 8, "slab_objsize": 256, "netns_inode": 1,
                  "stat": dict.fromkeys(("found", "invalid", "insert", "insert_failed", "drop", "early_drop",
                                         "error", "search_restart", "clash_resolve", "chaintoolong"), 1),
                  "table": {"total": 5, "by_proto": {"tcp": 5}, "by_state": {"tcp ESTABLISHED": 5},
                            "flags": {"assured": 5, "unreplied": 0}, "top_sources": [["10.0.0.1", 5]],
                            "top_destinations": [["10.0.0.2", 5]], "top_dports": [["tcp/80", 5]]},
                  "missing": [{"source": "x", "reason": "y", "metrics": "z"}],
                  "monotonic": time.monotonic(), "read_duration": 0.1}

    class Log:
        available, path, error = True, "/dev/kmsg", ""

        def is_initial(self, inode):
            return True

        def lines_for(self, inode, initial):
            return 0

    reg = CollectorRegistry(auto_describe=False)
    reg.register(ConntrackCollector([t], Log()))
    text = generate_latest(reg).decode()
    return {line.split("{")[0].split()[0] for line in text.splitlines() if line and not line.startswith("#")}


def test_rules_pass_promtool_check():
    out = subprocess.run([promtool(), "check", "rules", RULES], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 5 rules found" in out.stdout


def test_rules_fire_in_promtool_unit_tests():
    out = subprocess.run([promtool(), "test", "rules", RULE_TESTS], capture_output=True, text=True,
                         cwd=os.path.dirname(RULE_TESTS))
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("old,new", [("> 0.75", "> 0.85"), ("> 0.90", "> 0.99"),
                                     ("insert_failed_total[10m]) > 0", "insert_failed_total[10m]) > 5")])
def test_promtool_unit_tests_catch_a_wrong_threshold(tmp_path, old, new):
    text = open(RULES).read()
    assert old in text
    (tmp_path / "ctscope-conntrack.rules.yml").write_text(text.replace(old, new))
    shutil.copy(RULE_TESTS, tmp_path)
    out = subprocess.run([promtool(), "test", "rules", "ctscope-conntrack.test.yml"], capture_output=True,
                         text=True, cwd=tmp_path)
    assert out.returncode != 0


def test_rules_and_dashboard_use_only_exported_metrics():
    names = exported_names()
    used = set(METRIC_RE.findall(open(RULES).read()))
    dash = json.load(open(DASHBOARD))
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    exprs += [v["definition"] for v in dash["templating"]["list"] if "definition" in v]
    for e in exprs:
        used |= set(METRIC_RE.findall(e))
    assert used - names == set()
    assert {"node_nf_conntrack_entries", "ctscope_nf_conntrack_table_full_log_lines_total",
            "ctscope_nf_conntrack_stat_insert_failed_total"} <= used


def test_dashboard_is_importable():
    dash = json.load(open(DASHBOARD))
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)) and dash["uid"] and dash["title"]
    for p in dash["panels"]:
        assert p["targets"] and all(t["expr"].count("(") == t["expr"].count(")") for t in p["targets"])
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24


def units() -> dict[str, configparser.ConfigParser]:
    out = {}
    for name in sorted(os.listdir(UNITS)):
        cp = configparser.ConfigParser(strict=False, interpolation=None)
        cp.optionxform = str
        cp.read(os.path.join(UNITS, name))
        out[name] = cp
    return out


def test_units_least_privileges_per_mode():
    u = units()
    assert set(u) == {"ctscope-exporter.service", "ctscope-exporter-ctnetlink.service",
                      "ctscope-exporter-netns.service"}
    caps = {n: set(cp["Service"].get("CapabilityBoundingSet", "").split()) for n, cp in u.items()}
    assert caps["ctscope-exporter.service"] == set()
    assert caps["ctscope-exporter-ctnetlink.service"] == {"CAP_NET_ADMIN", "CAP_SYSLOG"}
    assert caps["ctscope-exporter-netns.service"] == {"CAP_SYS_ADMIN", "CAP_SYSLOG"}
    for name, cp in u.items():
        s = cp["Service"]
        assert set(s.get("AmbientCapabilities", "").split()) == caps[name]
        assert s["NoNewPrivileges"] == "yes" and s["ProtectKernelTunables"] == "yes"
        assert s["ProtectSystem"] == "strict" and "PrivateNetwork" not in s


def test_unit_command_lines_parse():
    parser = build_parser()
    for name, cp in units().items():
        s = cp["Service"]
        env = dict(kv.split("=", 1) for kv in shlex.split(s.get("Environment", "")))
        argv = shlex.split(s["ExecStart"])
        assert argv[:2] == ["/usr/bin/ctscope", "exporter"]
        argv = [w for a in argv[1:] for w in (shlex.split(env[a[1:]]) if a.startswith("$") else [a])]
        args = parser.parse_args(argv)
        assert args.listen.startswith("127.0.0.1:"), name
        assert bool(args.netns) == ("netns" in name)


def test_units_pass_systemd_analyze():
    exe = shutil.which("systemd-analyze")
    if exe is None:
        pytest.skip("systemd-analyze not installed")
    for name in units():
        out = subprocess.run([exe, "verify", "--man=no", os.path.join(UNITS, name)],
                             capture_output=True, text=True)
        complaints = [ln for ln in (out.stdout + out.stderr).splitlines()
                      if ln.strip() and "/usr/bin/ctscope" not in ln]
        assert complaints == [], (name, complaints)
