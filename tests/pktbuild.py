"""Build decoded packet records (PKT_DTYPE) directly, for engine tests that do not
need bytes.  Addresses as text; the family follows the address."""
from __future__ import annotations

import ipaddress

import numpy as np

from ctscope.packets.record import PF_INNER_OK, PF_L4_OK, PKT_DTYPE, empty_batch

NS = 1_000_000_000
T0 = 1_700_000_000 * NS


def _split(addr: str) -> tuple[int, int, int]:
    a = ipaddress.ip_address(addr)
    v = int(a)
    if a.version == 4:
        return 4, 0, v
    return 6, v >> 64, v & ((1 << 64) - 1)


def pkt(t: float, src: str, dst: str, proto: int = 17, sport: int = 0, dport: int = 0, *,
        flags: int = 0, seq: int = 0, ack: int = 0, win: int = 65535, wscale: int = -1,
        datalen: int = 0, iplen: int = 60, ttl: int = 64, route: int = 0, zone: int = 0,
        itype: int | None = None, icode: int = 0, icmp_id: int = 0, inner=None, pflags: int = PF_L4_OK,
        rule: int = 0, skip: int = 0, n: int = 0) -> np.void:
    b = empty_batch(1)
    r = b[0]
    l3, hi, lo = _split(src)
    _, dhi, dlo = _split(dst)
    r["n"] = n
    r["ts"] = T0 + int(round(t * NS))
    r["l3"], r["src_hi"], r["src_lo"], r["dst_hi"], r["dst_lo"] = l3, hi, lo, dhi, dlo
    r["proto"] = proto
    if itype is not None:
        r["sport"], r["dport"] = icmp_id, (itype << 8) | icode
    else:
        r["sport"], r["dport"] = sport, dport
    r["tcpflags"], r["seq"], r["ack"], r["win"], r["wscale"] = flags, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, win, wscale
    r["datalen"] = datalen
    r["iplen"] = iplen
    r["ttl"] = ttl
    r["route"] = route
    r["zone"] = zone
    r["rule"] = rule
    r["skip"] = skip
    r["pflags"] = pflags
    if inner is not None:
        # inner = (src, dst, proto, sport, dport) of the quoted packet
        isrc, idst, iproto, isp, idp = inner
        _, ihi, ilo = _split(isrc)
        _, idhi, idlo = _split(idst)
        r["in_src_hi"], r["in_src_lo"], r["in_dst_hi"], r["in_dst_lo"] = ihi, ilo, idhi, idlo
        r["in_proto"], r["in_sport"], r["in_dport"] = iproto, isp, idp
        r["pflags"] = pflags | PF_INNER_OK
    return b[0]


def batch(*records) -> np.ndarray:
    out = np.zeros(len(records), PKT_DTYPE)
    for i, rec in enumerate(records):
        out[i] = rec
        if out[i]["n"] == 0:
            out[i]["n"] = i + 1
    return out
