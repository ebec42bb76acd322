"""ICMP and ICMPv6 (nf_conntrack_proto_icmp.c, nf_conntrack_proto_icmpv6.c).

Theory of operation: query types (echo, timestamp, info, address mask; ICMPv6 echo and
node information) create entries keyed by identifier + type + code, never ASSURED,
refreshed to 30 s by every packet.  Error types are not tracked themselves: the quoted
packet's tuple is inverted and looked up; a match whose destination equals the outer
destination makes the error RELATED (``nf_conntrack_inet_error()``), anything else
counts as stat ``error``.  That lookup needs the table, so it lives in ``core.py``;
this module holds the classification and the packet functions.
"""
from ..jit import hot

from . import settings as K
from .layout import IPS_CONFIRMED, V_ACCEPT, V_INVALID

NR_ICMP_TYPES = 18  # include/uapi/linux/icmp.h: highest 'known' ICMP type


@hot
def icmp_is_err(itype):
    """icmp_is_err(): dest unreachable, source quench, redirect, time exceeded, parameter problem."""
    return itype == 3 or itype == 4 or itype == 5 or itype == 11 or itype == 12


@hot
def icmpv6_is_err(itype):
    """nf_conntrack_icmpv6_error(): types < 128 are errors; redirect (137) is handled as
    an error too since 6.2 ("netfilter: conntrack: set icmpv6 redirects as RELATED")."""
    return itype < 128 or itype == 137


@hot
def icmpv6_untracked(itype):
    """nf_conntrack_icmpv6_error(): noct_valid_new[] -- MLD query/report/done (130-132),
    RS/RA/NS/NA (133-136), MLDv2 report (143), multicast router discovery (151, 152)."""
    return (130 <= itype <= 136) or itype == 143 or itype == 151 or itype == 152


@hot
def icmp_packet(tbl, e, d, pk, now, S):
    """nf_conntrack_icmp_packet(): only echo/timestamp/info/address-mask requests may
    own an entry (checked on the ORIGINAL tuple's type for every packet)."""
    t = tbl[e].dport >> 8
    if not (t == 8 or t == 13 or t == 15 or t == 17):
        return V_INVALID, 0
    return V_ACCEPT, S[K.K_T_ICMP]


@hot
def icmpv6_packet(tbl, e, d, pk, now, S):
    """nf_conntrack_icmpv6_packet(): a new entry needs echo request (128) or node
    information query (139) as its ORIGINAL type."""
    if (tbl[e].status & IPS_CONFIRMED) == 0:
        t = tbl[e].dport >> 8
        if not (t == 128 or t == 139):
            return V_INVALID, 0
    return V_ACCEPT, S[K.K_T_ICMPV6]
