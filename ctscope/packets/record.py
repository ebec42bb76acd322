"""The decoded packet record: the one contract between packet input and the engine.

A capture is decoded into numpy structured arrays of ``PKT_DTYPE``, one record per
frame, in capture order ("batches").  Everything downstream -- the path model, the
raw-table rules, the numba-compiled engine -- reads these records and nothing else,
so the engine never touches bytes.

Field conventions
-----------------
* Addresses are 128-bit, split in two ``uint64`` words (``*_hi``, ``*_lo``), in
  network order (``hi`` holds bytes 0-7).  IPv4 addresses live in ``*_lo`` (the
  32-bit address value) with ``*_hi`` = 0; ``l3`` (4 or 6) says which.
* ``sport``/``dport`` hold the tuple's 16-bit L4 parts exactly as the kernel's
  ``nf_conntrack_tuple`` does: ports for TCP/UDP/UDP-Lite/SCTP, GRE keys (0 for v0),
  and for ICMP/ICMPv6 ``sport`` = identifier and ``dport`` = ``type << 8 | code``.
* ``ts`` is the capture timestamp in integer nanoseconds (clamped so that it never
  goes backwards -- the engine's clock).
* ``skip`` != 0 means the frame never reaches conntrack; the value is a ``SKIP_*``
  reason.  ``route`` is filled by the path model, ``rule_*`` by the raw table.
"""
from __future__ import annotations

import numpy as np

PKT_DTYPE = np.dtype(
    [
        ("n", np.int64),          # frame number in the capture, from 1
        ("ts", np.int64),         # ns, monotonic (clamped)
        ("iplen", np.uint32),     # IP datagram length (L3 header included); accounting bytes
        ("seq", np.uint32),       # TCP sequence number
        ("ack", np.uint32),       # TCP acknowledgement number
        ("datalen", np.uint32),   # TCP payload length (bytes after the TCP header)
        ("sack", np.uint32),      # TCP: highest SACK right edge (valid if PF_SACK set)
        ("vtag", np.uint32),      # SCTP verification tag
        ("chunks", np.uint32),    # SCTP: bitmap of chunk types present (1 << type, types < 32)
        ("src_hi", np.uint64), ("src_lo", np.uint64),
        ("dst_hi", np.uint64), ("dst_lo", np.uint64),
        # ICMP error: the quoted (inner) packet's tuple, as found in the payload
        ("in_src_hi", np.uint64), ("in_src_lo", np.uint64),
        ("in_dst_hi", np.uint64), ("in_dst_lo", np.uint64),
        ("sport", np.uint16),
        ("dport", np.uint16),
        ("in_sport", np.uint16),
        ("in_dport", np.uint16),
        ("win", np.uint16),       # TCP raw (unscaled) window
        ("ifindex", np.uint16),   # capture interface (pcapng IDB index / SLL2 ifindex), 0 = unknown
        ("zone", np.uint16),      # conntrack zone (set by the raw table)
        ("pflags", np.uint16),    # PF_* bits below
        ("l3", np.uint8),         # 4 or 6 (0 if not IP)
        ("proto", np.uint8),      # L4 protocol number (after IPv6 extension headers)
        ("tcpflags", np.uint8),   # TCP flag byte (FIN 0x01 SYN 0x02 RST 0x04 PSH 0x08 ACK 0x10 URG 0x20 ECE 0x40 CWR 0x80)
        ("wscale", np.int8),      # TCP window-scale option value, -1 = option absent
        ("ttl", np.uint8),        # IPv4 TTL / IPv6 hop limit
        ("in_proto", np.uint8),   # ICMP error: quoted packet's protocol
        ("skip", np.uint8),       # SKIP_* reason; 0 = reaches the hooks
        ("route", np.uint8),      # ROUTE_* (path model)
        ("rule", np.uint8),       # RULE_* verdict of the raw table
        ("sctp_first", np.uint8), # SCTP: type of the first chunk
        ("sctp_itag", np.uint32), # SCTP: initiate tag of an INIT / INIT_ACK chunk
        ("sctp_cflags", np.uint8),# SCTP: chunk flags of the first chunk (T bit of ABORT/SHUTDOWN_COMPLETE)
        # (added by packet input) TCP options conntrack does not use, kept for analysis
        ("mss", np.uint16),       # TCP MSS option value, 0 = option absent
        ("tsval", np.uint32),     # TCP timestamp option TSval (valid if PF_TCP_TS set)
        ("tsecr", np.uint32),     # TCP timestamp option TSecr (valid if PF_TCP_TS set)
    ]
)

# --- pflags ------------------------------------------------------------------
PF_L4_OK = 1 << 0          # the L4 header is complete (tracker can parse it)
PF_CSUM_BAD = 1 << 1       # L4 checksum verified and wrong
PF_CSUM_UNCHECKED = 1 << 2 # frame cut by the snaplen: checksum could not be verified
PF_SACK_PERM = 1 << 3      # TCP SACK-permitted option present
PF_SACK = 1 << 4           # TCP SACK blocks present (``sack`` holds the highest right edge)
PF_EGRESS = 1 << 5         # the capture says this copy was outgoing (SLL OUTGOING / epb_flags)
PF_REASSEMBLED = 1 << 6    # datagram reassembled from fragments
PF_INNER_OK = 1 << 7       # ICMP error: the quoted packet yielded a tuple
PF_L4_MALFORMED = 1 << 8   # L4 header present but inconsistent (UDP length field, TCP data offset ...)
PF_FIRST_FRAG = 1 << 9     # (internal to defrag) first fragment
PF_LOCAL_SRC = 1 << 10     # path model: source is a local address (host model)
PF_LOCAL_DST = 1 << 11     # path model: destination is a local address (host model)
PF_ICMP_TRUNC = 1 << 12    # ICMP error whose quoted packet is too short for a tuple
PF_TCP_TS = 1 << 13        # TCP timestamp option present (``tsval``/``tsecr``)
PF_TCP_OPTS = 1 << 14      # TCP header longer than 20 bytes (tcp_options() parses it)

# --- skip reasons: the frame never reaches conntrack ---------------------------
SKIP_NONE = 0
SKIP_NOT_IP = 1
SKIP_BAD_IP_CSUM = 2
SKIP_BAD_IP_LEN = 3
SKIP_BAD_IP6_ADDR = 4
SKIP_FRAG_HELD = 5
SKIP_EGRESS_COPY = 6
SKIP_RAW_DROP = 7
SKIP_TRUNCATED = 8
SKIP_FRAG_FAILED = 9
SKIP_BAD_IP4_ADDR = 10
SKIP_OTHERHOST = 11        # link layer says PACKET_OTHERHOST: ip_rcv_core() drops it
SKIP_LOOPBACK = 12         # incoming copy on the loopback device: the ct was attached at LOCAL_OUT

SKIP_REASONS = {
    SKIP_NOT_IP: "not IP",
    SKIP_BAD_IP_CSUM: "bad IPv4 header checksum",
    SKIP_BAD_IP_LEN: "bad IP header or length",
    SKIP_BAD_IP6_ADDR: "IPv6 source/destination rejected by ip6_rcv_core",
    SKIP_FRAG_HELD: "fragment held for reassembly",
    SKIP_EGRESS_COPY: "egress copy of a forwarded packet",
    SKIP_RAW_DROP: "dropped by a raw-table rule",
    SKIP_TRUNCATED: "frame truncated before the IP header ends",
    SKIP_FRAG_FAILED: "fragment dropped by reassembly",
    SKIP_BAD_IP4_ADDR: "IPv4 source/destination rejected by ip_rcv_core",
    SKIP_OTHERHOST: "frame for another host (PACKET_OTHERHOST)",
    SKIP_LOOPBACK: "loopback re-entry (conntrack already attached at LOCAL_OUT)",
}

# --- route (path model) -------------------------------------------------------
ROUTE_FORWARD = 0      # PREROUTING -> FORWARD -> POSTROUTING (confirm)
ROUTE_LOCAL_IN = 1     # PREROUTING -> LOCAL_IN (confirm)
ROUTE_DROP = 2         # PREROUTING, then dropped by routing: never confirmed
ROUTE_LOCAL_OUT = 3    # host model: LOCAL_OUT -> POSTROUTING (confirm); no checksum check

ROUTE_NAMES = {ROUTE_FORWARD: "forwarded", ROUTE_LOCAL_IN: "local",
               ROUTE_DROP: "routing_drop", ROUTE_LOCAL_OUT: "local_out"}

# --- raw-table verdict --------------------------------------------------------
RULE_NONE = 0          # no rule said anything: conntrack as usual
RULE_NOTRACK = 1       # packet UNTRACKED
RULE_DROP = 2          # dropped in the raw table (never reaches conntrack)

# --- TCP flag bits ------------------------------------------------------------
TH_FIN, TH_SYN, TH_RST, TH_PSH, TH_ACK, TH_URG, TH_ECE, TH_CWR = 1, 2, 4, 8, 16, 32, 64, 128

# --- protocol numbers ---------------------------------------------------------
IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_GRE = 1, 6, 17, 47
IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_UDPLITE = 58, 132, 136


def empty_batch(n: int) -> np.ndarray:
    """A zeroed batch of ``n`` records (``wscale`` = -1: no option)."""
    b = np.zeros(n, dtype=PKT_DTYPE)
    b["wscale"] = -1
    return b
