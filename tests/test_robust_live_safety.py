"""Live commands never change the host: doctor, snapshot, list, size, plan --from-host,
events and exporter are run against this host, and

* every external tool they start is logged through PATH shims and must be a read-only
  use (no conntrack -D/-F/-U/-I, no nft add/delete/flush/-f, no iptables other than
  *-save/-L/-S, no sysctl -w, no modprobe, no ip link/addr/route changes);
* the state they could touch is identical before and after: every writable sysctl under
  /proc/sys/net (the counters excepted), the nft ruleset, iptables-save/ip6tables-save
  (counters stripped), and the loaded modules.

Runs as root (the commands then see everything); without root the commands read less
and the test still checks the same."""
from __future__ import annotations

import glob
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import time
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = ("conntrack", "nft", "iptables", "ip6tables", "iptables-save", "ip6tables-save", "iptables-legacy-save",
         "ip6tables-legacy-save", "iptables-nft-save", "ip6tables-nft-save", "ipset", "sysctl", "modprobe",
         "insmod", "rmmod", "ip", "dmesg", "tc", "ethtool", "conntrackd")
VOLATILE = ("nf_conntrack_count", "/neigh/", "/conf/all/stable_secret", "/stable_secret", "random",
            "/proc/sys/net/core/netdev_rss_key")


def _sysctls() -> dict:
    out = {}
    for path in glob.glob("/proc/sys/net/**", recursive=True):
        if any(v in path for v in VOLATILE):
            continue
        try:
            st = os.stat(path)
            if not stat.S_ISREG(st.st_mode) or not st.st_mode & 0o200:
                continue
            with open(path) as fh:
                out[path] = fh.read()
        except OSError:
            continue
    return out


def _cmd(args) -> str:
    if shutil.which(args[0]) is None:
        return f"<{args[0]} missing>"
    r = subprocess.run(args, capture_output=True, text=True)
    return r.stdout + r.stderr


def _state() -> dict:
    strip = lambda t: "\n".join(re.sub(r"\[\d+:\d+\]", "", l) for l in t.splitlines() if not l.startswith("#"))
    try:
        with open("/proc/modules") as fh:            # absent on a kernel without modules
            mods = sorted(l.split()[0] for l in fh)
    except OSError:
        mods = []
    return {"sysctl": _sysctls(), "nft": _cmd(["nft", "list", "ruleset"]),
            "iptables": strip(_cmd(["iptables-save"])), "ip6tables": strip(_cmd(["ip6tables-save"])),
            "modules": mods, "links": _cmd(["ip", "-o", "link", "show"]).count("\n")}


def _shims(d) -> str:
    log = d / "calls.log"
    for tool in TOOLS:
        real = shutil.which(tool)
        if real is None:
            continue
        p = d / tool
        p.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{log}"\nexec "{real}" "$@"\n')
        p.chmod(0o755)
    return str(log)


def _forbidden(line: str) -> bool:
    tool, _, rest = line.partition(" ")
    args = rest.split()
    if tool == "conntrack":
        return bool({"-D", "--delete", "-F", "--flush", "-U", "--update", "-I", "--create", "-R",
                     "--load-file"} & set(args))
    if tool == "nft":
        words = [a for a in args if not a.startswith("-")]
        return "-f" in args or "--file" in args or (words[:1] != ["list"] and bool(words))
    if tool in ("iptables", "ip6tables"):
        return not ({"-L", "--list", "-S", "--list-rules", "--version", "-V"} & set(args))
    if tool == "ipset":
        return not args or args[0] not in ("save", "list", "-v", "version")
    if tool == "sysctl":
        return "-w" in args or any("=" in a for a in args) or "-p" in args or "--system" in args
    if tool in ("modprobe", "insmod", "rmmod"):
        return True
    if tool == "ip":
        words = [a for a in args if not a.startswith("-")]
        return bool(words) and words[0] in ("link", "addr", "address", "route", "rule", "neigh") and \
            len(words) > 1 and words[1] in ("add", "del", "delete", "set", "change", "replace", "flush")
    return tool in ("tc", "ethtool", "conntrackd")


@pytest.mark.skipif(os.geteuid() != 0, reason="as root the live commands read (and could change) everything")
def test_live_commands_leave_the_host_unchanged(tmp_path):
    shims = tmp_path / "bin"
    shims.mkdir()
    log = _shims(shims)
    env = dict(os.environ, PATH=f"{shims}{os.pathsep}{os.environ['PATH']}",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    run = lambda *a, **kw: subprocess.run([sys.executable, "-m", "ctscope", *a], cwd=tmp_path, env=env,
                                          capture_output=True, text=True, timeout=180, **kw)
    before = _state()
    results = {
        "doctor": run("doctor", "--churn", "0.5"),
        "doctor --json": run("doctor", "--json", "--churn", "0"),
        "snapshot": run("snapshot", "--out", "snap.json"),
        "doctor --input": run("doctor", "--input", "snap.json"),
        "list": run("list"),
        "list -C": run("list", "-C"),
        "list -S": run("list", "-S"),
        "list -o xml -p tcp": run("list", "-o", "xml", "-p", "tcp"),
        "size": run("size"),
        "events": run("events", "--duration", "1"),
        "plan --from-host": run("plan", os.path.join(ROOT, "fuzz", "corpus", "pcap", "seed-eth_tcp.pcap"),
                                "--from-host"),
    }
    # the exporter: serve, scrape twice, stop
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = subprocess.Popen([sys.executable, "-m", "ctscope", "exporter", "--listen", f"127.0.0.1:{port}",
                          "--refresh", "0.5"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        body = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "node_nf_conntrack_entries" not in body:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
            except OSError:
                time.sleep(0.2)
        time.sleep(1.2)
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        assert "node_nf_conntrack_entries" in body
    finally:
        p.terminate()
        p.wait(timeout=10)
    after = _state()

    for name, r in results.items():
        assert "Traceback" not in r.stderr, f"{name}: {r.stderr}"
        assert r.returncode in (0, 1), f"{name}: exit {r.returncode}: {r.stderr}"
    calls = open(log).read().splitlines() if os.path.exists(log) else []
    assert any(c.startswith("conntrack -E") for c in calls), calls      # the shims did see the tools
    bad = [c for c in calls if _forbidden(c)]
    assert bad == [], f"commands that could change the host: {bad}"
    changed = {k for k in before["sysctl"].keys() | after["sysctl"].keys()
               if before["sysctl"].get(k) != after["sysctl"].get(k)}
    assert changed == set(), {k: (before['sysctl'].get(k), after['sysctl'].get(k)) for k in sorted(changed)[:10]}
    for key in ("nft", "iptables", "ip6tables", "links"):
        assert before[key] == after[key], f"{key} changed"
    loaded = set(after["modules"]) - set(before["modules"])
    assert loaded == set(), f"modules loaded by the live commands: {sorted(loaded)}"
