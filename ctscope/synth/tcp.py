"""TCP session builders: full connections, failed connection attempts, SYN scans.

Connections are seen from a capture point next to the client: a reply arrives one
RTT after the packet that caused it.  Sequence and acknowledgement numbers follow
the bytes actually sent, windows are scaled (wscale 7 both ways) and far larger than
the data in flight, so a kernel-style window tracker accepts every packet.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import headers as hd
from . import spec as sp
from .expand import expand, lognormal_ns, rows_for, seg_cumsum
from .spec import MS, US, S, TH_ACK, TH_FIN, TH_PSH, TH_RST, TH_SYN

CLOSE_CLIENT_FIN, CLOSE_SERVER_FIN, CLOSE_RST = 0, 1, 2
SYN_WIN = {4: 64240, 6: 64800}
SYNACK_WIN = {4: 65160, 6: 64800}
CLIENT_WIN, SERVER_WIN = 502, 509      # raw windows after the handshake (<< 7)
U32 = np.uint64(0xFFFFFFFF)


@dataclass
class TcpShape:
    """What the connections of a profile look like."""
    rounds_mean: float = 3.0        # request/response exchanges per connection (>= 1)
    resp_median: float = 6000.0     # response bytes, lognormal median ...
    resp_sigma: float = 1.2         # ... and shape
    resp_max: int = 2_000_000
    rst_share: float = 0.2          # connections closed by a client RST instead of FINs
    server_close: bool = False      # the server closes right after the last response (HTTP/1.0)
    rtt_median_ms: float = 20.0


def _u32(x) -> np.ndarray:
    return (np.asarray(x).astype(np.uint64) & U32).astype(np.uint32)


def connections(rng, s: np.ndarray, shape: TcpShape, think_ns: float) -> np.ndarray:
    """Complete connections: handshake, request/response rounds, FIN or RST close."""
    n = len(s)
    v6 = s["l3"] == 6
    mss = np.where(v6, hd.MSS[6], hd.MSS[4]).astype(np.int64)
    rtt = lognormal_ns(rng, n, shape.rtt_median_ms * MS, 0.8, 300 * US, 400 * MS)
    gap = rng.integers(20, 120, n) * US                    # spacing of back-to-back segments
    c0 = rng.integers(0, 1 << 32, n, dtype=np.int64)
    s0 = rng.integers(0, 1 << 32, n, dtype=np.int64)
    http = s["sport"] == 80
    rounds = 1 + rng.poisson(shape.rounds_mean - 1, n)
    if shape.server_close:
        close = np.full(n, CLOSE_SERVER_FIN)
    else:
        close = np.where(rng.random(n) < shape.rst_share, CLOSE_RST, CLOSE_CLIENT_FIN)

    # --- rounds -------------------------------------------------------------------
    ri, rnum = expand(rounds)
    nr = len(ri)
    req_app = np.where(http[ri], sp.APP_HTTP_REQ, sp.APP_TLS)
    resp_app = np.where(http[ri], sp.APP_HTTP_RESP, sp.APP_TLS)
    req_tail = np.where(http[ri], 0, rng.integers(100, 900, nr))
    q = np.where(http[ri], len(hd.HTTP_REQ), 5) + req_tail
    resp_min = np.where(http[ri], len(hd.HTTP_RESP) + 1, 6)
    b = np.clip(rng.lognormal(np.log(shape.resp_median), shape.resp_sigma, nr).astype(np.int64),
                resp_min, shape.resp_max)
    k = -(-b // mss[ri])
    Q = seg_cumsum(q, ri)
    B = seg_cumsum(b, ri)
    dur = rtt[ri] + (k - 1) * gap[ri] + 5 * US
    think = np.where(rnum == 0, 200 * US, rng.exponential(think_ns, nr).astype(np.int64) + 1 * US)
    hs_end = rtt + 30 * US
    T = hs_end[ri] + seg_cumsum(dur, ri) + seg_cumsum(think, ri) + think
    parts = [_handshake(s, rtt, c0, s0), _rounds(s, ri, rtt, gap, c0, s0, mss, q, b, k, Q, B, T,
                                                 req_app, resp_app, req_tail)]

    # --- close ----------------------------------------------------------------------
    last = np.cumsum(rounds) - 1
    end = T[last] + dur[last]
    cn = c0 + 1 + Q[last] + q[last]
    sn = s0 + 1 + B[last] + b[last]
    idle = rng.exponential(think_ns, n).astype(np.int64) + 50 * US
    parts.append(_close(s, close, end, idle, rtt, cn, sn))
    return np.concatenate(parts)


def _handshake(s, rtt, c0, s0):
    n = len(s)
    idx = np.repeat(np.arange(n), 3)
    step = np.tile([0, 1, 2], n)
    ts = np.where(step == 0, 0, rtt[idx] + np.where(step == 2, 30 * US, 0))
    r = rows_for(s, idx, (step == 1).astype(np.uint8), ts)
    v6 = r["l3"] == 6
    r["layout"] = np.where(step < 2, sp.LAYOUT_TCP_SYN, sp.LAYOUT_TCP)
    r["flags"] = np.select([step == 0, step == 1], [TH_SYN, TH_SYN | TH_ACK], TH_ACK)
    r["seq"] = _u32(np.select([step == 0, step == 1], [c0[idx], s0[idx]], c0[idx] + 1))
    r["ack"] = _u32(np.select([step == 0, step == 1], [0, c0[idx] + 1], s0[idx] + 1))
    r["win"] = np.select([step == 0, step == 1],
                         [np.where(v6, SYN_WIN[6], SYN_WIN[4]), np.where(v6, SYNACK_WIN[6], SYNACK_WIN[4])],
                         CLIENT_WIN)
    return r


def _rounds(s, ri, rtt, gap, c0, s0, mss, q, b, k, Q, B, T, req_app, resp_app, req_tail):
    per_round = 1 + k + (k + 1) // 2          # request, data segments, an ACK every 2 segments
    rix, j = expand(per_round)
    si = ri[rix]
    m = j - 1
    g, r3 = m // 3, m % 3
    kk = k[rix]
    is_req = j == 0
    is_data = ~is_req & (r3 < 2) & (2 * g + r3 < kk)
    is_ack = ~is_req & ~is_data
    seg = np.where(is_data, 2 * g + r3, np.minimum(2 * g + 1, kk - 1))   # segment sent / acked
    seg_mss = mss[si]
    bb = b[rix]
    cseq = c0[si] + 1 + Q[rix]
    sseq = s0[si] + 1 + B[rix]
    t_req = T[rix]
    t_seg = t_req + rtt[si] + seg * gap[si]
    ts = np.where(is_req, t_req, t_seg + np.where(is_ack, 5 * US, 0))
    out = rows_for(s, si, is_data.astype(np.uint8), ts)
    out["layout"] = sp.LAYOUT_TCP
    out["seq"] = _u32(np.where(is_req, cseq, np.where(is_data, sseq + seg * seg_mss, cseq + q[rix])))
    acked = np.minimum((seg + 1) * seg_mss, bb)
    out["ack"] = _u32(np.where(is_req, sseq, np.where(is_data, cseq + q[rix], sseq + acked)))
    last_seg = is_data & (seg == kk - 1)
    out["flags"] = TH_ACK | np.where(is_req | last_seg, TH_PSH, 0)
    out["win"] = np.where(is_data, SERVER_WIN, CLIENT_WIN)
    seg_len = np.minimum(seg_mss, bb - seg * seg_mss)
    first = is_data & (seg == 0)
    out["app"] = np.select([is_req, first], [req_app[rix], resp_app[rix]], sp.APP_NONE)
    resp_app_len = np.where(resp_app[rix] == sp.APP_HTTP_RESP, len(hd.HTTP_RESP), 5)
    out["tail"] = np.select([is_req, first, is_data], [req_tail[rix], seg_len - resp_app_len, seg_len], 0)
    return out


def _close(s, close, end, idle, rtt, cn, sn):
    n = len(s)
    count = np.where(close == CLOSE_RST, 1, 3)
    idx, step = expand(count)
    mode = close[idx]
    t = np.where(mode == CLOSE_SERVER_FIN, end[idx] + 20 * US, end[idx] + idle[idx])
    c, v = cn[idx], sn[idx]
    R = rtt[idx]
    # client FIN: c FIN/ACK, s FIN/ACK (+RTT), c ACK.  server FIN: s FIN/ACK, c FIN/ACK, s ACK.
    client_fin = mode == CLOSE_CLIENT_FIN
    server_fin = mode == CLOSE_SERVER_FIN
    direction = np.where(client_fin, step == 1, np.where(server_fin, step != 1, False))
    ts = t + np.select([step == 0, step == 1], [0, np.where(client_fin, R, 100 * US)],
                       np.where(client_fin, R + 30 * US, 100 * US + R))
    cases = [client_fin & (step == 0), client_fin & (step == 1), client_fin,
             server_fin & (step == 0), server_fin & (step == 1), server_fin]
    seq = np.select(cases, [c, v, c + 1, v, c, v + 1], c)
    ack = np.select(cases, [v, c + 1, v + 1, c, v + 1, c + 1], v)
    flags = np.where(mode == CLOSE_RST, TH_RST | TH_ACK, np.where(step < 2, TH_FIN | TH_ACK, TH_ACK))
    out = rows_for(s, idx, direction.astype(np.uint8), ts)
    out["layout"] = sp.LAYOUT_TCP
    out["seq"], out["ack"], out["flags"] = _u32(seq), _u32(ack), flags
    out["win"] = np.where(mode == CLOSE_RST, 0, np.where(direction, SERVER_WIN, CLIENT_WIN))
    return out


def failed(rng, s: np.ndarray, refused_share: float = 0.5) -> np.ndarray:
    """Refused (SYN, RST/ACK) or unanswered (SYN and 1-3 retransmits at 1 s, 3 s, 7 s)."""
    n = len(s)
    refused = rng.random(n) < refused_share
    count = np.where(refused, 2, 2 + rng.integers(0, 3, n))
    idx, step = expand(count)
    rtt = lognormal_ns(rng, n, 20 * MS, 0.8, 300 * US, 400 * MS)
    c0 = rng.integers(0, 1 << 32, n, dtype=np.int64)
    rst = refused[idx] & (step == 1)
    retx_at = np.array([0, 1, 3, 7], dtype=np.int64) * S
    ts = np.where(rst, rtt[idx], retx_at[np.minimum(step, 3)])
    out = rows_for(s, idx, rst.astype(np.uint8), ts)
    v6 = out["l3"] == 6
    out["layout"] = np.where(rst, sp.LAYOUT_TCP, sp.LAYOUT_TCP_SYN)
    out["flags"] = np.where(rst, TH_RST | TH_ACK, TH_SYN)
    out["seq"] = np.where(rst, 0, _u32(c0[idx]))
    out["ack"] = np.where(rst, _u32(c0[idx] + 1), 0)
    out["win"] = np.where(rst, 0, np.where(v6, SYN_WIN[6], SYN_WIN[4]))
    return out


PRIMES = np.array([7, 11, 13, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61], dtype=np.int64)


def scans(rng, s: np.ndarray, ports_min: int = 20, ports_max: int = 200) -> np.ndarray:
    """SYN scans: one SYN to each of many distinct ports of the server, no answers."""
    n = len(s)
    count = rng.integers(ports_min, ports_max + 1, n)
    idx, i = expand(count)
    interval = rng.integers(500, 5000, n) * US
    base = rng.integers(0, 65535, n)
    stride = PRIMES[rng.integers(0, len(PRIMES), n)]
    out = rows_for(s, idx, 0, i * interval[idx])
    out["dport"] = (base[idx] + i * stride[idx]) % 65535 + 1
    out["layout"] = sp.LAYOUT_TCP_MSS
    out["flags"] = TH_SYN
    out["seq"] = _u32(rng.integers(0, 1 << 32, len(idx), dtype=np.int64))
    out["win"] = 1024
    out["ttl"] = 40
    return out
