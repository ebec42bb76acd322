"""Generic protocols and GRE (nf_conntrack_proto_generic.c, nf_conntrack_proto_gre.c).

Generic: addresses + protocol number only, every packet refreshes to
``generic_timeout`` (600 s), never ASSURED; /proc calls them ``unknown``.
GRE v0 (keys 0) and v1 (PPTP call ids): ``gre_timeout`` (30 s) until a reply was
seen, then ``gre_timeout_stream`` (180 s) and ASSURED -- the first reply packet itself
still gets 30 s because SEEN_REPLY is set by the core after the tracker ran.
"""
from ..jit import hot

from . import settings as K
from .layout import IPS_ASSURED, IPS_NAT_CLASH, IPS_SEEN_REPLY, V_ACCEPT


@hot
def generic_packet(tbl, e, d, pk, now, S):
    """generic_packet() in nf_conntrack_core.c."""
    return V_ACCEPT, S[K.K_T_GENERIC]


@hot
def gre_packet(tbl, e, d, pk, now, S):
    """nf_conntrack_gre_packet()."""
    r = tbl[e]
    status = r.status
    if (status & IPS_SEEN_REPLY) != 0:
        if (status & IPS_NAT_CLASH) == 0:
            r.status = status | IPS_ASSURED
        return V_ACCEPT, S[K.K_T_GRE_STREAM]
    return V_ACCEPT, S[K.K_T_GRE]
