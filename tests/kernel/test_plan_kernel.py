"""The files `ctscope plan --emit` writes, checked against the real kernel.

Inside network namespaces this test creates (``ctsc-plan-<pid>-*``, always deleted):
A (a router: it forwards what B sends it) and B (sends crafted frames).  The per-netns sysctls of sysctl.d/90-ctscope.conf are applied and read back; the
NOTRACK rules are loaded with ``nft -f`` and ``iptables-restore`` /
``ip6tables-restore`` and crafted packets sent through a veth pair show that they
exempt exactly the traffic they should (no entry in that namespace's
/proc/net/nf_conntrack) while other traffic is still tracked.  The global keys
(nf_conntrack_max, nf_conntrack_buckets) and the modprobe / kernel command line files
are checked by syntax only: never applied, anywhere.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import time

import pytest

from ctscope.cli import main
from ctscope.craft import eth, ipv4, ipv6, tcp, udp

pytestmark = pytest.mark.kernel

GLOBAL = ("nf_conntrack_max", "nf_conntrack_buckets", "nf_conntrack_expect_max")
A4, B4, A6, B6 = "192.0.2.1", "192.0.2.2", "2001:db8:c7::1", "2001:db8:c7::2"
# A forwards to these (back out of va, to a MAC nobody has): the kernel's router path,
# as plan models it; a locally delivered SYN would be answered by a RST, which kills
# its entry at once
FAR4, FAR6, FAR_MAC = "198.51.100.7", "2001:db8:99::7", "02:00:00:00:00:07"
SENDER = ("import socket, sys\n"
          "s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n"
          "s.bind(('vb', 0))\n"
          "for line in sys.stdin:\n"
          "    s.send(bytes.fromhex(line.strip()))\n")


def sh(*args, input=None, check=True) -> str:
    r = subprocess.run(list(args), input=input, capture_output=True, text=True, timeout=60)
    if check and r.returncode:
        raise RuntimeError(f"{' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


def host_globals() -> dict:
    out = {}
    for k in GLOBAL:
        try:
            with open(f"/proc/sys/net/netfilter/{k}") as fh:
                out[k] = fh.read().strip()
        except OSError:
            out[k] = None
    return out


class Pair:
    """Namespace A (the host under test: the emitted rules/sysctls) and B (sends
    crafted frames to A over the veth pair va <-> vb)."""

    def __init__(self, tag: str):
        self.a = f"ctsc-plan-{os.getpid()}-{tag}-a"
        self.b = f"ctsc-plan-{os.getpid()}-{tag}-b"
        self.made = []
        try:
            for n in (self.a, self.b):
                sh("ip", "netns", "add", n)
                self.made.append(n)
            sh("ip", "-n", self.a, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", self.b)
            for n, dev, a4, a6 in ((self.a, "va", A4, A6), (self.b, "vb", B4, B6)):
                sh("ip", "-n", n, "link", "set", "lo", "up")
                sh("ip", "-n", n, "link", "set", dev, "up")
                sh("ip", "-n", n, "addr", "add", f"{a4}/24", "dev", dev)
                sh("ip", "-n", n, "addr", "add", f"{a6}/64", "dev", dev, "nodad")
            for key in ("net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
                        "net.ipv4.conf.all.send_redirects=0", "net.ipv4.conf.va.send_redirects=0"):
                self.in_a("sysctl", "-q", "-w", key)
            for fam, net, far in (("-4", "198.51.100.0/24", FAR4), ("-6", "2001:db8:99::/64", FAR6)):
                sh("ip", "-n", self.a, fam, "route", "add", net, "dev", "va")
                sh("ip", "-n", self.a, fam, "neigh", "add", far, "lladdr", FAR_MAC, "dev", "va", "nud", "permanent")
            self.mac_a = json.loads(sh("ip", "-n", self.a, "-j", "link", "show", "va"))[0]["address"]
            self.mac_b = json.loads(sh("ip", "-n", self.b, "-j", "link", "show", "vb"))[0]["address"]
        except BaseException:
            self.close()
            raise

    def in_a(self, *args, input=None) -> str:
        return sh("ip", "netns", "exec", self.a, *args, input=input)

    def send(self, frames) -> None:
        data = "".join(f.hex() + "\n" for f in frames)
        sh("ip", "netns", "exec", self.b, sys.executable, "-c", SENDER, input=data)
        time.sleep(0.2)

    def table(self) -> list[str]:
        return [x for x in self.in_a("cat", "/proc/net/nf_conntrack").splitlines() if x.strip()]

    def close(self) -> None:
        for n in self.made:
            subprocess.run(["ip", "netns", "del", n], capture_output=True, timeout=30)
        self.made = []


@pytest.fixture
def pair(request):
    before = host_globals()
    p = Pair(request.node.name[-12:].replace("[", "").replace("]", "").replace("_", ""))
    try:
        yield p
    finally:
        names = (p.a, p.b)
        p.close()
        assert not any(os.path.exists(f"/run/netns/{n}") for n in names)
        assert host_globals() == before, "the host's global conntrack settings changed"


def emitted(tmp_path, profile: str, opts: list, scenario: str | None = None):
    cap = tmp_path / f"{profile}.pcap"
    assert main(["synth", profile, "--out", str(cap), "--quiet", *opts]) == 0
    out = tmp_path / f"emit-{profile}-{scenario or 'top'}"
    argv = ["plan", str(cap), "--ram", "64M", "--emit", str(out), "--json"]
    if scenario:
        argv += ["--emit-scenario", scenario]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(argv) == 0
    return out, json.loads(buf.getvalue())


def frames(pair, proto: str, ports, six: bool = False):
    src, dst = (B6, FAR6) if six else (B4, FAR4)
    ip = ipv6 if six else ipv4
    out = []
    for sport, dport in ports:
        l4 = tcp(sport, dport, "S", seq=1000) if proto == "tcp" else udp(sport, dport, b"ctscope")
        out.append(eth(ip(src, dst, l4), src=pair.mac_b, dst=pair.mac_a))
    return out


def entries_with_port(lines, proto: str, port: int, fam: str) -> list[str]:
    return [x for x in lines if x.split()[0] == fam and f" {proto} " in x
            and (f"dport={port} " in x or f"sport={port} " in x)]


def check_exemption(pair, proto: str, port: int, other: int):
    """Packets to/from ``port`` leave no entry; packets to ``other`` do (v4 and v6)."""
    pair.send(frames(pair, proto, [(40001, port), (port, 40002), (40003, other)])
              + frames(pair, proto, [(40001, port), (port, 40002), (40003, other)], six=True))
    lines = pair.table()
    for fam in ("ipv4", "ipv6"):
        assert not entries_with_port(lines, proto, port, fam), lines
        assert entries_with_port(lines, proto, other, fam), (fam, lines)


def test_emitted_nft_notrack_exempts_exactly_its_port(tmp_path, pair):
    out, d = emitted(tmp_path, "http-no-keepalive", ["--rate", "50", "--duration", "40"])
    assert d["emitted"]["scenario"] == "notrack-ports"
    pair.in_a("nft", "-f", str(out / "notrack.nft"))
    check_exemption(pair, "tcp", 80, 8080)
    ruleset = pair.in_a("nft", "list", "ruleset")
    assert re.search(r"tcp dport 80 counter packets [1-9]", ruleset)


def test_emitted_iptables_notrack_exempts_exactly_its_port(tmp_path, pair):
    out, d = emitted(tmp_path, "dns-resolver", ["--rate", "100", "--duration", "30"])
    assert d["emitted"]["scenario"] == "notrack-ports"
    pair.in_a("iptables-restore", "--noflush", input=(out / "notrack-ipv4.rules").read_text())
    pair.in_a("ip6tables-restore", "--noflush", input=(out / "notrack-ipv6.rules").read_text())
    check_exemption(pair, "udp", 53, 5353)


def test_emitted_sysctls_apply_per_netns_and_globals_only_by_syntax(tmp_path, pair):
    out, d = emitted(tmp_path, "http-no-keepalive", ["--rate", "50", "--duration", "40"], "timeouts")
    per_netns = {}
    for line in (out / "sysctl.d/90-ctscope.conf").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = (x.strip() for x in line.partition("="))
            assert key.startswith("net.netfilter.") and value.isdigit()
            assert key.rsplit(".", 1)[1] not in GLOBAL
            per_netns[key] = value
    assert per_netns == {"net.netfilter.nf_conntrack_tcp_timeout_time_wait": "30"}
    pair.in_a("nft", "add", "table", "inet", "t")      # make the namespace use conntrack
    for key, value in per_netns.items():
        pair.in_a("sysctl", "-q", "-w", f"{key}={value}")
        assert pair.in_a("sysctl", "-n", key).strip() == value
    # the initial namespace still has the kernel default
    with open("/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_time_wait") as fh:
        assert fh.read().strip() == "120"

    size, _ = emitted(tmp_path, "http-no-keepalive", ["--rate", "50", "--duration", "40"], "size-table")
    want = next(s for s in d["scenarios"] if s["name"] == "size-table")["nf_conntrack_max"]
    lines = [x for x in (size / "sysctl.d/90-ctscope.conf").read_text().splitlines() if x and x[0] != "#"]
    assert lines == [f"net.netfilter.nf_conntrack_buckets = {want}", f"net.netfilter.nf_conntrack_max = {want}"]
    mod = [x for x in (size / "modprobe.d/ctscope.conf").read_text().splitlines() if x and x[0] != "#"]
    assert len(mod) == 1 and re.fullmatch(r"options nf_conntrack hashsize=(\d+)", mod[0])
    assert int(mod[0].rsplit("=", 1)[1]) == want
    cmd = [x for x in (size / "kernel-cmdline.txt").read_text().splitlines() if x and x[0] != "#"]
    assert cmd == [f"nf_conntrack.hashsize={want}"]
    load = [x for x in (size / "modules-load.d/ctscope.conf").read_text().splitlines() if x and x[0] != "#"]
    assert load == ["nf_conntrack"]
