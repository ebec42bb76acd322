"""Reading a capture for ``ctscope verify``: classic pcap or pcapng, optionally gzip,
Ethernet only (the harness injects Ethernet frames)."""
from __future__ import annotations

import gzip
import struct

from ..errors import InputError


def _pcap(buf: bytes, path: str) -> list:
    magic = struct.unpack_from("<I", buf)[0]
    table = {0xA1B2C3D4: ("<", 1000), 0xA1B23C4D: ("<", 1), 0xD4C3B2A1: (">", 1000), 0x4D3CB2A1: (">", 1)}
    order, scale = table[magic]
    if len(buf) < 24:
        raise InputError("truncated pcap header", path)
    lt = struct.unpack_from(order + "I", buf, 20)[0] & 0xFFFF
    if lt != 1:
        raise InputError(f"link type {lt} is not Ethernet: the kernel harness injects Ethernet frames", path)
    rec, out, i = struct.Struct(order + "IIII"), [], 24
    while i + 16 <= len(buf):
        sec, frac, cap, _n = rec.unpack_from(buf, i)
        if i + 16 + cap > len(buf):
            raise InputError("file ends inside a record (truncated capture)", f"{path}: byte {i}")
        out.append((sec * 1_000_000_000 + frac * scale, buf[i + 16:i + 16 + cap]))
        i += 16 + cap
    return out


def _pcapng(buf: bytes, path: str) -> list:
    out, i, e, ifs = [], 0, "<", []
    while i + 12 <= len(buf):
        if buf[i:i + 4] == b"\x0a\x0d\x0d\x0a":
            e = "<" if buf[i + 8:i + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            ifs = []
        btype, blen = struct.unpack_from(e + "II", buf, i)
        if blen < 12 or i + blen > len(buf):
            raise InputError(f"bad block length {blen}", f"{path}: byte {i}")
        body = buf[i + 8:i + blen - 4]
        if btype == 1:
            lt = struct.unpack_from(e + "H", body)[0]
            res, o = 6, 8
            while o + 4 <= len(body):
                code, ln = struct.unpack_from(e + "HH", body, o)
                if code == 0:
                    break
                if code == 9:
                    res = body[o + 4]
                o += 4 + ((ln + 3) & ~3)
            if lt != 1:
                raise InputError(f"interface link type {lt} is not Ethernet", f"{path}: byte {i}")
            ifs.append(2 ** -(res & 0x7F) if res & 0x80 else 10.0 ** -res)
        elif btype == 6:
            iface, hi, lo, cap = struct.unpack_from(e + "IIII", body)
            if iface >= len(ifs):
                raise InputError("packet names an undefined interface", f"{path}: byte {i}")
            out.append((int(((hi << 32) | lo) * ifs[iface] * 1e9), body[20:20 + cap]))
        i += blen
    return out


def read_frames(path: str) -> list:
    """-> [(t seconds from the first frame, None, Ethernet frame)]."""
    try:
        with open(path, "rb") as f:
            buf = f.read()
    except OSError as exc:
        raise InputError(f"cannot open capture: {exc.strerror}", path) from None
    if buf[:2] == b"\x1f\x8b":
        buf = gzip.decompress(buf)
    if len(buf) < 4:
        raise InputError("not a capture (too short)", path)
    if buf[:4] == b"\x0a\x0d\x0d\x0a":
        recs = _pcapng(buf, path)
    elif struct.unpack_from("<I", buf)[0] in (0xA1B2C3D4, 0xA1B23C4D, 0xD4C3B2A1, 0x4D3CB2A1):
        recs = _pcap(buf, path)
    else:
        raise InputError(f"not a pcap or pcapng file (magic {buf[:4].hex(' ')})", path)
    if not recs:
        raise InputError("the capture holds no frames", path)
    t0 = recs[0][0]
    return [((ts - t0) / 1e9, None, fr) for ts, fr in recs]
