"""``ctscope list`` / ``events`` / ``top`` against the real kernel with real traffic in a
throw-away namespace ``ctsc-live-<pid>-traffic`` (loopback TCP, UDP, ICMP, ICMPv6, GRE,
a zone, a mark): list equals ``conntrack -L`` for the same filters and formats (both
run), events equal ``conntrack -E`` run side by side, and ``top`` is driven with
Textual's pilot while traffic flows.  The namespace is deleted even on failure."""
from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from ctscope.formats import read_entries

pytestmark = pytest.mark.kernel
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = {**os.environ, "PYTHONPATH": ROOT}
NAME = f"ctsc-live-{os.getpid()}-traffic"
RULES = """table inet ctsc {
  chain rawout { type filter hook output priority raw; udp dport 7000 ct zone set 3; }
  chain out { type filter hook output priority 0; ct mark set 7; udp dport 5001 ct mark set 9; }
}
"""
TRAFFIC = r"""
import socket, sys
base = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", base)); s.listen()
c = socket.create_connection(("127.0.0.1", base)); a, _ = s.accept(); c.send(b"hi"); a.recv(10)
c.close(); a.close()
k = socket.create_connection(("127.0.0.1", base)); b, _ = s.accept()   # stays ESTABLISHED
u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u6.sendto(b"x", ("::1", 6000))
u4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u4.bind(("127.0.0.1", 0))
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(("127.0.0.1", 5001))
u4.sendto(b"x", ("127.0.0.1", 5001)); d, addr = r.recvfrom(10); r.sendto(b"y", addr)
ic = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
ic.sendto(bytes([8, 0, 0xf7, 0xcb, 0x12, 0x34, 0, 0]), ("127.0.0.1", 0))
ic6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
ic6.sendto(bytes([128, 0, 0, 0, 0x12, 0x34, 0, 1]), ("::1", 0))
z = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); z.sendto(b"z", ("127.0.0.1", 7000))
g = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47); g.sendto(b"\0\0\x08\0", ("127.0.0.2", 0))
"""
CHURN = r"""
import socket, time
for i in range(100000):                       # new UDP flows until killed
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(b"x", ("127.0.0.1", 9000 + i % 50)); u.close(); time.sleep(0.01)
"""
_TIMEOUT = re.compile(r"^(\s*\[\w+\]\s+)?((?:ipv[46]\s+\d+\s+)?\S+\s+\d+\s+)(\d+) ")


def ns(*cmd, check=True, **kw):
    return subprocess.run(["ip", "netns", "exec", NAME, *cmd], capture_output=True, text=True,
                          check=check, timeout=60, env=ENV, **kw)


def ctscope(*args):
    r = subprocess.run([sys.executable, "-m", "ctscope", *args, "--netns", NAME], capture_output=True,
                       text=True, timeout=60, env=ENV)
    assert r.returncode == 0, r.stderr
    return r


def both(ours: list[str], theirs: list[str]) -> tuple[str, str]:
    """``ctscope list OURS`` and ``conntrack -L THEIRS`` run at the same time (so the
    timeouts they print are comparable even on a loaded machine)."""
    a = subprocess.Popen([sys.executable, "-m", "ctscope", "list", *ours, "--netns", NAME],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    b = ns("conntrack", "-L", *theirs).stdout
    out, err = a.communicate(timeout=60)
    assert a.returncode == 0, err
    return out, b


_DELTA = re.compile(r" delta-time=(\d+) ")


def _untimed(lines):
    """Lines with the clock-dependent numbers (timeout, delta-time) blanked, and
    {line: (timeout, delta-time)}."""
    out = {}
    for line in lines:
        m = _TIMEOUT.match(line)
        key = line if not m else line[:m.start(3)] + "T" + line[m.end(3):]
        d = _DELTA.search(key)
        key = _DELTA.sub(" delta-time=D ", key)
        out[key] = (int(m.group(3)) if m else None, int(d.group(1)) if d else None)
    return out


def assert_same_listing(ours: str, theirs: str, slack: int = 2) -> None:
    """Same lines after sorting; timeouts and delta-times within ``slack`` seconds."""
    a, b = _untimed(ours.splitlines()), _untimed(theirs.splitlines())
    assert sorted(a) == sorted(b)
    for key, times in a.items():
        for mine, other in zip(times, b[key]):
            assert mine is None or abs(mine - other) <= slack, key


@pytest.fixture(scope="module")
def traffic():
    subprocess.run(["ip", "netns", "add", NAME], check=True)
    try:
        ns("ip", "link", "set", "lo", "up")
        ns("nft", "-f", "-", input=RULES)
        for knob, value in (("acct", 1), ("timestamp", 1), ("udp_timeout", 600), ("udp_timeout_stream", 600),
                            ("icmp_timeout", 600), ("icmpv6_timeout", 600), ("gre_timeout", 600)):
            # this namespace only: nothing expires between the two reads of a comparison
            ns("sh", "-c", f"echo {value} > /proc/sys/net/netfilter/nf_conntrack_{knob}")
        keep = subprocess.Popen(["ip", "netns", "exec", NAME, sys.executable, "-c",
                                 TRAFFIC + "\nimport time; time.sleep(600)"], env=ENV)
        time.sleep(1.0)
        yield NAME
    finally:
        if "keep" in locals():
            keep.kill()
            keep.wait()
        subprocess.run(["ip", "netns", "del", NAME], check=False)


FILTERS = [[], ["-p", "tcp"], ["-p", "tcp", "--state", "ESTABLISHED"], ["-p", "tcp", "--state", "TIME_WAIT"],
           ["-p", "udp", "--dport", "5001"], ["-f", "ipv6"], ["-f", "ipv4"], ["-s", "127.0.0.1"],
           ["-d", "127.0.0.0/24"], ["-p", "icmp"], ["-m", "9"], ["-m", "8/0x8"], ["-w", "3"],
           ["-u", "ASSURED"], ["-p", "udp", "--sport", "5001"]]


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: " ".join(f) or "all")
def test_list_equals_conntrack_L(traffic, filters):
    ours, theirs = both(filters, filters)
    assert ours.strip() or filters, "the namespace table is empty"
    assert_same_listing(ours, theirs)


@pytest.mark.parametrize("ours,theirs", [(["-o", "extended"], ["-o", "extended"]),
                                         (["-o", "xml"], ["-o", "xml"]), (["-C"], [])])
def test_list_formats_equal_conntrack(traffic, ours, theirs):
    if ours == ["-C"]:
        assert ctscope("list", "-C").stdout.strip() == ns("conntrack", "-C").stdout.strip()
        return
    a, b = both(ours, theirs)
    if ours == ["-o", "xml"]:      # one <flow> per line: compare flows without clock values
        # conntrack prints the kernel id in xml; /proc has none (documented in list --help)
        strip = lambda t: sorted(re.sub(r"<(timeout|deltatime|id)>\d+</\1>", "", x) for x in t.splitlines())  # noqa: E731
        assert strip(a) == strip(b) and len(strip(a)) >= 10
    else:
        assert_same_listing(a, b)


def test_list_stats_equal_conntrack_S(traffic):
    from ctscope.formats.stats import parse_conntrack_s
    ours = parse_conntrack_s(ctscope("list", "-S").stdout.splitlines())
    theirs = parse_conntrack_s(ns("conntrack", "-S").stdout.splitlines())
    assert ours.totals() == theirs.totals()


def test_list_json_matches_proc(traffic):
    import json
    rows = [json.loads(x) for x in ctscope("list", "-o", "json").stdout.splitlines()]
    proc = list(read_entries(ns("cat", "/proc/net/nf_conntrack").stdout.splitlines()))
    assert len(rows) == len(proc) >= 7
    assert {r["l4"] for r in rows} >= {"tcp", "udp", "icmp", "icmpv6", "gre"}
    assert all(r["use"] == 1 for r in rows)


@pytest.mark.parametrize("opts", [[], ["-o", "timestamp,extended"], ["-p", "udp"]], ids=lambda o: " ".join(o) or "default")
def test_events_see_what_conntrack_E_sees(traffic, opts):
    theirs = subprocess.Popen(["ip", "netns", "exec", NAME, "conntrack", "-E", *opts], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    ours = subprocess.Popen([sys.executable, "-m", "ctscope", "events", "--netns", NAME, *opts],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        time.sleep(1.5)
        ns(sys.executable, "-c", TRAFFIC.replace("base = int(sys.argv[1]) if len(sys.argv) > 1 else 8000",
                                                 "base = 8100").replace("5001", "5101").replace("7000", "7100"))
        time.sleep(1.0)
    finally:
        theirs.send_signal(signal.SIGINT)
        ours.send_signal(signal.SIGINT)
        t_out, _ = theirs.communicate(timeout=10)
        o_out, o_err = ours.communicate(timeout=10)
    assert ours.returncode == 0, o_err
    strip_ts = lambda text: sorted(re.sub(r"^\[\d+\.\d+\]\t", "", x) for x in text.splitlines())  # noqa: E731
    assert strip_ts(o_out) == strip_ts(t_out) and len(o_out.splitlines()) >= 4
    if "timestamp" in " ".join(opts):
        assert all(re.match(r"^\[\d+\.\d{6}\]\t", x) for x in o_out.splitlines())
    new = sum(1 for x in o_out.splitlines() if "[NEW]" in x)
    assert f"{new} new" in o_err and "churn over" in o_err


def test_events_json_and_state_filter(traffic):
    import json
    p = subprocess.Popen([sys.executable, "-m", "ctscope", "events", "--netns", NAME, "-o", "json", "-p", "tcp",
                          "--state", "ESTABLISHED"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=ENV)
    try:
        time.sleep(1.5)
        ns(sys.executable, "-c", TRAFFIC.replace("base = int(sys.argv[1]) if len(sys.argv) > 1 else 8000",
                                                 "base = 8200").replace("5001", "5201").replace("7000", "7200"))
        time.sleep(1.0)
    finally:
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=10)
    rows = [json.loads(x) for x in out.splitlines()]
    assert rows and all(r["l4"] == "tcp" and r["state"] == "ESTABLISHED" for r in rows)
    assert {r["event"] for r in rows} <= {"NEW", "UPDATE"} and any(r["orig"]["dport"] == 8200 for r in rows)


def test_events_without_cap_net_admin_says_so(traffic):
    r = ns("capsh", "--drop=cap_net_admin", "--", "-c",
           f"{sys.executable} -m ctscope events --duration 1", check=False)
    assert r.returncode == 2, r.stdout + r.stderr
    msg = r.stderr.strip().splitlines()
    assert len(msg) == 1 and "CAP_NET_ADMIN" in msg[0] and msg[0].startswith("ctscope events:")


def test_top_driven_by_pilot_with_live_traffic(traffic):
    from ctscope.live.sampler import Sampler
    from ctscope.tui.top import TopApp

    churn = subprocess.Popen(["ip", "netns", "exec", NAME, sys.executable, "-c", CHURN], env=ENV)

    async def drive():
        app = TopApp(Sampler(NAME, top=20), interval=0.5)
        async with app.run_test(size=(130, 45)) as pilot:
            for _ in range(300):
                await pilot.pause(0.1)
                if app.samples_taken >= 3 and app.sample.new_per_s:
                    break
            seen = {"first": app.talkers(), "sample": app.sample,
                    "gauge": str(app.query_one("#gauge").render())}
            await pilot.press("slash", *"udp/90", "enter")
            await pilot.pause(0.2)
            seen["filtered"] = app.talkers()
            await pilot.press("escape", "s")
            await pilot.pause(0.2)
            seen["by_name"] = app.talkers()
            await pilot.press("p")                      # protocol: tcp
            taken = app.samples_taken
            for _ in range(50):
                await pilot.pause(0.1)
                if app.samples_taken > taken + 1:
                    break
            seen["tcp"] = app.talkers()
            await pilot.press("v")
            seen["view"] = app.view
            await pilot.press("space")
            taken = app.samples_taken
            await pilot.pause(1.5)
            seen["paused"] = (app.paused, app.samples_taken == taken)
            await pilot.press("q")
        return seen
    try:
        seen = asyncio.run(drive())
    finally:
        churn.kill()
        churn.wait()
    s = seen["sample"]
    assert s.count is not None and s.max and s.digest.summary.total > 0
    assert s.new_per_s and s.new_per_s > 1                      # ~100 new UDP flows/s
    assert "%" in seen["gauge"] and f"{s.max:,}" in seen["gauge"]
    names = [n for n, _ in seen["first"]]
    assert any(n.startswith("udp/90") for n in names)
    assert "tcp/8000" in [n for n, _ in seen["tcp"]] and all(n.startswith("tcp/") for n, _ in seen["tcp"])
    assert seen["filtered"] and all("udp/90" in n for n, _ in seen["filtered"])
    assert [n for n, _ in seen["by_name"]] == sorted(n for n, _ in seen["by_name"])
    assert seen["view"] == "pairs" and seen["paused"] == (True, True)
