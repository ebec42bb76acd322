"""The path model: which hooks a decoded packet passes (``route``), compiled per batch.

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

from ..jit import NO_JIT, hot
from .record import (
    PF_EGRESS, PF_LOCAL_DST, PF_LOCAL_SRC, ROUTE_DROP, ROUTE_FORWARD, ROUTE_LOCAL_IN,
    ROUTE_LOCAL_OUT, SKIP_EGRESS_COPY,
)

NET_DTYPE = np.dtype([("hi", np.uint64), ("lo", np.uint64), ("mhi", np.uint64), ("mlo", np.uint64),
                      ("l3", np.uint8)])
_HOST_OWN = ("127.0.0.0/8", "::1/128")   # a host always owns its loopback addresses


def _net_table(local_nets) -> np.ndarray:
    """The host's networks as (address, mask) rows; IPv4 in ``lo`` like the record."""
    nets = [n if hasattr(n, "version") else ipaddress.ip_network(n, strict=False)
            for n in (local_nets or [])]
    if nets:
        nets += [ipaddress.ip_network(n) for n in _HOST_OWN]
    out = np.zeros(len(nets), dtype=NET_DTYPE)
    for row, net in zip(out, nets):
        bits = int(net.network_address)
        if net.version == 4:
            mask = (0xFFFFFFFF << (32 - net.prefixlen)) & 0xFFFFFFFF
            row["lo"], row["mlo"], row["l3"] = bits, mask, 4
        else:
            mask = ((1 << 128) - 1) ^ ((1 << (128 - net.prefixlen)) - 1)
            row["hi"], row["lo"] = bits >> 64, bits & (2**64 - 1)
            row["mhi"], row["mlo"] = mask >> 64, mask & (2**64 - 1)
            row["l3"] = 6
    return out


@hot
def _is_local(nets, l3, hi, lo):
    for k in range(nets.shape[0]):
        n = nets[k]
        if n.l3 == l3 and (hi & n.mhi) == n.hi and (lo & n.mlo) == n.lo:
            return True
    return False


@hot
def _route4(s, d, ttl, dst_local):
    """IPv4 verdict (see the module docstring), the rule that wins first."""
    s8, d8 = s >> 24, d >> 24
    if s8 >= 224 and s8 < 240 or s == 0xFFFFFFFF:
        return ROUTE_DROP                                   # martian source
    if d == 0xFFFFFFFF or (s == 0 and d == 0):
        return ROUTE_DROP if s8 == 127 else ROUTE_LOCAL_IN  # limited broadcast
    if d8 >= 224 and d8 < 240:
        return ROUTE_LOCAL_IN if d == 0xE0000001 and s8 != 127 else ROUTE_DROP
    if s8 == 0 or d8 == 0 or s8 == 127 or d8 == 127:
        return ROUTE_DROP                                   # zeronet / loopback martians
    if dst_local:
        return ROUTE_LOCAL_IN                               # host model: delivered, any TTL
    return ROUTE_DROP if ttl <= 1 else ROUTE_FORWARD


@hot
def _route6(sh, sl, dh, dl, hlim, dst_local):
    """IPv6 verdict (see the module docstring), the rule that wins first."""
    if (dh == 0xFF02 << 48 and (dl == 1 or dl == 2)) or (dh == 0xFF05 << 48 and dl == 2):
        return ROUTE_LOCAL_IN                               # all-nodes / all-routers groups
    if (dh >> 56) == 0xFF:
        return ROUTE_DROP                                   # other multicast
    if (sh >> 54) == (0xFE80 >> 6) or (dh >> 54) == (0xFE80 >> 6):
        return ROUTE_DROP                                   # link-local source or destination
    if (sh == 0 and sl == 0) or (dh == 0 and dl == 0):
        return ROUTE_DROP                                   # unspecified
    if dst_local:
        return ROUTE_LOCAL_IN
    return ROUTE_DROP if hlim <= 1 else ROUTE_FORWARD


@hot
def _apply(batch, nets):
    for i in range(batch.shape[0]):
        r = batch[i]
        if r.skip != 0:
            continue
        src_local = False
        dst_local = False
        if nets.shape[0] > 0:
            src_local = _is_local(nets, r.l3, r.src_hi, r.src_lo)
            dst_local = _is_local(nets, r.l3, r.dst_hi, r.dst_lo)
        if r.l3 == 4:
            route = _route4(np.uint64(r.src_lo) & np.uint64(0xFFFFFFFF),
                            np.uint64(r.dst_lo) & np.uint64(0xFFFFFFFF), r.ttl, dst_local)
        else:
            route = _route6(np.uint64(r.src_hi), np.uint64(r.src_lo), np.uint64(r.dst_hi),
                            np.uint64(r.dst_lo), r.ttl, dst_local)
        if r.route == ROUTE_DROP:
            route = ROUTE_DROP      # preset by the decoder (IPv4 options): it stands
        if dst_local:
            r.pflags |= PF_LOCAL_DST
        if src_local:
            route = ROUTE_LOCAL_OUT
            r.pflags |= PF_LOCAL_SRC
        r.route = route
        if (r.pflags & PF_EGRESS) != 0 and not src_local:
            r.skip = SKIP_EGRESS_COPY


def apply_path(batch: np.ndarray, local_nets=None) -> None:
    """Fill ``route`` (and PF_LOCAL_*, SKIP_EGRESS_COPY) in place, for records with
    ``skip == 0``; a ROUTE_DROP preset by the decoder is kept."""
    nets = _net_table(local_nets)
    if NO_JIT:
        batch, nets = batch.view(np.recarray), nets.view(np.recarray)
    _apply(batch, nets)
