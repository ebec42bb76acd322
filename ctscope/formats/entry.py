"""``Entry``: a plain Python view of one conntrack table line, shared by every format.

Addresses are kept in their canonical compressed text form (``ipaddress`` ``str()``);
each writer prints them the way its tool does (``/proc`` uncompressed IPv6, conntrack
compressed).  Fields a format does not carry are ``None`` (numbers) or ``False``
(flags).  ``normalize(entry, fmt)`` gives the entry as a format can represent it, so
``parse(write(e, fmt)) == normalize(e, fmt)`` holds for every format.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, fields, replace

L3_NAMES = {2: "ipv4", 10: "ipv6"}
L3_NUMS = {v: k for k, v in L3_NAMES.items()}
L4_NAMES = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6", 132: "sctp", 47: "gre",
            136: "udplite", 33: "dccp"}
L4_NUMS = {v: k for k, v in L4_NAMES.items()}
PORT_PROTOS = frozenset({"tcp", "udp", "udplite", "sctp", "dccp"})
ICMP_PROTOS = frozenset({"icmp", "icmpv6"})
STATEFUL_PROTOS = frozenset({"tcp", "sctp", "dccp"})
EVENTS = ("NEW", "UPDATE", "DESTROY")
FORMATS = ("proc", "conntrack", "extended", "events", "xml", "jsonl")


def l4_name(num: int) -> str:
    """Name the kernel prints for an L4 protocol number (generic ones are 'unknown')."""
    return L4_NAMES.get(num, "unknown")


@dataclass
class Tuple:
    """One direction of a connection: addresses plus the L4 part of the protocol."""

    src: str
    dst: str
    sport: int | None = None      # TCP/UDP/UDPLITE/SCTP/DCCP
    dport: int | None = None
    type: int | None = None       # ICMP/ICMPv6
    code: int | None = None
    id: int | None = None
    srckey: int | None = None     # GRE
    dstkey: int | None = None


@dataclass
class Entry:
    """One conntrack entry as the table formats show it."""

    orig: Tuple
    reply: Tuple
    l3: str = "ipv4"
    l3num: int = 2
    l4: str = "tcp"
    l4num: int = 6
    timeout: int | None = None          # remaining seconds; None when not shown (offload)
    state: str | None = None            # TCP/SCTP/DCCP state name
    gre_timeout: int | None = None      # /proc GRE private part
    gre_stream_timeout: int | None = None
    zone_orig: int | None = None
    zone_reply: int | None = None
    zone: int | None = None
    orig_packets: int | None = None
    orig_bytes: int | None = None
    reply_packets: int | None = None
    reply_bytes: int | None = None
    unreplied: bool = False
    assured: bool = False
    offload: bool = False
    hw_offload: bool = False
    mark: int | None = None
    secmark: int | None = None
    secctx: str | None = None
    delta_time: int | None = None
    helper: str | None = None
    use: int | None = None
    id: int | None = None
    event: str | None = None            # NEW / UPDATE / DESTROY for conntrack -E lines
    event_usec: int | None = None       # -o timestamp prefix, microseconds since the epoch
    userspace: str | None = None        # '[USERSPACE] ...' tail of events caused by a tool

    def key(self) -> tuple:
        """Identity of the entry in a table: l3, l4, ORIGINAL tuple and zones."""
        o = self.orig
        return (self.l3num, self.l4num, o.src, o.dst, o.sport, o.dport, o.type, o.code,
                o.id, o.srckey, o.dstkey, self.zone or 0, self.zone_orig, self.zone_reply)

    def to_dict(self) -> dict:
        """JSON-ready dict without the fields that are None/False."""
        out: dict = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Tuple):
                value = {k.name: getattr(value, k.name) for k in fields(value)
                         if getattr(value, k.name) is not None}
            if value is None or value is False:
                continue
            out[f.name] = value
        return out


def canonical_address(text: str) -> str:
    """'0000:...:0001' -> '::1'; raises ValueError for anything that is not an address."""
    return str(ipaddress.ip_address(text))


def exploded(addr: str) -> str:
    """The /proc spelling: IPv6 with 8 groups of 4 hex digits, IPv4 unchanged."""
    if ":" in addr:
        return ipaddress.IPv6Address(addr).exploded
    return addr


def normalize(entry: Entry, fmt: str) -> Entry:
    """``entry`` as format ``fmt`` can carry it (what a write/read round trip returns)."""
    e = replace(entry, orig=replace(entry.orig), reply=replace(entry.reply))
    if fmt not in ("events", "jsonl"):
        e.event_usec = e.userspace = None
        if fmt != "xml":
            e.event = None
    if fmt == "events":
        e.event = e.event or "NEW"
    if fmt in ("conntrack", "extended", "events", "xml"):
        e.gre_timeout = e.gre_stream_timeout = None
        if not e.zone:
            e.zone = None
    if fmt == "proc":
        e.id = None
        e.helper = None
    if fmt == "xml":
        # conntrack-tools prints no ICMP type/code/id and no offload flags in XML
        for t in (e.orig, e.reply):
            t.type = t.code = t.id = None
        e.offload = e.hw_offload = False
        if e.orig_packets is None or e.orig_bytes is None:
            e.orig_packets = e.orig_bytes = e.reply_packets = e.reply_bytes = None
        else:  # counters of both directions are printed when the ORIGINAL ones exist
            e.reply_packets = e.reply_packets or 0
            e.reply_bytes = e.reply_bytes or 0
    if fmt != "jsonl" and fmt != "xml":
        # the flags are printed as one of [HW_OFFLOAD] / [OFFLOAD] / [ASSURED]
        if e.hw_offload:
            e.offload = e.assured = False
        elif e.offload:
            e.assured = False
    return e
