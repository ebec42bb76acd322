"""What a kernel run returns: ``FrameVerdict`` per frame and ``KernelResult``, plus
the helpers that explain frames which could not be scored."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..craft.checksum import inet_checksum


@dataclass
class FrameVerdict:
    """What happened to one injected frame."""

    i: int
    side: str
    t_sched: float          # the scenario's time, relative to its first frame (s)
    t_sent_ns: int          # actual send time, ns after the run's first send
    fate: str = "dropped"   # forwarded | local | dropped
    ctinfo: str = "unscorable"
    reason: str = ""
    out_side: str | None = None
    entry: dict | None = None   # step mode: the frame's entry right after it (ctnetlink GET)
    count: int | None = None    # step mode: nf_conntrack_count right after it

    @property
    def t_sent(self) -> float:
        return self.t_sent_ns / 1e9


@dataclass
class KernelResult:
    frames: list = field(default_factory=list)
    table: list = field(default_factory=list)          # /proc entries
    table_netlink: list = field(default_factory=list)  # ctnetlink dump
    table_problems: list = field(default_factory=list)
    count: int = 0
    stats_before: dict = field(default_factory=dict)
    stats_after: dict = field(default_factory=dict)
    stats_delta: dict = field(default_factory=dict)
    capture_drops: int = 0
    unmatched_out: int = 0
    inject_seconds: float = 0.0
    start_monotonic_ns: int = 0
    t_read_ns: int = 0      # when the final table/count read began, ns after the first send
    sysctls: dict = field(default_factory=dict)
    kernel: str = ""

    def ctinfos(self) -> list[str]:
        return [f.ctinfo for f in self.frames]

    def fates(self) -> list[str]:
        return [f.fate for f in self.frames]

    def codes(self):
        """(ctinfo, fate) as uint8 arrays in the engine's codes (``engine.layout``):
        unscorable -> CT_NOT_SEEN; a conntrack drop -> CT_DROPPED/FATE_CONNTRACK_DROP;
        the TTL <= 1 routing drop -> FATE_ROUTING_DROP; other losses -> FATE_NONE."""
        import numpy as np

        from ..engine import layout as L
        by_name = {v: k for k, v in L.CTINFO_NAMES.items()}
        ct = np.full(len(self.frames), L.CT_NOT_SEEN, dtype=np.uint8)
        fate = np.zeros(len(self.frames), dtype=np.uint8)
        for i, f in enumerate(self.frames):
            if f.ctinfo in by_name:
                ct[i] = by_name[f.ctinfo]
            if f.fate == "forwarded":
                fate[i] = L.FATE_FORWARDED
            elif f.fate == "local":
                fate[i] = L.FATE_LOCAL
            elif f.reason.startswith("dropped by conntrack"):
                ct[i], fate[i] = L.CT_DROPPED, L.FATE_CONNTRACK_DROP
            elif f.reason.startswith("TTL"):
                fate[i] = L.FATE_ROUTING_DROP
        return ct, fate

    def sent_ns(self, base_ns: int = 0):
        """Actual injection times as int64 ns from ``base_ns`` (feed these to a model)."""
        import numpy as np
        return np.array([base_ns + f.t_sent_ns for f in self.frames], dtype=np.int64)

    def entries(self, **match) -> list[dict]:
        """Entries whose original tuple has all the given fields (src=, dport= ...)."""
        return [e for e in self.table if all(e["orig"].get(k) == v for k, v in match.items())]


def frag_key(l3: bytes) -> tuple | None:
    """Identity of the datagram an IP fragment belongs to (None if not a fragment).
    IPv6 keys leave the identification out: the firewall picks a new one when it
    re-fragments."""
    v = l3[0] >> 4 if l3 else 0
    if v == 4 and len(l3) >= 20:
        if (l3[6] << 8 | l3[7]) & 0x3FFF:
            return (4, l3[12:20], l3[9], l3[4:6])
        return None
    if v == 6 and len(l3) >= 40:
        nh, off = l3[6], 40
        for _ in range(8):
            if nh == 44:
                return (6, l3[8:40])
            if nh not in (0, 43, 60) or off + 2 > len(l3):
                return None
            nh, off = l3[off], off + (l3[off + 1] + 1) * 8
    return None


def frag_span(l3: bytes) -> tuple[int, int, bool] | None:
    """(offset, payload length, more fragments) of an IPv4/IPv6 fragment, else None."""
    v = l3[0] >> 4 if l3 else 0
    if v == 4 and len(l3) >= 20:
        fl = l3[6] << 8 | l3[7]
        if not fl & 0x3FFF:
            return None
        return (fl & 0x1FFF) * 8, (l3[2] << 8 | l3[3]) - (l3[0] & 15) * 4, bool(fl & 0x2000)
    if v == 6 and len(l3) >= 40:
        nh, off = l3[6], 40
        for _ in range(8):
            if nh == 44 and off + 8 <= len(l3):
                fo = l3[off + 2] << 8 | l3[off + 3]
                return fo & 0xFFF8, 40 + (l3[4] << 8 | l3[5]) - off - 8, bool(fo & 1)
            if nh not in (0, 43, 60) or off + 2 > len(l3):
                return None
            nh, off = l3[off], off + (l3[off + 1] + 1) * 8
    return None


def fragment_groups(peeks) -> dict:
    """frag_key -> deque of the frame indices of each datagram the firewall can
    reassemble, in completion order (= the order their fragments leave it).  A key
    can be reused (IP ID wrap, or IPv6 where the key has no ID): a new datagram
    starts once the previous one is complete.  Overlapping fragments kill a queue
    (inet_frag_queue_insert(): IPFRAG_OVERLAP; exact duplicates are ignored), atomic
    IPv6 fragments are matched like whole packets, incomplete datagrams never leave."""
    from collections import defaultdict, deque
    done: dict = defaultdict(deque)
    open_: dict = {}
    for i, p in enumerate(peeks):
        span = frag_span(p.l3) if p.fragment else None
        if span is None or (span[0] == 0 and not span[2]):
            continue
        fk = frag_key(p.l3)
        q = open_.setdefault(fk, {"idx": [], "spans": set(), "end": None})
        off, n, more = span
        if (off, n) in q["spans"]:
            q["idx"].append(i)
            continue
        if any(off < o + m and o < off + n for o, m in q["spans"]):
            del open_[fk]                           # the kernel drops the whole queue
            continue
        q["idx"].append(i)
        q["spans"].add((off, n))
        if not more:
            q["end"] = off + n
        covered = sum(m for _o, m in q["spans"])
        if q["end"] is not None and covered == q["end"] and any(o == 0 for o, _m in q["spans"]):
            done[fk].append(q["idx"])
            del open_[fk]
    return done


def strip_atomic_fragment(l3: bytes) -> bytes | None:
    """An IPv6 atomic fragment (fragment header with offset 0 and M=0) as the firewall
    forwards it: conntrack's defragmentation (nf_ct_frag6_gather() ->
    nf_ct_frag6_reasm()) removes the fragment header.  None for anything else."""
    if len(l3) < 48 or l3[0] >> 4 != 6:
        return None
    prev, nh, off = 6, l3[6], 40
    for _ in range(8):
        if nh == 44:
            if off + 8 > len(l3) or (l3[off + 2] << 8 | l3[off + 3]) & 0xFFF9:
                return None
            out = bytearray(l3[:off] + l3[off + 8:])
            out[prev] = l3[off]
            plen = (l3[4] << 8 | l3[5]) - 8
            out[4:6] = plen.to_bytes(2, "big")
            return bytes(out)
        if nh not in (0, 43, 60) or off + 2 > len(l3):
            return None
        prev, nh, off = off, l3[off], off + (l3[off + 1] + 1) * 8
    return None


def icmp_code(p) -> int:
    """ICMP code of a non-error ICMP frame (part of the tuple for a ctnetlink GET)."""
    if p.proto not in (1, 58) or p.inner is not None:
        return 0
    off = (p.l3[0] & 15) * 4 if p.version == 4 else 40
    if p.version == 6 and p.l3[6] != 58:
        return 0            # extension headers in between: codes other than 0 are rare
    return p.l3[off + 1] if len(p.l3) > off + 1 else 0


# ff02::1, ff02::2, ff05::2: delivered locally by a forwarding router whatever the hop limit
LOCAL_GROUPS6 = (bytes.fromhex("ff02" + "0" * 26 + "01"), bytes.fromhex("ff02" + "0" * 26 + "02"),
                 bytes.fromhex("ff05" + "0" * 26 + "02"))


def unmatched_reason(p, frame: bytes) -> str:
    if p.version == 0:
        return "not an IPv4/IPv6 frame"
    if p.fragment:
        return "IP fragment whose datagram never left the firewall (incomplete or dropped)"
    if p.version == 4 and inet_checksum(p.l3[:(p.l3[0] & 15) * 4]) != 0:
        return "bad IPv4 header checksum: dropped by ip_rcv before conntrack"
    if p.version == 6 and p.ttl <= 1 and p.dst in LOCAL_GROUPS6:
        return ("hop limit <= 1 to a group the firewall joins: delivered and confirmed locally, but "
                "the verdict copy is lost (nf_dup_ipv6 decrements the hop limit to 0)")
    if p.ttl <= 1:
        return ("TTL/hop limit <= 1: conntrack saw it in PREROUTING but forwarding dropped it "
                "before confirmation (no verdict mark)")
    return "never left the firewall: dropped (conntrack drop, see stats 'drop', or routing/IP checks)"
