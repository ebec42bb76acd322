"""A minimal pcapng writer: one interface per firewall side, nanosecond timestamps.

The interface names are the firewall's input interfaces (``c0`` for frames sent on
the client side, ``s0`` for the server side), so ``iifname``/``-i`` rules see the
same names in the engine as in the kernel.
"""
from __future__ import annotations

import struct

IFNAMES = {"c": "c0", "s": "s0"}
_SIDE_INDEX = {"c": 0, "s": 1}
LINKTYPE_ETHERNET = 1


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def _block(btype: int, body: bytes) -> bytes:
    n = 12 + len(body)
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


def pcapng_bytes(frames, t_ns, sides) -> bytes:
    """``frames``: Ethernet frames; ``t_ns``: absolute ns timestamps; ``sides``: 'c'/'s'."""
    out = [_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))]
    for side in ("c", "s"):
        opts = _option(2, IFNAMES[side].encode()) + _option(9, bytes([9])) + _option(0, b"")
        out.append(_block(1, struct.pack("<HHI", LINKTYPE_ETHERNET, 0, 0) + opts))
    for frame, ts, side in zip(frames, t_ns, sides):
        ts = int(ts)
        body = struct.pack("<IIIII", _SIDE_INDEX[side], ts >> 32, ts & 0xFFFFFFFF, len(frame), len(frame))
        out.append(_block(6, body + frame + b"\0" * (-len(frame) % 4)))
    return b"".join(out)


def write_pcapng(path: str, frames, t_ns, sides) -> None:
    with open(path, "wb") as f:
        f.write(pcapng_bytes(frames, t_ns, sides))
