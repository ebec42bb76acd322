"""The path model: which hooks a decoded packet passes (``route``), vectorised per batch.

Default model: the capture was taken on a forwarding Linux router that owns none of
the addresses seen.  Then, per packet that reaches PREROUTING (skip == 0):

IPv4 (net/ipv4/route.c: ip_route_input_rcu(), ip_route_input_mc(),
ip_mc_validate_source(), ip_route_input_slow(); net/ipv4/ip_forward.c: ip_forward()):

1. multicast or limited-broadcast source -> drop (martian source);
2. 255.255.255.255 (or 0.0.0.0 -> 0.0.0.0) -> local (brd_input), unless the source is
   loopback (fib_validate_source() fails -> martian);
3. 224.0.0.1 (all-hosts: every multicast-capable interface is in it) -> local;
   any other multicast destination -> drop (no group joined, no multicast routing);
4. zeronet source, zeronet or loopback destination, loopback source -> drop
   (route_localnet is off by default);
5. TTL <= 1 -> drop (ip_forward(): too_many_hops);
6. otherwise forwarded -- class E destinations (240.0.0.0/4) included: ip_route_input_slow()
   has no check for them, and the kernel forwards them [V: scenario
   path_class_e_destination_forwarded].

IPv6 (net/ipv6/ip6_input.c: ip6_mc_input(); net/ipv6/ip6_output.c: ip6_forward()):

1. ff02::1, ff02::2, ff05::2 (all-nodes, all-routers link/site: a forwarding router
   joins them) -> local;
2. other multicast -> drop;
3. link-local source or destination, unspecified source or destination -> drop
   (ip6_forward() refuses link-local/unspecified sources; a link-local destination is
   never forwarded);
4. hop limit <= 1 -> drop (ip6_forward(): ICMPV6_TIME_EXCEED);
5. otherwise forwarded.

The local groups are delivered whatever the TTL/hop limit.  IPv4 packets whose
options ip_rcv_options() rejects come with route = ROUTE_DROP preset by the decoder
(after PREROUTING, so conntrack saw them); that verdict is kept.

Host model: ``local_nets`` lists the host's own networks (127.0.0.0/8 and ::1 are
added: the host always owns them).  A local source means the
packet was sent by the host (LOCAL_OUT -> POSTROUTING, PF_LOCAL_SRC); a local
destination means local delivery (PF_LOCAL_DST).  Copies the capture marks as
outgoing (PF_EGRESS) whose source is not local are the second sighting of a forwarded
packet: skip = SKIP_EGRESS_COPY.
"""
from __future__ import annotations

import ipaddress

import numpy as np

from .record import (
    PF_EGRESS, PF_LOCAL_DST, PF_LOCAL_SRC, ROUTE_DROP, ROUTE_FORWARD, ROUTE_LOCAL_IN,
    ROUTE_LOCAL_OUT, SKIP_EGRESS_COPY,
)

U = np.uint64


# first-octet classes of IPv4 addresses
ZERO, LOOP, MCAST = 1, 2, 4
_CLS = np.zeros(256, dtype=np.uint8)
_CLS[0], _CLS[127], _CLS[224:240] = ZERO, LOOP, MCAST


def _in_net(hi, lo, net) -> np.ndarray:
    """Membership of (hi, lo) addresses of the family of ``net`` in ``net``."""
    bits = int(net.network_address)
    if net.version == 4:
        mask = (0xFFFFFFFF << (32 - net.prefixlen)) & 0xFFFFFFFF
        return (lo & U(mask)) == U(bits)
    m = ((1 << 128) - 1) ^ ((1 << (128 - net.prefixlen)) - 1)
    return ((hi & U(m >> 64)) == U(bits >> 64)) & ((lo & U(m & (2**64 - 1))) == U(bits & (2**64 - 1)))


def _local(batch, pre: str, nets) -> np.ndarray:
    hi, lo, l3 = batch[pre + "_hi"], batch[pre + "_lo"], batch["l3"]
    m = np.zeros(len(batch), dtype=bool)
    for net in nets:
        m |= (l3 == net.version) & _in_net(hi, lo, net)
    return m


def apply_path(batch: np.ndarray, local_nets=None) -> None:
    """Fill ``route`` (and PF_LOCAL_*, SKIP_EGRESS_COPY) in place.

    Rules are applied from the lowest priority to the highest, each overwriting the
    previous verdict, so the order below mirrors the kernel's order of checks reversed.
    """
    nets = [n if hasattr(n, "version") else ipaddress.ip_network(n, strict=False)
            for n in (local_nets or [])]
    if nets:    # a host always owns its loopback addresses (lo: 127.0.0.0/8, ::1)
        nets += [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]
    live = batch["skip"] == 0
    l3 = batch["l3"]
    preset_drop = batch["route"] == ROUTE_DROP       # decoder: IPv4 options (decode.py)
    route = np.where(batch["ttl"] <= 1, ROUTE_DROP, ROUTE_FORWARD).astype(np.uint8)
    i4 = np.flatnonzero(live & (l3 == 4))
    i6 = np.flatnonzero(live & (l3 == 6))
    s4 = batch["src_lo"][i4].astype(np.uint32)
    d4 = batch["dst_lo"][i4].astype(np.uint32)
    cs, cd = _CLS[s4 >> 24], _CLS[d4 >> 24]
    # no class-E check: ip_route_input_slow() forwards 240.0.0.0/4 destinations when a
    # (default) route covers them -- verified on 6.18 (path_class_e_destination_forwarded)
    if nets:
        src_local = live & _local(batch, "src", nets)
        dst_local = live & _local(batch, "dst", nets)
        route[dst_local] = ROUTE_LOCAL_IN
    r4 = route[i4]
    # IPv4: ip_route_input_slow() martians, then multicast, broadcast, martian source
    r4[((cs | cd) & (ZERO | LOOP)) != 0] = ROUTE_DROP
    mc = (cd & MCAST) != 0
    r4[mc] = ROUTE_DROP
    r4[mc & (d4 == 0xE0000001) & ((cs & LOOP) == 0)] = ROUTE_LOCAL_IN
    brd = (d4 == 0xFFFFFFFF) | ((s4 == 0) & (d4 == 0))
    r4[brd] = np.where((cs[brd] & LOOP) != 0, ROUTE_DROP, ROUTE_LOCAL_IN)
    r4[((cs & MCAST) != 0) | (s4 == 0xFFFFFFFF)] = ROUTE_DROP
    route[i4] = r4
    # IPv6: ip6_forward() refusals, ip6_mc_input() groups
    sh, sl = batch["src_hi"][i6], batch["src_lo"][i6]
    dh, dl = batch["dst_hi"][i6], batch["dst_lo"][i6]
    r6 = route[i6]
    ll = U(0xFE80 >> 6)
    r6[((sh >> U(54)) == ll) | ((dh >> U(54)) == ll) | ((sh == U(0)) & (sl == U(0)))
       | ((dh == U(0)) & (dl == U(0)))] = ROUTE_DROP
    r6[(dh >> U(56)) == U(0xFF)] = ROUTE_DROP
    ff02, ff05 = U(0xFF02 << 48), U(0xFF05 << 48)
    r6[((dh == ff02) & ((dl == U(1)) | (dl == U(2)))) | ((dh == ff05) & (dl == U(2)))] = ROUTE_LOCAL_IN
    route[i6] = r6
    route[preset_drop] = ROUTE_DROP
    flags = batch["pflags"]
    if nets:
        route[src_local] = ROUTE_LOCAL_OUT
        flags[src_local] |= np.uint16(PF_LOCAL_SRC)
        flags[dst_local] |= np.uint16(PF_LOCAL_DST)
    else:
        src_local = np.zeros(len(batch), dtype=bool)
    batch["route"] = np.where(live, route, batch["route"])
    egress_copy = live & ((flags & PF_EGRESS) != 0) & ~src_local
    batch["skip"][egress_copy] = SKIP_EGRESS_COPY
