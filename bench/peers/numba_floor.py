"""The practical ceiling: a bare numba-compiled 5-tuple flow loop.

The capture is read in 64 MiB blocks; a compiled function walks the pcap records of a
block, decodes Ethernet/IPv4/IPv6/TCP/UDP and counts packets, bytes and first/last
timestamps per direction-independent 5-tuple in an open-addressing hash table of
numpy arrays.  No state machine, no timeouts: the least work a flow tracker can do.

Usage: ``python -m bench.peers.numba_floor FILE.pcap``; compiled code is cached on disk.
"""
from __future__ import annotations

import sys

import numba as nb
import numpy as np

BLOCK = 64 << 20
TABLE_FIELDS = ("a_hi", "a_lo", "b_hi", "b_lo")


def new_table(cap: int) -> dict:
    t = {f: np.zeros(cap, np.uint64) for f in TABLE_FIELDS}
    t["ports"] = np.zeros(cap, np.uint32)
    t["proto"] = np.zeros(cap, np.uint8)
    t["used"] = np.zeros(cap, np.uint8)
    for f in ("packets", "bytes", "first", "last"):
        t[f] = np.zeros(cap, np.int64)
    return t


@nb.njit(cache=True, inline="always")
def _be64(buf, i):
    v = np.uint64(0)
    for k in range(8):
        v = (v << np.uint64(8)) | np.uint64(buf[i + k])
    return v


@nb.njit(cache=True, inline="always")
def _be32(buf, i):
    return (np.uint64(buf[i]) << np.uint64(24)) | (np.uint64(buf[i + 1]) << np.uint64(16)) | \
           (np.uint64(buf[i + 2]) << np.uint64(8)) | np.uint64(buf[i + 3])


@nb.njit(cache=True)
def _slot(a_hi, a_lo, b_hi, b_lo, ports, proto, used, x0, x1, y0, y1, pp, pr):
    mask = len(used) - 1
    h = (x0 * np.uint64(0x9E3779B97F4A7C15)) ^ (x1 * np.uint64(0xC2B2AE3D27D4EB4F))
    h ^= (y0 * np.uint64(0x165667B19E3779F9)) ^ (y1 * np.uint64(0x27D4EB2F165667C5))
    h ^= np.uint64(pp) * np.uint64(0x9E3779B1) + np.uint64(pr)
    h ^= h >> np.uint64(29)
    i = np.int64(h & np.uint64(mask))
    while used[i]:
        if a_lo[i] == x1 and b_lo[i] == y1 and ports[i] == pp and a_hi[i] == x0 \
                and b_hi[i] == y0 and proto[i] == pr:
            return i, False
        i = (i + 1) & mask
    return i, True


@nb.njit(cache=True)
def scan(buf, n, ns, a_hi, a_lo, b_hi, b_lo, ports, proto, used, packets, nbytes, first, last,
         counts):
    """Process the complete records of buf[:n]; returns the bytes consumed.
    counts: [flows, packets, limit] -- stops early when flows reach the limit."""
    pos = 0
    while pos + 16 <= n:
        caplen = np.int64(buf[pos + 8]) | (np.int64(buf[pos + 9]) << 8) | \
            (np.int64(buf[pos + 10]) << 16) | (np.int64(buf[pos + 11]) << 24)
        if pos + 16 + caplen > n or counts[0] >= counts[2]:
            break
        sec = np.int64(buf[pos]) | (np.int64(buf[pos + 1]) << 8) | (np.int64(buf[pos + 2]) << 16) | \
            (np.int64(buf[pos + 3]) << 24)
        frac = np.int64(buf[pos + 4]) | (np.int64(buf[pos + 5]) << 8) | \
            (np.int64(buf[pos + 6]) << 16) | (np.int64(buf[pos + 7]) << 24)
        ts = sec * 1_000_000_000 + (frac if ns else frac * 1000)
        f = pos + 16
        pos = f + caplen
        counts[1] += 1
        if caplen < 34:
            continue
        et = (np.int64(buf[f + 12]) << 8) | buf[f + 13]
        x0 = x1 = y0 = y1 = np.uint64(0)
        if et == 0x0800:
            l4 = f + 14 + (buf[f + 14] & 15) * 4
            pr = buf[f + 23]
            x1 = _be32(buf, f + 26)
            y1 = _be32(buf, f + 30)
        elif et == 0x86DD and caplen >= 54:
            l4 = f + 54
            pr = buf[f + 20]
            x0, x1 = _be64(buf, f + 22), _be64(buf, f + 30)
            y0, y1 = _be64(buf, f + 38), _be64(buf, f + 46)
        else:
            continue
        sp = dp = np.uint32(0)
        if (pr == 6 or pr == 17) and l4 + 4 <= pos:
            sp = np.uint32((np.int64(buf[l4]) << 8) | buf[l4 + 1])
            dp = np.uint32((np.int64(buf[l4 + 2]) << 8) | buf[l4 + 3])
        swap = x0 > y0 or (x0 == y0 and (x1 > y1 or (x1 == y1 and sp > dp)))
        if swap:                                          # direction-independent key
            x0, x1, sp, y0, y1, dp = y0, y1, dp, x0, x1, sp
        pp = (sp << np.uint32(16)) | dp
        i, fresh = _slot(a_hi, a_lo, b_hi, b_lo, ports, proto, used, x0, x1, y0, y1, pp, pr)
        if fresh:
            used[i] = 1
            a_hi[i], a_lo[i], b_hi[i], b_lo[i], ports[i], proto[i] = x0, x1, y0, y1, pp, pr
            first[i] = ts
            counts[0] += 1
        packets[i] += 1
        nbytes[i] += caplen
        last[i] = ts
    return pos


@nb.njit(cache=True)
def _reinsert(src_used, s_a_hi, s_a_lo, s_b_hi, s_b_lo, s_ports, s_proto, s_vals,
              a_hi, a_lo, b_hi, b_lo, ports, proto, used, vals):
    for j in range(len(src_used)):
        if src_used[j]:
            i, _ = _slot(a_hi, a_lo, b_hi, b_lo, ports, proto, used, s_a_hi[j], s_a_lo[j],
                         s_b_hi[j], s_b_lo[j], s_ports[j], s_proto[j])
            used[i] = 1
            a_hi[i], a_lo[i], b_hi[i], b_lo[i] = s_a_hi[j], s_a_lo[j], s_b_hi[j], s_b_lo[j]
            ports[i], proto[i] = s_ports[j], s_proto[j]
            vals[:, i] = s_vals[:, j]


def grow(t: dict) -> dict:
    new = new_table(2 * len(t["used"]))
    vals_old = np.stack([t["packets"], t["bytes"], t["first"], t["last"]])
    vals_new = np.zeros((4, len(new["used"])), np.int64)
    _reinsert(t["used"], t["a_hi"], t["a_lo"], t["b_hi"], t["b_lo"], t["ports"], t["proto"], vals_old,
              new["a_hi"], new["a_lo"], new["b_hi"], new["b_lo"], new["ports"], new["proto"],
              new["used"], vals_new)
    for k, f in enumerate(("packets", "bytes", "first", "last")):
        new[f] = vals_new[k].copy()
    return new


def run(path: str) -> tuple[int, int]:
    t = new_table(1 << 16)
    counts = np.zeros(3, np.int64)
    buf = np.empty(BLOCK, np.uint8)
    with open(path, "rb") as fh:
        head = fh.read(24)
        magic = int.from_bytes(head[:4], "little")
        if magic not in (0xA1B2C3D4, 0xA1B23C4D):
            raise SystemExit(f"{path}: not a little-endian classic pcap")
        ns = magic == 0xA1B23C4D
        have = 0
        while True:
            got = fh.readinto(memoryview(buf)[have:])
            have += got
            if have == 0:
                break
            while True:
                counts[2] = len(t["used"]) // 2               # keep the load factor <= 1/2
                used = scan(buf, have, ns, t["a_hi"], t["a_lo"], t["b_hi"], t["b_lo"], t["ports"],
                            t["proto"], t["used"], t["packets"], t["bytes"], t["first"], t["last"],
                            counts)
                buf[:have - used] = buf[used:have]
                have -= used
                if counts[0] < counts[2]:
                    break
                t = grow(t)
            if got == 0:
                break
    return int(counts[0]), int(counts[1])


def main(argv: list[str]) -> int:
    flows, packets = run(argv[0])
    print(f"flows={flows} packets={packets}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
