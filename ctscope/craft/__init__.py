"""Building test frames: Ethernet + IPv4/IPv6 + TCP/UDP/UDP-Lite/ICMP/ICMPv6/GRE/SCTP.

All checksums are correct unless a builder is asked to corrupt one (``bad_csum``).

    from ctscope.craft import eth, ipv4, tcp, udp, TcpConversation, Scenario, write_pcap
    frame = eth(ipv4("10.0.0.1", "10.0.0.2", udp(5000, 53, b"q")))
"""
from .checksum import crc32c, inet_checksum
from .l3 import (addr_bytes, eth, ext_dest_opts, ext_fragment, ext_hop_by_hop, ext_routing,
                 fragment4, fragment6, ip4_options, ip4_opt_record_route, ipv4, ipv6)
from .l4 import (L4, generic, gre, icmp, icmp6, icmp6_echo, icmp6_error, icmp_echo, icmp_error,
                 nd_neighbor_advert, nd_neighbor_solicit, nd_redirect, nd_router_advert,
                 nd_router_solicit, tcp, tcp_options, udp, udplite)
from .peek import peek
from .scenario import Scenario, read_pcap, write_pcap
from . import sctp  # module: sctp.sctp(...), sctp.init(...), sctp.data(...)
from .tcp_conv import TcpConversation

__all__ = [
    "crc32c", "inet_checksum", "addr_bytes", "eth", "ext_dest_opts", "ext_fragment", "ext_hop_by_hop",
    "ext_routing", "fragment4", "fragment6", "ip4_options", "ip4_opt_record_route", "ipv4", "ipv6",
    "L4", "generic", "gre", "icmp", "icmp6", "icmp6_echo", "icmp6_error", "icmp_echo", "icmp_error",
    "nd_neighbor_advert", "nd_neighbor_solicit", "nd_redirect", "nd_router_advert", "nd_router_solicit",
    "tcp", "tcp_options", "udp", "udplite", "peek", "Scenario", "read_pcap", "write_pcap", "sctp",
    "TcpConversation",
]
