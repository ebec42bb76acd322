"""AF_PACKET injection and capture on the injector side of the topology.

Frames for side ``'c'`` are written on ``c1`` (towards the firewall's ``c0``),
frames for ``'s'`` on ``s1``; their MAC addresses are rewritten so the firewall
accepts them (a wrong destination MAC makes them PACKET_OTHERHOST: silently dropped
before PREROUTING).  The receive sockets see what the firewall sends back out.
``barrier()`` sends a notracked sentinel through both sides and waits for both:
after it, everything injected before has been processed by the firewall.
"""
from __future__ import annotations

import ctypes
import select
import socket
import struct
import time

from ..craft.l3 import eth, ipv4, mac_bytes
from ..craft.l4 import udp
from . import nsutil
from .netns import MAC
from .ruleset import BARRIER_PORT, BARRIER_SRC

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_STATISTICS = 6
PACKET_IGNORE_OUTGOING = 23
SO_ATTACH_FILTER, SO_DETACH_FILTER, SO_RCVBUFFORCE, SO_SNDBUFFORCE = 26, 27, 33, 32
MAGIC = b"CTSC-BARRIER"
SIDES = ("c", "s")


def norm_key(l3: bytes) -> bytes | None:
    """The bytes of an IP packet without what the firewall changes on the way:
    TTL/hop limit, DSCP (our verdict mark), the IPv4 DF bit (``dup`` sets it), the
    header checksum and IPv4 options (record-route/timestamp get filled in); cut to
    the length the header states (drops Ethernet padding)."""
    if not l3:
        return None
    v = l3[0] >> 4
    if v == 4 and len(l3) >= 20:
        n = l3[2] << 8 | l3[3]
        hl = (l3[0] & 15) * 4
        return bytes((l3[0], l3[1] & 3)) + l3[2:6] + bytes((l3[6] & 0xBF,)) + l3[7:8] + l3[9:10] \
            + l3[12:20] + l3[hl:n]
    if v == 6 and len(l3) >= 40:
        n = 40 + (l3[4] << 8 | l3[5])
        return bytes((l3[0] & 0xF0, l3[1] & 0x3F)) + l3[2:7] + l3[8:n]
    return None


def match_key(l3: bytes, forwarded: bool = False) -> bytes | None:
    """``norm_key`` plus the TTL/hop limit the copy leaving the firewall carries: an
    injected packet (``forwarded=True``) leaves with its TTL - 1 (ip_forward(),
    ip6_forward(), and nf_dup for local delivery all decrement it), so packets that
    differ only in their TTL are not mistaken for one another."""
    key = norm_key(l3)
    if key is None:
        return None
    ttl = l3[8] if l3[0] >> 4 == 4 else l3[7]
    return key + bytes(((ttl - 1) & 0xFF if forwarded else ttl,))


def _bpf_only_barrier() -> bytes:
    """Classic BPF: accept IPv4 frames from a barrier source address, drop the rest."""
    ips = [struct.unpack("!I", socket.inet_aton(a))[0] for a in BARRIER_SRC]
    prog = [(0x28, 0, 0, 12), (0x15, 0, 4, 0x0800), (0x20, 0, 0, 26),
            (0x15, 1, 0, ips[0]), (0x15, 0, 1, ips[1]), (0x06, 0, 0, 0xFFFF), (0x06, 0, 0, 0)]
    return b"".join(struct.pack("HBBI", *ins) for ins in prog)


class Injector:
    """Send and capture on the injector netns (sockets are opened inside it)."""

    def __init__(self, inj_netns: str):
        self.tx, self.rx = {}, {}
        with nsutil.entered(inj_netns):
            for side in SIDES:
                dev = f"{side}1"
                t = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
                t.bind((dev, 0))
                t.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, 8 << 20)
                r = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
                r.bind((dev, ETH_P_ALL))
                r.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
                r.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 64 << 20)
                r.setblocking(False)
                self.tx[side], self.rx[side] = t, r
        self.eth = {s: mac_bytes(MAC[f"{s}0"]) + mac_bytes(MAC[f"{s}1"]) for s in SIDES}
        self._bseq = 0
        self._filter_buf = None

    def close(self) -> None:
        for s in list(self.tx.values()) + list(self.rx.values()):
            s.close()
        self.tx, self.rx = {}, {}

    def wire(self, side: str, frame: bytes) -> bytes:
        """``frame`` with the MACs of ``side`` (injector -> firewall)."""
        return self.eth[side] + frame[12:]

    def send(self, side: str, wire_frame: bytes) -> None:
        self.tx[side].send(wire_frame)

    def drain(self, limit: int = 1 << 20) -> list[tuple[str, bytes]]:
        """Everything captured so far: [(side it came out on, L3 bytes)]."""
        got = []
        for side, r in self.rx.items():
            for _ in range(limit):
                try:
                    fr = r.recv(65535)
                except BlockingIOError:
                    break
                if fr[12:14] in (b"\x08\x00", b"\x86\xdd"):
                    got.append((side, fr[14:]))
        return got

    def capture_drops(self) -> int:
        """Frames the receive sockets dropped since the last call (0 = complete)."""
        return sum(struct.unpack("II", r.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))[1]
                   for r in self.rx.values())

    def capture_only_barriers(self, on: bool) -> None:
        """Bulk mode: let the receive sockets keep only barrier packets (BPF)."""
        for r in self.rx.values():
            if on:
                prog = _bpf_only_barrier()
                self._filter_buf = ctypes.create_string_buffer(prog)
                fprog = struct.pack("HL", len(prog) // 8, ctypes.addressof(self._filter_buf))
                r.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
            else:
                try:
                    r.setsockopt(socket.SOL_SOCKET, SO_DETACH_FILTER, 0)
                except OSError:
                    pass
        self.drain()

    def _barrier_frame(self, side: str) -> tuple[bytes, bytes]:
        self._bseq += 1
        src, dst = BARRIER_SRC if side == "c" else BARRIER_SRC[::-1]
        l3 = ipv4(src, dst, udp(BARRIER_PORT, BARRIER_PORT, MAGIC + struct.pack("!Q", self._bseq)))
        return norm_key(l3), self.wire(side, eth(l3))

    def barrier(self, timeout: float = 3.0) -> list[tuple[str, bytes]]:
        """Send a sentinel on each side; wait until both came through the firewall.
        Returns the other frames captured meanwhile."""
        got = [x for x in self.drain() if MAGIC not in x[1][:64]]
        want = set()
        for side in SIDES:
            key, frame = self._barrier_frame(side)
            want.add(key)
            self.send(side, frame)
        deadline = time.monotonic() + timeout
        while want:
            for side, l3 in self.drain():
                if MAGIC in l3[:64]:
                    want.discard(norm_key(l3))
                else:
                    got.append((side, l3))
            if want:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("barrier packets did not come back: topology broken?")
                select.select(list(self.rx.values()), [], [], min(left, 0.02))
        return got
