"""ctscope exporter against the real kernel, in throw-away ``ctsc-exp-`` namespaces.

Oracles are independent of the exporter's own path: the exporter reads proc files,
the tests read the same namespace through ctnetlink (``conntrack -L``/``-S``) and
the kernel log through ``dmesg``.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ctscope.craft.l3 import eth, ipv4
from ctscope.craft.l4 import tcp
from ctscope.exporter.lab import PREFIX, Lab

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module", autouse=True)
def no_lab_left_behind():
    yield
    left = [n for n in os.listdir("/run/netns") if n.startswith(f"{PREFIX}{os.getpid()}-")] \
        if os.path.isdir("/run/netns") else []
    assert left == [], f"namespaces left behind: {left}"


def scrape(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200
        return {f.name: f for f in text_string_to_metric_families(r.read().decode())}


def value(fams, name, **labels) -> float:
    found = [s.value for s in fams[name].samples if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (name, labels)
    return found[0]


def kernel_table(lab: Lab) -> list[dict]:
    """The namespace's table through ctnetlink, parsed here (not by ctscope)."""
    rows = []
    for fam in ("ipv4", "ipv6"):
        for line in lab.exec(["conntrack", "-L", "-o", "extended", "-f", fam]).splitlines():
            parts = line.split()
            kv = [p.split("=", 1) for p in parts if "=" in p]
            first = {}
            for k, v in kv:
                first.setdefault(k, v)
            rows.append({"proto": parts[2], "state": parts[5] if parts[5].isupper() else None,
                         "assured": "[ASSURED]" in parts, "unreplied": "[UNREPLIED]" in parts,
                         "src": first["src"], "dport": first.get("dport")})
    return rows


def kernel_stats(lab: Lab) -> dict:
    total: Counter = Counter()
    for line in lab.exec(["conntrack", "-S"]).splitlines():
        for k, v in re.findall(r"(\w+)=(\d+)", line):
            if k != "cpu":
                total[k] += int(v)
    return total


def start_cli(args: list[str]) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "ctscope", "exporter", *args],
                            stderr=subprocess.PIPE, text=True, cwd=os.path.dirname(os.path.dirname(
                                os.path.dirname(os.path.abspath(__file__)))))
    for _ in range(50):
        line = proc.stderr.readline()
        m = re.search(r"serving (http://\S+)", line)
        if m:
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            return proc, m.group(1)
        if not line:
            break
    proc.kill()
    proc.wait()
    pytest.fail("exporter did not start")


def read_once(lab: Lab, source: str) -> dict:
    """One snapshot from a reader child that joined the lab (``--source``)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, "-m", "ctscope.exporter.reader", "--enter", lab.path,
                          "--source", source, "--top", "3"], input="read\n", capture_output=True,
                         text=True, cwd=root, timeout=120)
    return json.loads(out.stdout)


def invalid_frames(n: int) -> list[bytes]:
    """TCP segments with SYN+FIN: conntrack's TCP tracker counts them invalid."""
    return [eth(ipv4(f"198.18.200.{i}", "198.19.0.9", tcp(30000 + i, 22, flags="SF"))) for i in range(n)]


def test_values_equal_the_kernel_with_real_traffic():
    with Lab("traffic") as lab:
        lab.open_sockets(tcp_open=3, tcp_closed=2, udp=4, pings=2)
        lab.handshakes(300, "assured")
        lab.handshakes(40, "unassured", first=300)
        lab.send_frames(invalid_frames(6))
        time.sleep(0.3)
        sleeper = subprocess.Popen(["ip", "netns", "exec", lab.name, "sleep", "120"])
        proc = None
        try:
            proc, url = start_cli(["--netns", lab.name, "--netns-pid", str(sleeper.pid),
                                   "--listen", "127.0.0.1:0", "--refresh", "0.5", "--top", "3"])
            fams = scrape(url)
            count, rows, stats = lab.count(), kernel_table(lab), kernel_stats(lab)
            via_netlink = read_once(lab, "ctnetlink")
        finally:
            if proc is not None:
                proc.terminate()
                assert proc.wait(timeout=30) == 0
            sleeper.kill()
            sleeper.wait()
    assert count == len(rows) >= 350 and stats["invalid"] >= 6
    for ns in (lab.name, f"pid:{sleeper.pid}"):
        assert value(fams, "node_nf_conntrack_entries", netns=ns) == count
        assert value(fams, "ctscope_nf_conntrack_listed_entries", netns=ns) == len(rows)
        for proto, n in Counter(r["proto"] for r in rows).items():
            assert value(fams, "ctscope_nf_conntrack_entries_by_protocol", netns=ns, protocol=proto) == n
        states = Counter(r["state"] for r in rows if r["proto"] == "tcp")
        for s in fams["ctscope_nf_conntrack_entries_by_state"].samples:
            if s.labels["netns"] == ns and s.labels["protocol"] == "tcp":
                assert s.value == states.get(s.labels["state"], 0), s
        assert value(fams, "ctscope_nf_conntrack_assured_entries", netns=ns) == sum(r["assured"] for r in rows)
        assert value(fams, "ctscope_nf_conntrack_unreplied_entries", netns=ns) == sum(r["unreplied"] for r in rows)
        for name in ("found", "invalid", "insert", "insert_failed", "drop", "early_drop", "error",
                     "search_restart", "clash_resolve", "chaintoolong"):
            assert value(fams, f"ctscope_nf_conntrack_stat_{name}", netns=ns) == stats[name], name
        assert value(fams, "node_nf_conntrack_stat_invalid", netns=ns) == stats["invalid"]
        top = {s.labels["dport"]: s.value for s in fams["ctscope_nf_conntrack_top_dport_entries"].samples
               if s.labels["netns"] == ns}
        ports = Counter(f"{r['proto']}/{r['dport']}" for r in rows if r["dport"])
        assert top["tcp/80"] == ports["tcp/80"] == 340
        assert sum(top.values()) == sum(ports.values()) and len(top) <= 4
        src = [s for s in fams["ctscope_nf_conntrack_top_source_entries"].samples if s.labels["netns"] == ns]
        assert sum(s.value for s in src) == len(rows) and len(src) == 4
        assert max(s.value for s in src if s.labels["source"] != "other") == \
            Counter(r["src"] for r in rows).most_common(1)[0][1]
    # the ctnetlink source ('conntrack -L/-S', for CAP_NET_ADMIN without root) agrees
    assert via_netlink["stat_source"] == "conntrack -S" and via_netlink["table"]["source"] == "conntrack -L"
    assert via_netlink["table"]["total"] == len(rows)
    assert via_netlink["table"]["by_proto"] == dict(Counter(r["proto"] for r in rows))
    assert via_netlink["table"]["flags"]["assured"] == sum(r["assured"] for r in rows)
    assert all(via_netlink["stat"][k] == stats[k] for k in ("invalid", "drop", "insert_failed"))
    # every series carries the netns label (exactly the two exported namespaces)
    assert {s.labels.get("netns") for f in fams.values() for s in f.samples} == {lab.name, f"pid:{sleeper.pid}"}


def test_table_full_lines_and_drops():
    """Fill a namespace to nf_conntrack_max with ASSURED entries; new flows are dropped
    and logged 'table full in netns <inode>'.  nf_conntrack_max is only read."""
    from ctscope.exporter.server import Exporter
    from ctscope.exporter.targets import netns_target

    with open("/proc/sys/net/netfilter/nf_conntrack_max") as fh:
        limit = int(fh.read())
    if limit > 300_000:
        pytest.skip(f"nf_conntrack_max={limit}: too large to fill in a test")
    with Lab("full") as lab:
        lab.handshakes(limit, "assured")
        assert lab.wait_count(limit) == limit
        lab.handshakes(5, "unassured", first=limit)
        time.sleep(0.3)
        inode = lab.inode()
        with Exporter([netns_target(lab.name)], refresh=60, listen="127.0.0.1:0") as exp:
            fams = scrape(exp.url)
        stats = kernel_stats(lab)
    dmesg = subprocess.run(["dmesg"], capture_output=True, text=True).stdout
    logged = len(re.findall(rf"table full in netns {inode}, dropping packet", dmesg))
    assert stats["drop"] >= 5 and logged >= 1
    assert value(fams, "ctscope_nf_conntrack_stat_drop", netns=lab.name) == stats["drop"]
    assert value(fams, "node_nf_conntrack_stat_drop", netns=lab.name) == stats["drop"]
    assert value(fams, "ctscope_nf_conntrack_table_full_log_lines", netns=lab.name) == logged
    assert value(fams, "node_nf_conntrack_entries", netns=lab.name) == limit
    assert value(fams, "node_nf_conntrack_entries_limit", netns=lab.name) == limit
    assert value(fams, "ctscope_nf_conntrack_listed_entries", netns=lab.name) == limit


def test_unprivileged_reader_reports_what_it_cannot_read():
    """The reader as uid 65534 (forked after imports): counts and stats still come
    from world-readable proc files; the table is missing, and says why."""
    import encodings.ascii  # noqa: F401 -- the stdlib under /root is unreadable after the drop
    from ctscope.exporter import reader

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                      # child: drop privileges for good, read, report
        try:
            os.close(r)
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            os.write(w, json.dumps(reader.snapshot(top=3, source="proc")).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as fh:
        snap = json.loads(fh.read())
    os.waitpid(pid, 0)
    with open("/proc/sys/net/netfilter/nf_conntrack_max") as fh:
        assert snap["max"] == int(fh.read())
    assert snap["stat"] is not None and snap["table"] is None
    missing = {m["source"]: m for m in snap["missing"]}
    assert "permission denied" in missing["/proc/thread-self/net/nf_conntrack"]["reason"]


def test_load_smoke_on_a_filled_namespace():
    """bench/exporter_load.py for 5 s on 16,384 entries, a read every second."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, "-m", "bench.exporter_load", "--json", "--fill", "16384",
                          "--duration", "5", "--refresh", "1"], cwd=root, capture_output=True,
                         text=True, timeout=300)
    res = json.loads(out.stdout)
    assert res["errors"] == 0, res["error_samples"]
    assert res["entries"] == 16384 and res["exporter"]["node_nf_conntrack_entries"] == 16384
    assert res["scrapes"] == 1000 and out.returncode == 0


def _as_nobody(caps: int, fn, netns: str | None = None, uid: int = 65534) -> dict:
    """Run ``fn()`` in a forked child that joined ``netns`` and became ``uid`` (65534:
    nobody) keeping only the capabilities of bit mask ``caps`` (also as ambient, so that
    a ``conntrack`` it runs has them too).  Returns fn's JSON-able result."""
    import ctypes

    import encodings.ascii  # noqa: F401 -- the stdlib under /root is unreadable after the drop
    from ctscope.exporter.reader import enter

    libc = ctypes.CDLL(None, use_errno=True)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        out = {}
        try:
            os.close(r)
            if netns:
                enter(netns)
            libc.prctl(8, 1, 0, 0, 0)                     # PR_SET_KEEPCAPS
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            hdr = (ctypes.c_uint32 * 2)(0x20080522, 0)    # _LINUX_CAPABILITY_VERSION_3
            lo, hi = caps & 0xFFFFFFFF, caps >> 32          # {effective, permitted, inheritable} x 2
            data = (ctypes.c_uint32 * 6)(lo, lo, lo, hi, hi, hi)
            if libc.capset(hdr, data) != 0:
                raise OSError(ctypes.get_errno(), "capset")
            for bit in range(64):
                if caps >> bit & 1 and libc.prctl(47, 2, bit, 0, 0) != 0:   # PR_CAP_AMBIENT_RAISE
                    raise OSError(ctypes.get_errno(), "ambient")
            out = fn()
        except BaseException as exc:
            out = {"child_error": repr(exc)}
        finally:
            os.write(w, json.dumps(out).encode())
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as fh:
        res = json.loads(fh.read() or b"{}")
    os.waitpid(pid, 0)
    assert "child_error" not in res, res
    return res


def test_cap_net_admin_mode_reads_the_table_through_ctnetlink():
    """The documented least privilege for the table: a non-root user with only
    CAP_NET_ADMIN gets it through 'conntrack -L'; without it, it is reported missing."""
    from ctscope.exporter import reader

    cap_net_admin = 1 << 12
    with Lab("caps") as lab:
        lab.open_sockets(tcp_open=2, tcp_closed=1, udp=2, pings=1)
        lab.handshakes(50, "assured")
        rows, stats = kernel_table(lab), kernel_stats(lab)
        with_cap = _as_nobody(cap_net_admin, lambda: reader.snapshot(3, "auto"), lab.path)
        without = _as_nobody(0, lambda: reader.snapshot(3, "auto"), lab.path)
    assert with_cap["table"]["source"] == "conntrack -L"
    assert with_cap["table"]["total"] == len(rows)
    assert with_cap["table"]["by_proto"] == dict(Counter(r["proto"] for r in rows))
    assert with_cap["stat"]["invalid"] == stats["invalid"] and with_cap["count"] == len(rows)
    assert without["table"] is None and without["stat"] is not None
    why = " ".join(m["reason"] for m in without["missing"] if "top_" in m["metrics"])
    assert "permission denied" in why and "conntrack -L" in why


def test_capabilities_of_the_other_modes():
    """--netns: root with only CAP_SYS_ADMIN joins and reads the whole namespace, root
    without it cannot join; /dev/kmsg needs CAP_SYSLOG (kernel.dmesg_restrict=1)."""
    from ctscope.exporter import reader
    from ctscope.exporter.kmsglog import TableFullLog

    cap_sys_admin, cap_syslog = 1 << 21, 1 << 34

    def join_and_read(path):
        def fn():
            try:
                reader.enter(path)
            except OSError as exc:
                return {"entered": False, "why": str(exc)}
            snap = reader.snapshot(3, "proc")
            return {"entered": True, "table": snap["table"], "inode": snap["netns_inode"]}
        return fn

    def kmsg():
        log = TableFullLog()
        return {"available": log.available, "error": log.error}

    with Lab("modes") as lab:
        lab.open_sockets(tcp_open=1, tcp_closed=0, udp=1, pings=0)
        n = lab.count()
        ok = _as_nobody(cap_sys_admin, join_and_read(lab.path), uid=0)
        denied = _as_nobody(0, join_and_read(lab.path), uid=0)
        inode = lab.inode()
    assert ok["entered"] and ok["inode"] == inode and ok["table"]["total"] == n >= 2
    assert not denied["entered"] and "CAP_SYS_ADMIN" in denied["why"]
    with open("/proc/sys/kernel/dmesg_restrict") as fh:
        restricted = fh.read().strip() == "1"
    assert _as_nobody(cap_syslog, kmsg)["available"]
    if restricted:
        no = _as_nobody(0, kmsg)
        assert not no["available"] and "CAP_SYSLOG" in no["error"]


def test_deleted_and_recreated_namespace():
    """The reader child lets go of a deleted namespace (up=0) and joins the new one
    that later gets the same name."""
    from ctscope.exporter.targets import netns_target

    lab = Lab("gone")
    t = netns_target(lab.name)
    try:
        lab.open_sockets(tcp_open=1, tcp_closed=0, udp=0, pings=0)
        assert t.refresh() and t.snapshot["count"] == lab.count() > 0
        first, inode = t.child_pid, lab.inode()
        lab.close()
        assert not t.refresh() and not t.up and t.child_pid is None
        assert "gone" in t.last_error and t.snapshot["netns_inode"] == inode   # old data kept
        again = Lab("gone")                  # same name, a new namespace
        try:
            assert t.refresh() and t.up and t.child_pid != first
            assert t.snapshot["netns_inode"] == again.inode() != inode
            assert t.snapshot["count"] == again.count() == 0
        finally:
            again.close()
    finally:
        t.stop()
        lab.close()
