"""Protocol, service and nft keyword tables (the subset real rulesets use)."""
from __future__ import annotations

PROTOCOLS = {
    "all": 0, "ip": 0, "icmp": 1, "igmp": 2, "ipip": 4, "ipencap": 4, "tcp": 6, "egp": 8,
    "udp": 17, "ipv6": 41, "rsvp": 46, "gre": 47, "esp": 50, "ah": 51,
    "icmpv6": 58, "ipv6-icmp": 58, "icmp6": 58, "ospf": 89, "pim": 103, "vrrp": 112,
    "l2tp": 115, "sctp": 132, "udplite": 136, "mh": 135, "dccp": 33,
}
PROTO_NAMES = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6", 132: "sctp", 136: "udplite",
               47: "gre", 33: "dccp", 50: "esp", 51: "ah"}

# protocols whose tuple carries ports in ``sport``/``dport`` (xt tcp/udp/sctp/dccp,
# xt multiport, nft th)
PORT_PROTOS = (6, 17, 33, 132, 136)

SERVICES = {
    "ftp-data": 20, "ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "domain": 53, "dns": 53,
    "bootps": 67, "bootpc": 68, "tftp": 69, "http": 80, "www": 80, "kerberos": 88,
    "pop3": 110, "sunrpc": 111, "ntp": 123, "netbios-ns": 137, "netbios-dgm": 138,
    "netbios-ssn": 139, "imap": 143, "imap2": 143, "snmp": 161, "snmp-trap": 162,
    "bgp": 179, "ldap": 389, "https": 443, "microsoft-ds": 445, "isakmp": 500,
    "syslog": 514, "submission": 587, "ldaps": 636, "imaps": 993, "pop3s": 995,
    "openvpn": 1194, "mysql": 3306, "vxlan": 4789, "postgresql": 5432,
    "http-alt": 8080, "memcache": 11211, "memcached": 11211,
}

TCP_FLAGS = {"fin": 0x01, "syn": 0x02, "rst": 0x04, "psh": 0x08, "ack": 0x10,
             "urg": 0x20, "ecn": 0x40, "ece": 0x40, "cwr": 0x80}

ICMP_TYPES = {
    "echo-reply": 0, "pong": 0, "destination-unreachable": 3, "source-quench": 4, "redirect": 5,
    "echo-request": 8, "ping": 8, "router-advertisement": 9, "router-solicitation": 10,
    "time-exceeded": 11, "ttl-exceeded": 11, "parameter-problem": 12, "timestamp-request": 13,
    "timestamp-reply": 14,
}
ICMPV6_TYPES = {
    "destination-unreachable": 1, "packet-too-big": 2, "time-exceeded": 3, "parameter-problem": 4,
    "echo-request": 128, "echo-reply": 129, "mld-listener-query": 130, "mld-listener-report": 131,
    "mld-listener-done": 132, "mld-listener-reduction": 132, "nd-router-solicit": 133,
    "router-solicitation": 133, "nd-router-advert": 134, "router-advertisement": 134,
    "nd-neighbor-solicit": 135, "neighbour-solicitation": 135, "neighbor-solicitation": 135,
    "nd-neighbor-advert": 136, "neighbour-advertisement": 136, "neighbor-advertisement": 136,
    "nd-redirect": 137, "redirect": 137, "mld2-listener-report": 143,
}


def icmp_type(text: str, v6: bool) -> tuple[int, int | None]:
    """``type[/code]`` by name or number -> (type, code or None)."""
    names = ICMPV6_TYPES if v6 else ICMP_TYPES
    t = text.lower()
    if t in names:
        return names[t], None
    if "/" in t:
        a, b = t.split("/", 1)
        return int(a), int(b)
    return int(t), None


# nft priority keywords (doc/nft.txt), for the inet/ip/ip6 families
NFT_PRIORITIES = {"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0,
                  "security": 50, "srcnat": 100}

CONNTRACK_PRIORITY = -200
IPTABLES_RAW_PRIORITY = -300


def proto_number(text: str) -> int:
    t = text.lower()
    if t in PROTOCOLS:
        return PROTOCOLS[t]
    n = int(t, 0)
    if not 0 <= n <= 255:
        raise ValueError(text)
    return n


def port_number(text: str) -> int:
    t = text.lower()
    if t in SERVICES:
        return SERVICES[t]
    n = int(t, 0)
    if not 0 <= n <= 65535:
        raise ValueError(text)
    return n
