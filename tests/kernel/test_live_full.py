"""The live commands against a real table filled to near-full (80 %) and to full
(nf_conntrack_max = 262,144, read only) in a throw-away namespace ``ctsc-live-<pid>-full``.

The namespace forwards between two veth pairs of its own: frames written on c1 arrive
on c0 and are routed out of e0 to a neighbour that does not exist (dropped after
conntrack confirmed them).  Complete TCP handshakes to 198.19.0.1:80 make ESTABLISHED
+ ASSURED entries (``kernel.fill.handshake_frames``), which early drop cannot evict, so
new SYNs are dropped and logged 'table full in netns N'.  One fill per module; the
namespace (and its ~100 MB of entries) is deleted even on failure.  Nothing outside it
is written: its own per-netns sysctls and rules only.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.kernel
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = {**os.environ, "PYTHONPATH": ROOT}
NAME = f"ctsc-live-{os.getpid()}-full"
RULES = """table inet ctsc {
  chain ctfw { type filter hook forward priority 0; ct state invalid counter; }
  chain raw { type filter hook prerouting priority raw; udp dport 5353 notrack; }
}
"""
SEND = r"""
import socket, sys
from ctscope.kernel.fill import handshake_frames
n, first, kind = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("c1", 0))
s.setsockopt(socket.SOL_SOCKET, 32, 1 << 24)                # SO_SNDBUFFORCE
for _, frame in handshake_frames(n, kind, first=first):
    s.send(frame)
"""
SETUP = [
    "ip link add c0 address 02:00:00:00:00:02 type veth peer name c1 address 02:00:00:00:00:01",
    "ip link add e0 type veth peer name e1",
    *[f"ip link set {d} up" for d in ("lo", "c0", "c1", "e0", "e1")],
    "sysctl -qw net.ipv4.ip_forward=1",
    *[f"sysctl -qw net.ipv4.conf.{d}.rp_filter=0" for d in ("all", "default", "c0", "c1", "e0")],
    "ip neigh add 198.18.255.254 lladdr 02:00:00:00:00:99 dev e0 nud permanent",
    "ip route add 198.18.255.254/32 dev e0",
    "ip route add 198.18.0.0/15 via 198.18.255.254 dev e0 onlink",
]


def ns(*cmd, check=True, **kw):
    return subprocess.run(["ip", "netns", "exec", NAME, *cmd], capture_output=True, text=True,
                          check=check, timeout=120, env=ENV, **kw)


def send(n, first, kind="assured"):
    ns(sys.executable, "-c", SEND, str(n), str(first), kind)


def ctscope(*args, netns=True, check=True):
    cmd = [sys.executable, "-m", "ctscope", *args] + (["--netns", NAME] if netns else [])
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=ENV)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def doctor():
    return json.loads(ctscope("doctor", "--json", "--churn", "0").stdout)


def read_int(path):
    return int(ns("cat", path).stdout)


@pytest.fixture(scope="module")
def full():
    """{'max', 'inode', 'near': doctor at 80 %, 'full': doctor at 100 % after drops, 'probes'}."""
    subprocess.run(["ip", "netns", "add", NAME], check=True)
    try:
        for cmd in SETUP:
            ns(*cmd.split())
        ns("nft", "-f", "-", input=RULES)
        mx = read_int("/proc/sys/net/netfilter/nf_conntrack_max")
        inode = os.stat(f"/run/netns/{NAME}").st_ino
        near_n = int(mx * 0.8)
        send(near_n, 0)
        out = {"max": mx, "inode": inode, "near_count": read_int("/proc/sys/net/netfilter/nf_conntrack_count")}
        out["near"] = doctor()
        send(mx - near_n, near_n)
        out["count"] = read_int("/proc/sys/net/netfilter/nf_conntrack_count")
        from ctscope.live.kmsg import kernel_log
        probes = 0
        for attempt in range(4):          # net_ratelimit is shared with every netns: retry
            send(5, 10 * mx + 10 * attempt, "unassured")
            probes += 5
            if kernel_log().by_netns.get(str(inode)):
                break
            time.sleep(5.2)
        out["probes"] = probes
        out["full"] = doctor()
        yield out
    finally:
        subprocess.run(["ip", "netns", "del", NAME], check=False)


def test_fill_reached_near_full_and_full(full):
    assert full["near_count"] == int(full["max"] * 0.8)
    assert full["count"] == full["max"]


def test_near_full_doctor(full):
    rep = full["near"]
    assert rep["netns"] == NAME and rep["level"] == "warning"
    assert abs(rep["usage"] - 0.8) < 0.001 and rep["max"] == full["max"]
    assert rep["stats"]["drop"] == 0
    assert not [e for e in rep["log_events"] if e["this_netns"]]
    assert rep["top"]["dports"][0] == {"dport": 80, "proto": "tcp", "count": rep["count"]}
    assert rep["by_state"] == {"tcp": {"ESTABLISHED": rep["count"]}}


def test_full_doctor_names_port_drops_and_log_line(full):
    rep = full["full"]
    assert rep["count"] == rep["max"] == full["max"] and rep["usage"] == 1.0 and rep["level"] == "critical"
    assert rep["top"]["dports"] == [{"dport": 80, "proto": "tcp", "count": full["max"]}]
    assert rep["top"]["destinations"] == [{"dst": "198.19.0.1", "count": full["max"]}]
    assert len(rep["top"]["pairs"]) == 10 and all(p["dport"] == 80 for p in rep["top"]["pairs"])
    assert rep["top"]["other"]["sources"] == full["max"] - sum(s["count"] for s in rep["top"]["sources"])
    assert 1 <= rep["stats"]["drop"] <= full["probes"]
    mine = [e for e in rep["log_events"] if e["this_netns"]]
    assert mine and mine[-1]["netns"] == str(full["inode"])
    assert "table full in netns" in mine[-1]["message"] and mine[-1]["time"].endswith("Z")
    text = " ".join(rep["diagnosis"])
    assert "tcp/80 fills the table" in text and "ASSURED" in text and "dropped" in text
    first = rep["remedies"][0]
    assert "tcp/80" in first["title"] and any("tcp dport 80 notrack" in c for c in first["commands"])
    assert first["plan"].startswith("ctscope plan")
    assert any("nf_conntrack_max" in r["title"] for r in rep["remedies"])
    assert any("udp dport 5353 notrack" in r for r in rep["rules"]["notrack"])
    assert any("ct state invalid" in r for r in rep["rules"]["conntrack_users"])


def test_builtin_nf_conntrack_raises_no_module_alarm(full):
    rep = full["full"]
    if not os.path.isdir("/sys/module/nf_conntrack") or os.path.exists("/sys/module/nf_conntrack/initstate"):
        pytest.skip("nf_conntrack is a module on this kernel")
    assert rep["module"] == "builtin"
    assert not [p for p in rep["persistence"] if "modules-load" in p or "modprobe" in p]
    assert not [c for r in rep["remedies"] for c in r["commands"] if "modules-load.d" in c or "modprobe.d" in c]


def test_text_report_and_saved_inputs_agree(full, tmp_path):
    text = ctscope("doctor", "--churn", "0").stdout
    assert "tcp/80" in text and "remedies (ranked)" in text and "level CRITICAL" in text
    snap = tmp_path / "snap.json"
    ctscope("snapshot", "--out", str(snap))
    saved = json.loads(ctscope("doctor", "--json", "--input", str(snap), netns=False).stdout)
    assert saved["netns"] == NAME and saved["count"] == full["max"]
    assert saved["top"]["dports"] == full["full"]["top"]["dports"]
    assert saved["stats"]["drop"] == full["full"]["stats"]["drop"]
    proc = tmp_path / "proc.txt"
    proc.write_text(ns("cat", "/proc/net/nf_conntrack").stdout)
    offline = json.loads(ctscope("doctor", "--json", "--input", str(proc), "--max", str(full["max"]),
                                 netns=False).stdout)
    assert offline["count"] == full["max"] and offline["top"]["dports"] == saved["top"]["dports"]


def test_list_equals_conntrack_on_the_full_table(full):
    from test_live_traffic import assert_same_listing
    args = ["-p", "tcp", "-s", "198.18.0.0/24", "--dport", "80"]
    mine = subprocess.Popen([sys.executable, "-m", "ctscope", "list", *args, "--netns", NAME], env=ENV,
                            stdout=subprocess.PIPE, text=True)             # both at the same time
    theirs = ns("conntrack", "-L", *args).stdout
    ours = mine.communicate(timeout=120)[0]
    assert len(ours.splitlines()) == 1024
    assert_same_listing(ours, theirs)
    assert ctscope("list", "-C").stdout.strip() == ns("conntrack", "-C").stdout.strip() == str(full["max"])


def test_unprivileged_doctor_degrades_with_reasons(full):
    cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
           sys.executable, "-m", "ctscope", "doctor", "--json", "--churn", "1"]
    r = ns(*cmd, check=False)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["count"] == rep["max"] == full["max"] and rep["usage"] == 1.0
    assert rep["stats"]["drop"] >= 1                          # /proc/net/stat is world readable
    whats = {p["what"]: p["why"] for p in rep["problems"]}
    assert "permission denied" in whats["/proc/net/nf_conntrack"]
    assert rep["churn"]["source"] == "unavailable" and "CAP_NET_ADMIN" in rep["churn"]["why"]
    assert any("could not read" in d or "Not everything" in d for d in rep["diagnosis"])
    r = ns("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m", "ctscope",
           "list", check=False)
    assert r.returncode == 2 and "permission denied" in r.stderr and "root" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
