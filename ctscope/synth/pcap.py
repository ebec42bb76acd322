"""Spec rows -> pcap bytes, a chunk of frames at a time.

Per chunk: a byte buffer is filled with the filler pool (so every tail is already in
place), then each frame group's headers are built as a structured array, checksummed
and scattered to their records' offsets.  Classic pcap, Ethernet linktype, ns
(magic a1b23c4d) or us (a1b2c3d4) timestamps.
"""
from __future__ import annotations

import struct
from typing import BinaryIO, Callable

import numpy as np

from . import checksum as ck
from . import headers as hd

CHUNK = 1 << 16
LINKTYPE_ETHERNET = 1
SNAPLEN = 262144


def file_header(ns: bool = True) -> bytes:
    magic = 0xA1B23C4D if ns else 0xA1B2C3D4
    return struct.pack("<IHHiIII", magic, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET)


def _key(rows: np.ndarray) -> np.ndarray:
    return (rows["l3"] == 6).astype(np.int64) * 64 + rows["layout"].astype(np.int64) * 8 + rows["app"]


def _layout_of(key: int) -> hd.Layout:
    return hd.layout(6 if key >= 64 else 4, (key % 64) // 8, key % 8)


def fixed_lengths(rows: np.ndarray) -> np.ndarray:
    key = _key(rows)
    table = np.zeros(128, dtype=np.int64)
    for k in np.unique(key):
        table[k] = _layout_of(int(k)).fixed
    return table[key]


def frame_lengths(rows: np.ndarray) -> np.ndarray:
    return fixed_lengths(rows) + rows["tail"]


def _checksums(lay: hd.Layout, h: np.ndarray, rows: np.ndarray, rec_pos: np.ndarray,
               pool: ck.Pool) -> None:
    n = len(h)
    hb = h.view(np.uint8).reshape(n, lay.size)
    base = 16
    if lay.l3 == 4:
        h["ipsum"] = ck.finish(ck.byte_words(hb[:, base + 14:base + 34]))
    frame_len = h["caplen"].astype(np.int64)
    l4_len = (frame_len - lay.l4_off).astype(np.uint64)
    total = ck.byte_words(hb[:, base + lay.l4_off:])
    seg = rec_pos + base + lay.l4_off
    tail_at = rec_pos + lay.size
    total += pool.weighted(tail_at, tail_at + rows["tail"], seg)
    if lay.proto != 1:                                  # all but ICMPv4 have a pseudo-header
        if lay.l3 == 4:
            total += ck.words64(rows["src_lo"]) + ck.words64(rows["dst_lo"])
        else:
            total += sum(ck.words64(rows[f]) for f in ("src_hi", "src_lo", "dst_hi", "dst_lo"))
        total += np.uint64(lay.proto) + l4_len
    s = ck.finish(total)
    if lay.proto == 17:
        s[s == 0] = 0xFFFF
    h["l4sum"] = s


def render(rows: np.ndarray, file_pos: int, pool: ck.Pool, ns: bool = True) -> np.ndarray:
    """The pcap records of ``rows`` (in order), the first one at byte ``file_pos``."""
    key = _key(rows)
    frame_len = fixed_lengths(rows) + rows["tail"]
    rec_len = 16 + frame_len
    off = np.cumsum(rec_len) - rec_len
    out = np.empty(int(rec_len.sum()), dtype=np.uint8)
    pool.fill(out, file_pos)
    order = np.argsort(key, kind="stable")
    bounds = np.flatnonzero(np.diff(key[order])) + 1
    for grp in np.split(order, bounds):
        if not len(grp):
            continue
        lay = _layout_of(int(key[grp[0]]))
        g = rows[grp]
        h = hd.fill(lay, g, frame_len[grp], ns)
        _checksums(lay, h, g, file_pos + off[grp], pool)
        hb = h.view(np.uint8).reshape(len(grp), lay.size)
        starts = off[grp]
        for j in range(lay.size):
            out[starts + j] = hb[:, j]
    return out


def write(fh: BinaryIO, rows: np.ndarray, seed: int = 0, ns: bool = True,
          progress: Callable[[int, int], None] | None = None) -> int:
    """Write a whole capture; returns the number of bytes written."""
    pool = ck.Pool(seed)
    head = file_header(ns)
    fh.write(head)
    pos = len(head)
    for start in range(0, len(rows), CHUNK):
        buf = render(rows[start:start + CHUNK], pos, pool, ns)
        fh.write(memoryview(buf))
        pos += len(buf)
        if progress:
            progress(min(start + CHUNK, len(rows)), len(rows))
    return pos
