"""Against the real kernel, inside a throw-away network namespace (ctsc-fmt-*): the
writers reproduce /proc and conntrack-tools output byte for byte, and the live readers
(through the --netns helper) see what the kernel has.  Nothing outside the namespace
is written; the namespace is deleted afterwards."""
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from ctscope.formats import (detect_format, format_conntrack, format_conntrack_s, format_event,
                             format_proc, format_proc_stat, parse_conntrack_s, parse_proc_stat,
                             read_entries, write_entries)
from ctscope.live.netns import read_netns

pytestmark = pytest.mark.kernel

TRAFFIC = r"""
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 8000)); s.listen()
c = socket.create_connection(("127.0.0.1", 8000)); a, _ = s.accept(); c.send(b"hi"); a.recv(10)
c.close(); a.close()                                   # -> TIME_WAIT, 120 s
u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u6.sendto(b"x", ("::1", 6000))
u4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u4.bind(("127.0.0.1", 5000))
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(("127.0.0.1", 5001))
u4.sendto(b"x", ("127.0.0.1", 5001)); d, addr = r.recvfrom(10); r.sendto(b"y", addr)
ic = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
ic.sendto(bytes([8, 0, 0xf7, 0xcb, 0x12, 0x34, 0, 0]), ("127.0.0.1", 0))
ic6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
ic6.sendto(bytes([128, 0, 0, 0, 0x12, 0x34, 0, 1]), ("::1", 0))
z = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); z.sendto(b"z", ("127.0.0.1", 7000))
g = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47); g.sendto(b"\0\0\x08\0", ("127.0.0.2", 0))
"""
RULES = """
table inet ctsc {
  chain rawout { type filter hook output priority raw; udp dport 7000 ct zone set 3; }
  chain out { type filter hook output priority 0; ct mark set 7; ct state invalid counter; }
}
"""


def _ns(ns, *cmd, **kw):
    return subprocess.run(["ip", "netns", "exec", ns, *cmd], check=True, capture_output=True,
                          text=True, timeout=60, **kw)


@pytest.fixture(scope="module")
def netns():
    name = f"ctsc-fmt-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        _ns(name, "ip", "link", "set", "lo", "up")
        _ns(name, "nft", "-f", "-", input=RULES)
        for knob in ("nf_conntrack_acct", "nf_conntrack_timestamp"):   # per-netns sysctls
            _ns(name, "sh", "-c", f"echo 1 > /proc/sys/net/netfilter/{knob}")
        _ns(name, sys.executable, "-c", TRAFFIC)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def _lines(text):
    return [ln for ln in text.splitlines() if ln.strip()]


def test_proc_lines_byte_exact(netns):
    lines = _lines(_ns(netns, "cat", "/proc/net/nf_conntrack").stdout)
    assert len(lines) >= 7 and detect_format(lines) == "proc"
    entries = list(read_entries(lines))
    assert [format_proc(e) for e in entries] == lines
    protos = {e.l4 for e in entries}
    assert {"tcp", "udp", "icmp", "icmpv6", "gre"} <= protos
    assert any(e.zone == 3 for e in entries) and all(e.mark == 7 for e in entries)
    assert all(e.orig_packets is not None for e in entries)


needs_conntrack = pytest.mark.skipif(shutil.which("conntrack") is None, reason="conntrack-tools missing")


@needs_conntrack
@pytest.mark.parametrize("opts,fmt", [([], "conntrack"), (["-o", "extended"], "extended"),
                                      (["-o", "extended,id"], "extended"), (["-o", "xml"], "xml"),
                                      (["-f", "ipv6"], "conntrack")])
def test_conntrack_list_byte_exact(netns, opts, fmt):
    out = _ns(netns, "conntrack", "-L", *opts).stdout
    lines = _lines(out)
    assert detect_format(lines) == fmt
    entries = list(read_entries(lines))
    assert entries
    if fmt == "xml":
        assert list(write_entries(entries, "xml")) == lines
    else:
        assert [format_conntrack(e, extended=fmt == "extended") for e in entries] == lines
    proc = {e.key() for e in read_entries(_lines(_ns(netns, "cat", "/proc/net/nf_conntrack").stdout))}
    if fmt != "xml":                                  # xml has no ICMP ids
        assert {e.key() for e in entries} <= proc


@needs_conntrack
def test_stats_byte_exact(netns):
    lines = _ns(netns, "conntrack", "-S").stdout.splitlines()
    assert format_conntrack_s(parse_conntrack_s(lines)) == lines
    stat = _ns(netns, "cat", "/proc/net/stat/nf_conntrack").stdout.splitlines()
    table = parse_proc_stat(stat)
    assert format_proc_stat(table) == stat
    assert len(table.cpus) == len(lines) == os.cpu_count()
    count = int(_ns(netns, "cat", "/proc/sys/net/netfilter/nf_conntrack_count").stdout)
    assert table.entries == count


@needs_conntrack
def test_events_byte_exact(netns):
    for extended, opts in ((True, "timestamp,extended"), (False, None)):
        cmd = ["ip", "netns", "exec", netns, "conntrack", "-E"] + (["-o", opts] if opts else [])
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            time.sleep(0.5)
            _ns(netns, sys.executable, "-c", TRAFFIC.replace("8000", "8001").replace("5000", "5002")
                .replace("5001", "5003"))
            time.sleep(0.5)
        finally:
            os.kill(p.pid, signal.SIGTERM)
            out, _ = p.communicate(timeout=10)
        lines = _lines(out)
        assert len(lines) >= 5 and detect_format(lines) == "events"
        entries = list(read_entries(lines))
        assert [format_event(e, extended=extended) for e in entries] == lines
        assert {"NEW", "UPDATE"} <= {e.event for e in entries}
        assert all((e.event_usec is not None) == extended for e in entries)


def test_read_netns_helper(netns):
    snap = read_netns(netns, ["--no-log"])
    sysctl = snap["sysctl"]["values"]
    table = snap["table"]
    assert table["problems"] == [] and table["duplicates"] == 0
    assert table["lines"] == table["unique"] >= 7
    assert table["count"] == sysctl["nf_conntrack_count"] >= table["unique"]
    assert snap["stat"]["entries"] == sysctl["nf_conntrack_count"]
    assert sysctl["nf_conntrack_acct"] == 1                     # the namespace's own value
    ours = int(open("/proc/sys/net/netfilter/nf_conntrack_acct").read())
    assert snap["netns_inode"] != os.stat("/proc/self/ns/net").st_ino
    assert sysctl["nf_conntrack_max"] == int(open("/proc/sys/net/netfilter/nf_conntrack_max").read())
    assert ours in (0, 1)
    summary = table["summary"]
    assert summary["by_proto"]["tcp"] >= 1 and summary["by_state"].get("tcp TIME_WAIT", 0) >= 1
    assert ["tcp/8000", 1] in summary["top_dports"]


FILL = r"""
import os, socket, struct, time
A, B = socket.inet_aton("127.0.0.1"), socket.inet_aton("127.0.0.2")
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
raw.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
def pk(src, dst, sp, dp):
    return struct.pack("!BBHHHBBH4s4sHHHH", 0x45, 0, 29, 0, 0, 64, 17, 0, src, dst, sp, dp, 9, 0) + b"x"
mx = int(open("/proc/sys/net/netfilter/nf_conntrack_max").read())
flows = [(sp, dp) for dp in range(1, 6) for sp in range(1024, 65536)][:mx]
for sp, dp in flows: raw.sendto(pk(A, B, sp, dp), ("127.0.0.2", 0))
for sp, dp in flows: raw.sendto(pk(B, A, dp, sp), ("127.0.0.1", 0))
time.sleep(2.2)
lost = 0
for sp, dp in flows:                  # now ASSURED: immune to early drop
    try:
        raw.sendto(pk(A, B, sp, dp), ("127.0.0.2", 0))
    except OSError:
        lost += 1
failed = 0
for i in range(500):                  # new flows until the table refuses some
    try:
        raw.sendto(pk(A, B, 100 + i, 9999), ("127.0.0.2", 0))
    except OSError:
        failed += 1
        if failed == 3:
            break
for i in range(3):                    # net_ratelimit (shared by every netns): 10 per 5 s;
    time.sleep(5.2)                   # one more refusal in each fresh window gets logged
    try:
        raw.sendto(pk(A, B, 700 + i, 9999), ("127.0.0.2", 0))
    except OSError:
        pass
print(failed, os.stat("/proc/self/ns/net").st_ino)
"""


@pytest.mark.slow
def test_table_full_is_seen_by_the_readers():
    """Fill a namespace's table with ASSURED entries (~100 MB of kernel memory, freed with
    the namespace); the next new flows are dropped and logged 'table full in netns N'."""
    from ctscope.live.kmsg import kernel_log
    name = f"ctsc-fmt-full-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        _ns(name, "ip", "link", "set", "lo", "up")
        _ns(name, "nft", "-f", "-", input="table inet ctsc { chain out { type filter hook output "
                                          "priority 0; ct state invalid counter; }; }")
        for knob in ("udp_timeout", "udp_timeout_stream"):          # per-netns: nothing expires
            _ns(name, "sh", "-c", f"echo 900 > /proc/sys/net/netfilter/nf_conntrack_{knob}")
        failed, inode = _ns(name, sys.executable, "-c", FILL).stdout.split()
        assert int(failed) == 3                       # sendto() fails with EPERM
        snap = read_netns(name, ["--no-log"])
        values = snap["sysctl"]["values"]
        assert values["nf_conntrack_max"] - 2 <= values["nf_conntrack_count"] <= values["nf_conntrack_max"]
        assert snap["stat"]["totals"]["drop"] >= int(failed)
        assert snap["table"]["summary"]["flags"]["assured"] >= 0.99 * snap["table"]["lines"]
        log = kernel_log()
        assert log.by_netns.get(inode, 0) >= 1, log.as_dict()
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)
