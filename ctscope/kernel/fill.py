"""Bulk mode for table-full experiments: fill the firewall's table fast.

``fill(harness, n, kind)`` sends, back to back and without per-frame verdicts,
``n`` complete TCP handshakes (``kind='assured'``: ESTABLISHED + ASSURED entries,
immune to early drop) or ``n`` lone SYNs (``'unassured'``: SYN_SENT entries that
early drop may evict).  The receive sockets keep only barrier packets (BPF), so
they cannot overflow.  ``slab()`` reads the ``nf_conntrack`` slab (read-only).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import struct

from ..craft.checksum import finish
from ..craft.l3 import addr_bytes, eth

FILL_SERVER = "198.19.0.1"
MSS = b"\x02\x04\x05\xb4"                      # MSS 1460
_ip = struct.Struct("!BBHHHBBH4s4s")
_tcp = struct.Struct("!HHIIBBHHH")
_ETH = eth(b"\x45")[:14]


def _tcp_frame(src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int, flags: int,
               win: int, opt: bytes = b"") -> bytes:
    """One IPv4/TCP frame without payload, checksums computed inline (the same bytes
    as ``eth(ipv4(..., tcp(...)))``, about three times faster: bulk fills build ~800k)."""
    n = 20 + len(opt)
    hdr = _tcp.pack(sport, dport, seq, ack, n << 2, flags, win, 0, 0) + opt
    c = finish((int.from_bytes(src + dst, "big") + 6 + n + int.from_bytes(hdr, "big")) % 0xFFFF)
    iph = _ip.pack(0x45, 0, 20 + n, 0, 0, 64, 6, 0, src, dst)
    ic = finish(int.from_bytes(iph, "big") % 0xFFFF)
    return _ETH + iph[:10] + ic.to_bytes(2, "big") + iph[12:] + hdr[:16] + c.to_bytes(2, "big") + hdr[18:]


def fill_client(i: int) -> tuple[str, int]:
    """Distinct client (address, port) of flow ``i``: 65,536 addresses x ports."""
    return f"198.18.{(i >> 8) & 255}.{i & 255}", 10000 + (i >> 16)


def handshake_frames(n: int, kind: str = "assured", server: str = FILL_SERVER, dport: int = 80,
                     first: int = 0) -> list[tuple[str, bytes]]:
    """``n`` flows' frames as (side, ethernet frame): SYN, SYN/ACK, ACK per flow
    ('assured') or SYN only ('unassured')."""
    if kind not in ("assured", "unassured"):
        raise ValueError("kind must be 'assured' or 'unassured'")
    out = []
    append = out.append
    full = kind == "assured"
    srv = addr_bytes(server)
    for i in range(first, first + n):
        cip, cport = fill_client(i)
        c = addr_bytes(cip)
        isn_c, isn_s = 1000 + i, 7_000_000 + i
        append(("c", _tcp_frame(c, srv, cport, dport, isn_c, 0, 0x02, 64240, MSS)))
        if full:
            append(("s", _tcp_frame(srv, c, dport, cport, isn_s, isn_c + 1, 0x12, 65160, MSS)))
            append(("c", _tcp_frame(c, srv, cport, dport, isn_c + 1, isn_s + 1, 0x10, 64240)))
    return out


def slab() -> dict:
    """The ``nf_conntrack`` line of /proc/slabinfo (read-only): objects and bytes."""
    try:
        with open("/proc/slabinfo") as f:
            for ln in f:
                if ln.startswith("nf_conntrack "):
                    t = ln.split()
                    # name active num objsize objperslab pagesperslab : tunables .. : slabdata act num shared
                    pages = int(t[5]) * int(t[-2])
                    return {"active_objs": int(t[1]), "num_objs": int(t[2]), "objsize": int(t[3]),
                            "bytes": pages * 4096}
    except (OSError, ValueError, IndexError):
        pass
    return {}


def wait_slab_settled(timeout: float = 10.0, step: float = 0.25) -> dict:
    """Wait (bounded) while the ``nf_conntrack`` slab is still shrinking: entries of
    namespaces deleted earlier are freed asynchronously, and a large table read while
    the host-wide hash changes can skip or repeat lines."""
    deadline = time.monotonic() + timeout
    last = slab()
    while time.monotonic() < deadline:
        time.sleep(step)
        now = slab()
        if not now or now.get("active_objs", 0) >= last.get("active_objs", 0):
            return now
        last = now
    return last


@dataclass
class FillResult:
    n: int
    kind: str
    frames: int
    build_seconds: float
    send_seconds: float
    count: int
    stats_delta: dict = field(default_factory=dict)
    slab_before: dict = field(default_factory=dict)
    slab_after: dict = field(default_factory=dict)
    capture_drops: int = 0

    @property
    def pps(self) -> float:
        return self.frames / self.send_seconds if self.send_seconds else 0.0


def fill(harness, n: int, kind: str = "assured", first: int = 0) -> FillResult:
    """Fill ``harness``'s firewall with ``n`` entries of ``kind`` (see module doc)."""
    t = time.monotonic()
    items = handshake_frames(n, kind, first=first)
    inj = harness.inj
    wire = [(inj.tx[s].send, inj.wire(s, f)) for s, f in items]
    del items
    build = time.monotonic() - t
    slab0 = wait_slab_settled() if n >= 50_000 else slab()
    inj.capture_only_barriers(True)
    try:
        inj.barrier()
        inj.capture_drops()
        st0 = harness.stats()
        t = time.monotonic()
        for send, frame in wire:
            send(frame)
        sent = time.monotonic() - t
        inj.barrier(timeout=30.0)
        drops = inj.capture_drops()
    finally:
        inj.capture_only_barriers(False)
    st1 = harness.stats()
    return FillResult(n, kind, len(wire), build, sent, harness.count(),
                      {k: st1[k] - st0[k] for k in st1}, slab0, slab(), drops)
