"""The notrack / zone interplay against the real kernel, in a throw-away network
namespace: locally generated UDP datagrams to 127.0.0.1 traverse the raw OUTPUT
chains (nft and iptables), and /proc/net/nf_conntrack shows whether each one was
tracked and in which zone.  The model must predict the same for every port."""
from __future__ import annotations

import os
import re
import subprocess

import pytest

from ctscope.packets.record import ROUTE_LOCAL_OUT, RULE_NOTRACK, empty_batch
from ctscope.rules import load_rules

NFT = """table ip t {
    chain early {
        type filter hook output priority raw - 50; policy accept;
        udp dport 7104 ct zone set 3
    }
    chain raw {
        type filter hook output priority raw; policy accept;
        udp dport 7100 notrack
        udp dport 7100 ct zone set 5
        udp dport 7101 ct zone set 5
        udp dport 7101 notrack
        udp dport 7105 ct zone set 3
        udp dport 7105 ct zone set 4
        udp dport 7106 meta mark set 0x10
        meta mark 0x10 notrack
    }
}
"""
IPT = """*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A OUTPUT -p udp -m udp --dport 7102 -j CT --zone 6
-A OUTPUT -p udp -m udp --dport 7102 -j NOTRACK
-A OUTPUT -p udp -m udp --dport 7103 -j NOTRACK
-A OUTPUT -p udp -m udp --dport 7103 -j CT --zone 6
-A OUTPUT -p udp -m udp --dport 7104 -j CT --zone 6
-A OUTPUT -p udp -m udp --dport 7107 -j CT --notrack
COMMIT
"""
PORTS = list(range(7100, 7109))

SEND = """
import socket, time
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for p in %r:
    c.sendto(b"x", ("127.0.0.1", p))
time.sleep(0.2)
""" % (PORTS,)


@pytest.mark.kernel
def test_notrack_zone_order_matches_kernel(tmp_path):
    (tmp_path / "t.nft").write_text(NFT)
    (tmp_path / "t.rules").write_text(IPT)
    ns = f"ctsc-rules-{os.getpid()}-kernel"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        run = lambda *a, **kw: subprocess.run(["ip", "netns", "exec", ns, *a], check=True,
                                              capture_output=True, text=True, **kw)
        run("ip", "link", "set", "lo", "up")
        run("nft", "-f", str(tmp_path / "t.nft"))
        run("iptables-restore", "--noflush", input=IPT)
        run("python3", "-c", SEND)
        table = run("cat", "/proc/net/nf_conntrack").stdout
    finally:
        subprocess.run(["ip", "netns", "delete", ns], check=True)
    kernel = {}
    for line in table.splitlines():
        m = re.search(r"\budp\b.*?dport=(\d+)", line)
        if m and int(m.group(1)) in PORTS:
            z = re.search(r"zone=(\d+)", line)
            kernel[int(m.group(1))] = int(z.group(1)) if z else 0
    rs = load_rules([str(tmp_path / "t.nft"), str(tmp_path / "t.rules")])
    b = empty_batch(len(PORTS))
    b["l3"], b["proto"], b["route"] = 4, 17, ROUTE_LOCAL_OUT
    b["src_lo"] = b["dst_lo"] = 0x7F000001
    b["dport"] = PORTS
    rs.apply(b, {1: "lo"})
    model = {p: int(z) for p, r, z in zip(PORTS, b["rule"], b["zone"]) if r != RULE_NOTRACK}
    assert model == kernel
    # the cases the comparison covers
    assert kernel == {7100: 5, 7101: 5, 7102: 6, 7104: 3, 7105: 3, 7108: 0}
