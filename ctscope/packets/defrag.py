"""IPv4/IPv6 reassembly in front of conntrack (plain Python: fragments are rare).

Conntrack sees whole datagrams: the defrag hooks run at PREROUTING priority -400,
before conntrack (-200).  Each fragment's record stays ``SKIP_FRAG_HELD``; the record
of the fragment that completes a datagram is re-decoded from the reassembled bytes and
gets ``PF_REASSEMBLED``.  Fragments the kernel would throw away become
``SKIP_FRAG_FAILED``.

Kernel rules modelled (net/ipv4/ip_fragment.c: ip_frag_queue(), ip_frag_reasm();
net/ipv6/netfilter/nf_conntrack_reasm.c: nf_ct_frag6_queue(), nf_ct_frag6_reasm();
net/ipv4/inet_fragment.c: inet_frag_find(), inet_frag_queue_insert()):

* queue key: IPv4 (src, dst, id, protocol); IPv6 (src, dst, id);
* a queue lives ``timeout`` from its first fragment (ipfrag_time 30 s for IPv4,
  nf_conntrack_frag6_timeout 60 s for IPv6); when it expires its fragments are lost;
* memory: when the queued bytes exceed the high threshold (ipfrag_high_thresh and
  nf_conntrack_frag6_high_thresh, 4 MB) new fragments are dropped (inet_frag_find());
  the per-fragment cost is approximated as its length plus ``SKB_OVERHEAD``;
* a fragment inside an already queued run is a duplicate, dropped alone (IPFRAG_DUP);
  any other overlap kills the whole queue (IPFRAG_OVERLAP -> inet_frag_kill());
* a second "last" fragment with a different end, data past the last fragment's end,
  an empty fragment, a non-last fragment whose size is not a multiple of 8 (IPv6), or
  a datagram over 65535 bytes kill the queue.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

NS = 1_000_000_000
SKB_OVERHEAD = 512            # [U] rough skb truesize overhead per queued fragment
IPV4_TIMEOUT_S = 30           # net.ipv4.ipfrag_time default
IPV4_HIGH_THRESH = 4 * 1024 * 1024   # net.ipv4.ipfrag_high_thresh default

HELD, FAILED, DONE = 0, 1, 2


@dataclass
class _Queue:
    created: int
    first_hdr: bytes = b""       # IPv4 header / IPv6 unfragmentable part of fragment 0
    nh_pos: int = -1             # IPv6: position of the next-header byte naming the frag header
    nexthdr: int = 0             # IPv6: protocol after the fragment header
    total: int = 0               # datagram payload length once known
    last_in: bool = False
    pieces: dict = field(default_factory=dict)   # offset -> (end, bytes, complete_capture)
    runs: list = field(default_factory=list)     # [start, end] of inet_frag "runs"
    tail: int = -1                               # index in runs of the tail run
    starts: list = field(default_factory=list)   # run starts, sorted (bisect: O(log n) per fragment,
    sruns: list = field(default_factory=list)    # the runs in that order   as the kernel's rbtree)
    have: int = 0                                # payload bytes queued
    cost: int = 0
    records: list = field(default_factory=list)  # (batch id, record index)


class Defragmenter:
    """Holds fragment queues across batches.  ``add`` returns (status, datagram, cut)."""

    def __init__(self, frag6_timeout_s: int = 60, frag6_high_thresh: int = 4 * 1024 * 1024,
                 ipv4_timeout_s: int = IPV4_TIMEOUT_S, ipv4_high_thresh: int = IPV4_HIGH_THRESH):
        self.timeout = {4: ipv4_timeout_s * NS, 6: frag6_timeout_s * NS}
        self.high = {4: ipv4_high_thresh, 6: frag6_high_thresh}
        self.queues: dict[tuple, _Queue] = {}
        # the same queues per IP version, in creation order (timestamps never go back:
        # the readers clamp them), so expire() stops at the first live queue
        self._by_age: dict[int, dict[tuple, _Queue]] = {4: {}, 6: {}}
        self.mem = {4: 0, 6: 0}
        self.stats = {"reassembled": 0, "failed": 0, "expired": 0, "over_limit": 0}
        self.killed: list[tuple[int, int]] = []   # (batch id, record) of fragments lost with their queue

    @classmethod
    def from_settings(cls, settings=None) -> "Defragmenter":
        if settings is None:
            return cls()
        return cls(settings.get("nf_conntrack_frag6_timeout"), settings.get("nf_conntrack_frag6_high_thresh"))

    def _kill(self, key, q: _Queue, reason: str) -> None:
        self.queues.pop(key, None)
        self._by_age[key[0]].pop(key, None)
        self.mem[key[0]] -= q.cost
        self.stats[reason] += 1
        self.killed.extend(q.records)

    def expire(self, now: int) -> None:
        """Drop queues older than their timeout (the kernel's ip_expire()/nf_ct_frag6_expire())."""
        for ver, queues in self._by_age.items():
            limit = self.timeout[ver]
            dead = []
            for key, q in queues.items():     # oldest first: O(expired), not O(queues)
                if now - q.created <= limit:
                    break
                dead.append((key, q))
            for key, q in dead:
                self._kill(key, q, "expired")

    def add(self, ver: int, pkt: bytes, iplen: int, fhoff: int, ts: int, rec: tuple[int, int]):
        """One fragment: ``pkt`` = captured bytes of the IP datagram (may be cut short),
        ``iplen`` = its length on the wire, ``fhoff`` = IPv6 fragment-header offset."""
        self.expire(ts)
        if ver == 4:
            ihl = (pkt[0] & 15) * 4
            fo = int.from_bytes(pkt[6:8], "big")
            offset, more = (fo & 0x1FFF) * 8, bool(fo & 0x2000)
            key = (4, pkt[12:16], pkt[16:20], pkt[4:6], pkt[9])
            hstart = ihl
        else:
            fh = pkt[fhoff:fhoff + 8]
            fo = int.from_bytes(fh[2:4], "big")
            offset, more = fo & 0xFFF8, bool(fo & 1)
            key = (6, pkt[8:24], pkt[24:40], fh[4:8])
            hstart = fhoff + 8
        data = pkt[hstart:iplen]
        length = iplen - hstart
        end = offset + length
        complete = len(pkt) >= iplen
        q = self.queues.get(key)
        if q is None:
            if self.mem[ver] > self.high[ver]:
                self.stats["over_limit"] += 1
                return FAILED, None, False
            q = self.queues[key] = self._by_age[ver][key] = _Queue(created=ts)
        # size rules (ip_frag_queue() / nf_ct_frag6_queue())
        bad = length <= 0 or end > 65535
        if not more:
            if end < q.total or (q.last_in and end != q.total):
                bad = True
        else:
            if ver == 6 and length & 7:
                bad = True
            end &= ~7
            if q.last_in and end > q.total:
                bad = True
        if bad or end <= offset:
            self._kill(key, q, "failed")
            return FAILED, None, False
        verdict = _insert_run(q, offset, end)
        if verdict == "dup":                       # IPFRAG_DUP: drop just this one
            self.stats["failed"] += 1
            return FAILED, None, False
        if verdict == "overlap":                   # IPFRAG_OVERLAP: kill the queue
            self._kill(key, q, "failed")
            return FAILED, None, False
        if not more:
            q.last_in, q.total = True, end
        elif end > q.total:
            q.total = end
        q.pieces[offset] = (end, bytes(data[:end - offset]), complete)
        q.have += end - offset
        q.records.append(rec)
        cost = length + SKB_OVERHEAD
        q.cost += cost
        self.mem[ver] += cost
        if offset == 0:
            if ver == 4:
                q.first_hdr = bytes(pkt[:ihl])
            else:
                q.first_hdr, q.nh_pos, q.nexthdr = bytes(pkt[:fhoff]), _nh_pos(pkt, fhoff), pkt[fhoff]
        if not (q.last_in and 0 in q.pieces):
            return HELD, None, False
        if q.have != q.total:
            return HELD, None, False
        # too long with its header: ip_frag_reasm() / nf_ct_frag6_reasm() "out_oversize"
        if (len(q.first_hdr) if ver == 4 else len(q.first_hdr) - 40) + q.total > 65535:
            self._kill(key, q, "failed")
            return FAILED, None, False
        # complete: build the datagram
        self.queues.pop(key)
        self._by_age[ver].pop(key)
        self.mem[ver] -= q.cost
        payload = bytearray(q.total)
        cut = False
        for o, (e, b, comp) in q.pieces.items():
            payload[o:o + len(b)] = b
            cut |= not comp
        self.stats["reassembled"] += 1
        return DONE, _build(ver, q, bytes(payload)), cut

    def take_killed(self) -> list[tuple[int, int]]:
        out, self.killed = self.killed, []
        return out


def _insert_run(q: _Queue, offset: int, end: int) -> str:
    """inet_frag_queue_insert() (net/ipv4/inet_fragment.c): fragments appended right
    after the tail form a "run"; a fragment past the tail that starts inside it is an
    overlap; otherwise the run it falls into decides: inside it = duplicate, across
    its edge = overlap, in a gap = a new run of its own."""
    if q.tail < 0:
        _new_run(q, offset, end)
        q.tail = 0
        return "ok"
    tail = q.runs[q.tail]
    if end > tail[1]:
        if offset < tail[1]:
            return "overlap"
        if offset == tail[1]:
            tail[1] = end
        else:
            _new_run(q, offset, end)
            q.tail = len(q.runs) - 1
        return "ok"
    # runs never overlap and are sorted by start: only the last one starting before
    # ``end`` can intersect [offset, end) -- if none does, the earlier ones cannot either
    i = bisect.bisect_left(q.starts, end) - 1
    if i >= 0 and q.sruns[i][1] > offset:
        start, stop = q.sruns[i]
        return "dup" if start <= offset and end <= stop else "overlap"
    _new_run(q, offset, end)
    return "ok"


def _new_run(q: _Queue, offset: int, end: int) -> None:
    run = [offset, end]
    q.runs.append(run)
    i = bisect.bisect_left(q.starts, offset)
    q.starts.insert(i, offset)
    q.sruns.insert(i, run)


def _nh_pos(pkt: bytes, fhoff: int) -> int:
    """Offset of the next-header byte that names the fragment header."""
    pos, typ, p = 6, pkt[6], 40
    while p < fhoff:
        pos = p
        hl = (pkt[p + 1] + 2) * 4 if typ == 51 else (pkt[p + 1] + 1) * 8
        typ = pkt[p]
        p += hl
    return pos


def _build(ver: int, q: _Queue, payload: bytes) -> bytes:
    """ip_frag_reasm() / nf_ct_frag6_reasm(): header of fragment 0 with the total length,
    no MF/offset (IPv4, checksum redone) or without the fragment header (IPv6)."""
    from .checksum import internet_checksum
    h = bytearray(q.first_hdr)
    if ver == 4:
        h[2:4] = (len(h) + len(payload)).to_bytes(2, "big")
        h[6:8] = (int.from_bytes(h[6:8], "big") & 0x4000).to_bytes(2, "big")
        h[10:12] = b"\0\0"
        h[10:12] = internet_checksum(bytes(h)).to_bytes(2, "big")
    else:
        h[q.nh_pos] = q.nexthdr
        h[4:6] = (len(h) - 40 + len(payload)).to_bytes(2, "big")
    return bytes(h) + payload


def as_array(datagram: bytes) -> np.ndarray:
    return np.frombuffer(datagram, dtype=np.uint8)
