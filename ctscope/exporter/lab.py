"""Throw-away network namespaces with real conntrack traffic, for the exporter's
kernel tests and ``bench/exporter_load.py`` (needs root).

``Lab`` creates ``ctsc-exp-<pid>-<tag>`` (never any other name) holding::

    inj0 ===veth=== fw0 (02:00:0e:00:00:01)      lo (127.0.0.1, ::1)
    out0 ===veth=== sink0                         198.18/16, 198.19/16 -> out0

Frames written to ``inj0`` with AF_PACKET arrive on ``fw0``, are forwarded out of
``out0`` (to a permanent fake neighbour) and confirmed by conntrack (an nft table with
a ``ct state`` rule turns conntrack on); what comes back in on ``sink0`` is dropped
before conntrack (raw priority), so entries of any shape can be made quickly: ``handshakes`` uses
``ctscope.kernel.fill`` frames (262,144 ASSURED entries in a few seconds).
``open_sockets`` makes ordinary loopback traffic (TCP, UDP, ICMP) from a thread
inside the namespace.  Only per-namespace sysctls of the lab are written; the
namespace is deleted by ``close()``, ``with``, or at interpreter exit.
"""
from __future__ import annotations

import atexit
import ctypes
import os
import re
import socket
import subprocess
import threading
import time

PREFIX = "ctsc-exp-"
FW_MAC, INJ_MAC = "02:00:0e:00:00:01", "02:00:0e:00:00:02"
CLONE_NEWNET = 0x40000000
_NAME_RE = re.compile(r"^ctsc-exp-\d+-[A-Za-z0-9_-]+$")
NFT = """table inet ctsc_exp {
  chain raw_pre { type filter hook prerouting priority -300; policy accept; iifname "sink0" drop; }
  chain ct_forward { type filter hook forward priority 0; policy accept; ct state new counter; }
  chain ct_output { type filter hook output priority 0; policy accept; ct state new counter; }
}
"""
SYSCTLS = {"net.ipv4.ip_forward": 1, "net.ipv4.conf.all.rp_filter": 0,
           "net.ipv4.conf.default.rp_filter": 0,
           "net.ipv4.conf.all.send_redirects": 0, "net.ipv4.conf.default.send_redirects": 0,
           "net.ipv6.conf.default.disable_ipv6": 1,
           "net.netfilter.nf_conntrack_udp_timeout": 600,
           "net.netfilter.nf_conntrack_icmp_timeout": 600,
           "net.netfilter.nf_conntrack_tcp_timeout_time_wait": 600}
_live: set = set()


def _run(args: list[str], input: str | None = None) -> str:
    r = subprocess.run(args, input=input, capture_output=True, text=True, timeout=60)
    if r.returncode:
        raise RuntimeError(f"{' '.join(args[:7])}: {r.stderr.strip()}")
    return r.stdout


def in_netns(path: str, fn, *args):
    """Run ``fn(*args)`` in a fresh thread that joined the namespace at ``path``."""
    box: dict = {}

    def body():
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns failed")
                if os.stat("/proc/thread-self/ns/net").st_ino != os.fstat(fd).st_ino:
                    raise OSError(0, "setns did not switch")
            finally:
                os.close(fd)
            box["value"] = fn(*args)
        except BaseException as exc:        # re-raised in the caller
            box["error"] = exc

    t = threading.Thread(target=body, name="ctsc-exp-netns")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


class Lab:
    """One ``ctsc-exp-`` namespace; see the module docstring."""

    def __init__(self, tag: str = "lab"):
        self.name = f"{PREFIX}{os.getpid()}-{tag}"
        if not _NAME_RE.match(self.name):
            raise ValueError(f"bad lab name {self.name!r}")
        self.path = f"/run/netns/{self.name}"
        self.sockets: list[socket.socket] = []
        self.closed = False
        _live.add(self)
        _run(["ip", "netns", "add", self.name])
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _build(self) -> None:
        ns = ["ip", "netns", "exec", self.name]
        for key, value in SYSCTLS.items():
            _run(ns + ["sysctl", "-q", "-w", f"{key}={value}"])
        _run(["ip", "-n", self.name, "-batch", "-"], input="\n".join([
            "link set lo up",
            f"link add inj0 address {INJ_MAC} type veth peer name fw0 address {FW_MAC}",
            "link add out0 type veth peer name sink0",
            "link set inj0 up", "link set fw0 up", "link set out0 up", "link set sink0 up",
            f"neigh add 198.17.255.254 lladdr {INJ_MAC} dev out0 nud permanent",
            "route add 198.19.0.0/16 via 198.17.255.254 dev out0 onlink",
            "route add 198.18.0.0/16 via 198.17.255.254 dev out0 onlink"]) + "\n")
        _run(ns + ["sysctl", "-q", "-w", "net.ipv4.conf.fw0.rp_filter=0"])
        _run(ns + ["nft", "-f", "-"], input=NFT)

    # ------------------------------------------------------------ reading (independent oracles)
    def exec(self, args: list[str]) -> str:
        return _run(["ip", "netns", "exec", self.name, *args])

    def count(self) -> int:
        return int(self.exec(["cat", "/proc/sys/net/netfilter/nf_conntrack_count"]))

    def inode(self) -> int:
        return os.stat(self.path).st_ino

    # ------------------------------------------------------------ traffic
    def send_frames(self, frames) -> int:
        """Write ethernet frames (their MACs replaced) to inj0; returns how many."""
        head = bytes.fromhex(FW_MAC.replace(":", "")) + bytes.fromhex(INJ_MAC.replace(":", ""))

        def send():
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
            try:
                s.bind(("inj0", 0))
                n = 0
                for f in frames:
                    s.send(head + f[12:])
                    n += 1
                return n
            finally:
                s.close()
        return in_netns(self.path, send)

    def handshakes(self, n: int, kind: str = "assured", first: int = 0, chunk: int = 65536) -> int:
        """``n`` TCP flows (ctscope.kernel.fill frames): 'assured' or 'unassured'."""
        from ..kernel.fill import handshake_frames

        sent = 0
        for start in range(first, first + n, chunk):
            k = min(chunk, first + n - start)
            sent += self.send_frames(f for _side, f in handshake_frames(k, kind, first=start))
        return sent

    def wait_count(self, want: int, timeout: float = 30.0) -> int:
        """Wait (bounded) until the namespace counts ``want`` entries or stops changing."""
        deadline = time.monotonic() + timeout
        last, stable = -1, 0
        while time.monotonic() < deadline:
            c = self.count()
            if c == want:
                return c
            stable = stable + 1 if c == last else 0
            if stable >= 5:
                return c
            last = c
            time.sleep(0.1)
        return self.count()

    def open_sockets(self, tcp_open: int = 3, tcp_closed: int = 2, udp: int = 4, pings: int = 2) -> None:
        """Loopback traffic inside the namespace: ``tcp_open`` connections kept open,
        ``tcp_closed`` closed ones, ``udp`` datagrams to distinct unanswered ports
        (bound sockets: no ICMP error), ``pings`` ICMP echo requests to 127.0.0.1."""
        def work():
            keep = []
            srv = socket.socket()
            srv.bind(("127.0.0.1", 0))
            srv.listen(64)
            keep.append(srv)
            port = srv.getsockname()[1]
            for i in range(tcp_open + tcp_closed):
                c = socket.create_connection(("127.0.0.1", port), timeout=5)
                a, _ = srv.accept()
                if i < tcp_open:
                    keep += [c, a]
                else:
                    c.close()
                    a.close()
            for i in range(udp):
                r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                r.bind(("127.0.0.2", 0))
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.sendto(b"x", r.getsockname())
                keep += [r, s]
            if pings:
                raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
                for i in range(pings):
                    body = bytes([8, 0, 0, 0, 0x12, i, 0, 1]) + b"ctscope"
                    csum = _csum(body)
                    raw.sendto(body[:2] + csum.to_bytes(2, "big") + body[4:], ("127.0.0.1", 0))
                keep.append(raw)
            return keep
        self.sockets += in_netns(self.path, work)
        time.sleep(0.2)     # let the closing handshakes finish

    # ------------------------------------------------------------ teardown
    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for s in self.sockets:
            try:
                s.close()
            except OSError:
                pass
        self.sockets = []
        if _NAME_RE.match(self.name) and os.path.exists(self.path):
            subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=60)
        _live.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


@atexit.register
def _cleanup() -> None:
    for lab in list(_live):
        lab.close()
