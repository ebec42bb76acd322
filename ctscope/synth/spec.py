"""The packet *spec* table: what the generator decides before any byte is built.

Session builders (``sessions.py``) emit rows of ``SPEC_DTYPE``; ``frames.py`` turns
them into wire bytes.  One row is one frame.  Conventions follow
``ctscope.packets.record``: addresses are two ``uint64`` words (IPv4 in ``*_lo``),
``ts`` is integer nanoseconds.

* ``layout`` says which L4 header (and TCP options) the frame has, ``app`` which
  fixed application bytes follow it; ``tail`` is the number of filler bytes after
  those (taken from a deterministic byte pool, see ``frames.py``).
* ICMP echo: ``sport`` = identifier, ``dport`` = sequence number.
* ICMP error (port unreachable): ``sport``/``dport`` are the quoted UDP packet's
  ports; the quoted packet went from ``dst`` to ``src``.
"""
from __future__ import annotations

import numpy as np

SPEC_DTYPE = np.dtype(
    [
        ("ts", np.int64),
        ("sid", np.int64),        # session id (for tests and debugging)
        ("src_hi", np.uint64), ("src_lo", np.uint64),
        ("dst_hi", np.uint64), ("dst_lo", np.uint64),
        ("seq", np.uint32), ("ack", np.uint32),
        ("name", np.uint32),      # DNS: key of the query name
        ("sport", np.uint16), ("dport", np.uint16),
        ("win", np.uint16),
        ("tail", np.uint16),      # pool bytes after the fixed part
        ("dns_id", np.uint16),
        ("l3", np.uint8),         # 4 or 6
        ("layout", np.uint8),     # LAYOUT_*
        ("app", np.uint8),        # APP_*
        ("flags", np.uint8),      # TCP flags
        ("icmp_type", np.uint8), ("icmp_code", np.uint8),
        ("dir", np.uint8),        # 0: from the session's originator, 1: reply
        ("ttl", np.uint8),
    ]
)

# --- layouts: L4 header shape -------------------------------------------------
LAYOUT_TCP = 0          # TCP, no options
LAYOUT_TCP_SYN = 1      # TCP + MSS, NOP, NOP, SACK-permitted, NOP, window scale (12 B)
LAYOUT_TCP_MSS = 2      # TCP + MSS only (4 B): scanners
LAYOUT_UDP = 3
LAYOUT_ICMP_ECHO = 4
LAYOUT_ICMP_UNREACH = 5  # destination/port unreachable quoting a UDP header

# --- application bytes -----------------------------------------------------------
APP_NONE = 0
APP_HTTP_REQ = 1        # a complete HTTP/1.1 GET request
APP_HTTP_RESP = 2       # HTTP/1.1 200 status line and headers (body from the pool)
APP_TLS = 3             # TLS application-data record header (record from the pool)
APP_DNS_Q = 4           # DNS query (A for IPv4 sessions, AAAA for IPv6)
APP_DNS_R = 5           # DNS response with one answer

TH_FIN, TH_SYN, TH_RST, TH_PSH, TH_ACK = 1, 2, 4, 8, 16

US = 1_000
MS = 1_000_000
S = 1_000_000_000


def spec(n: int) -> np.ndarray:
    rows = np.zeros(n, dtype=SPEC_DTYPE)
    rows["ttl"] = 64
    return rows
