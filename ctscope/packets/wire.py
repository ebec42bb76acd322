"""Byte-level helpers shared by the numba decoders: big-endian loads, TCP sequence
comparison, pflags updates.  All ``@hot``."""
from __future__ import annotations

import numpy as np
from ..jit import hot_inline


@hot_inline
def be16(b, o):
    return (np.int64(b[o]) << 8) | np.int64(b[o + 1])


@hot_inline
def be32(b, o):
    return (np.int64(b[o]) << 24) | (np.int64(b[o + 1]) << 16) | (np.int64(b[o + 2]) << 8) | np.int64(b[o + 3])


@hot_inline
def be64(b, o):
    v = np.uint64(0)
    for k in range(8):
        v = (v << np.uint64(8)) | np.uint64(b[o + k])
    return v


@hot_inline
def _setflag(out, i, flag):
    out[i]["pflags"] = out[i]["pflags"] | flag


@hot_inline
def _clearflag(out, i, flag):
    out[i]["pflags"] = out[i]["pflags"] & ~np.uint16(flag)


@hot_inline
def _after(a, b):
    """TCP sequence comparison ``after(a, b)`` (include/net/tcp.h)."""
    d = (a - b) & 0xFFFFFFFF
    return d != 0 and d < 0x80000000


@hot_inline
def ext_hdr_len(buf, p, nh):
    """Length of the IPv6 extension header ``nh`` at ``p`` (ipv6_skip_exthdr()): fragment
    8, AH (hdrlen+2)*4, the others (hdrlen+1)*8."""
    if nh == 44:
        return 8
    if nh == 51:
        return (np.int64(buf[p + 1]) + 2) * 4
    return (np.int64(buf[p + 1]) + 1) * 8
