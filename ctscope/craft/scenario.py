"""``Scenario``: a named, timed list of frames plus the settings and rules to run it
under, and ``write_pcap()``/``read_pcap()`` (Ethernet linktype, ns timestamps).

A frame item is ``(t_seconds, side, frame_bytes)``; side is ``'c'`` (sent on the
client side of the firewall), ``'s'`` (server side) or ``None`` (decided by the
first frame of its flow).  A pcap cannot store the side.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

PCAP_MAGIC_NS = 0xA1B23C4D
LINKTYPE_ETHERNET = 1
_rec = struct.Struct("<IIII")


@dataclass
class Scenario:
    """Frames to replay and what to replay them under.

    ``settings``: sysctl name -> value for the firewall netns (``nf_conntrack_*``);
    ``rules_nft``: nft statements for the prerouting raw chain (one per line);
    ``rules_ipt4``/``rules_ipt6``: iptables-restore / ip6tables-restore input.
    """

    name: str
    frames: list = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    rules_nft: str | None = None
    rules_ipt4: str | None = None
    rules_ipt6: str | None = None
    base_time: int = 1_700_000_000          # pcap epoch seconds of t = 0

    def add(self, t: float, side: str | None, frame: bytes) -> "Scenario":
        self.frames.append((t, side, frame))
        return self

    def extend(self, items, t: float | None = None, dt: float = 0.0) -> "Scenario":
        """Append ``(side, frame)`` pairs starting at ``t`` (default: after the last
        frame, or 0), ``dt`` seconds apart."""
        if t is None:
            t = self.frames[-1][0] + dt if self.frames else 0.0
        for side, frame in items:
            self.frames.append((t, side, frame))
            t += dt
        return self

    @property
    def duration(self) -> float:
        return self.frames[-1][0] - self.frames[0][0] if self.frames else 0.0

    def __len__(self) -> int:
        return len(self.frames)

    def __iter__(self):
        return iter(self.frames)


def write_pcap(scenario: Scenario, path: str, snaplen: int = 262144) -> int:
    """Write the frames as a nanosecond pcap; returns the number of frames written."""
    base = scenario.base_time * 1_000_000_000
    chunks = [struct.pack("<IHHiIII", PCAP_MAGIC_NS, 2, 4, 0, 0, snaplen, LINKTYPE_ETHERNET)]
    pack = _rec.pack
    for t, _side, frame in scenario.frames:
        ns = base + round(t * 1e9)
        n = len(frame)
        cap = min(n, snaplen)
        chunks.append(pack(ns // 1_000_000_000, ns % 1_000_000_000, cap, n))
        chunks.append(frame if cap == n else frame[:cap])
    with open(path, "wb") as f:
        f.write(b"".join(chunks))
    return len(scenario.frames)


def read_pcap(path: str) -> list[tuple[int, bytes]]:
    """Read a classic pcap (µs or ns, either byte order) -> [(ts_ns, frame)].
    A small reader for tests; the product's capture reader lives elsewhere."""
    with open(path, "rb") as f:
        buf = f.read()
    magic = struct.unpack_from("<I", buf)[0]
    order, scale = {0xA1B2C3D4: ("<", 1000), 0xA1B23C4D: ("<", 1),
                    0xD4C3B2A1: (">", 1000), 0x4D3CB2A1: (">", 1)}[magic]
    rec = struct.Struct(order + "IIII")
    out, i = [], 24
    while i + 16 <= len(buf):
        sec, frac, cap, _n = rec.unpack_from(buf, i)
        out.append((sec * 1_000_000_000 + frac * scale, buf[i + 16:i + 16 + cap]))
        i += 16 + cap
    return out
