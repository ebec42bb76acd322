"""UDP and UDP-Lite (nf_conntrack_proto_udp.c).

Theory of operation: an entry starts [UNREPLIED] with ``udp_timeout`` (30 s); the
first packet stamps ``stream_ts = now + 2 s``.  Once a reply has been seen, a packet
arriving *after* stream_ts switches the entry to ``udp_timeout_stream`` (120 s) and
sets ASSURED; before that every packet refreshes to 30 s (the 2-second rule, commit
d535c8a69c19 + b7b1d02fc439).  UDP-Lite has no 2-second rule: any packet after the
reply is a stream packet.  ``stream_ts`` lives in the entry's ``aux`` slot.
"""
from ..jit import hot

from ..packets.record import PF_CSUM_BAD, PF_L4_MALFORMED, PF_L4_OK
from . import settings as K
from .layout import IPS_ASSURED, IPS_CONFIRMED, IPS_NAT_CLASH, IPS_SEEN_REPLY, V_ACCEPT, V_INVALID

UDP_STREAM_DELAY = 2_000_000_000  # nf_conntrack_udp_packet(): stream_ts = 2 * HZ + jiffies


@hot
def udp_error(pk, S, check_csum):
    """udp_error()/udplite_error(): truncated or inconsistent header, or a bad checksum
    verified at PRE_ROUTING with nf_conntrack_checksum=1 (a zero UDP checksum means
    "none" and is accepted; the decoder leaves PF_CSUM_BAD clear for it)."""
    if (pk.pflags & PF_L4_OK) == 0 or (pk.pflags & PF_L4_MALFORMED) != 0:
        return True
    if check_csum and (pk.pflags & PF_CSUM_BAD) != 0:
        return True
    return False


@hot
def udp_packet(tbl, e, d, pk, now, S, lite):
    """nf_conntrack_udp_packet() / nf_conntrack_udplite_packet()."""
    r = tbl[e]
    status = r.status
    if (status & IPS_CONFIRMED) == 0:
        r.aux = now + UDP_STREAM_DELAY
    if (status & IPS_SEEN_REPLY) != 0:
        timeout = S[K.K_T_UDP]
        stream = False
        # time_after(jiffies, ct->proto.udp.stream_ts); UDP-Lite has no 2 s rule
        if lite or now > r.aux:
            timeout = S[K.K_T_UDP_STREAM]
            stream = (status & IPS_ASSURED) == 0
        # never set ASSURED for IPS_NAT_CLASH, they time out soon
        if stream and (status & IPS_NAT_CLASH) == 0:
            r.status = status | IPS_ASSURED
        return V_ACCEPT, timeout
    return V_ACCEPT, S[K.K_T_UDP]


__all__ = ["udp_error", "udp_packet", "V_INVALID"]
