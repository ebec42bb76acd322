"""conntrack-tools filters for ``ctscope list`` / ``top`` (conntrack.8): ``-p``,
``--state``, ``-s``/``-d`` (address or CIDR, ORIGINAL direction), ``--sport``/``--dport``
(ORIGINAL, need ``-p``), ``-m MARK[/MASK]``, ``-w/--zone``, ``-f ipv4|ipv6``,
``-u/--status`` (comma list; every listed bit must be set, ``UNSET`` = none).

Status bits readable from a table line: ASSURED, SEEN_REPLY (no ``[UNREPLIED]``),
OFFLOAD, HW_OFFLOAD; ``FIXED_TIMEOUT``/``EXPECTED`` are not printed in any text
format, so asking for them is an error rather than a silent empty list.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from ..errors import InputError
from ..formats.entry import L4_NAMES, L4_NUMS, PORT_PROTOS

TCP_STATES = ("NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK",
              "TIME_WAIT", "CLOSE", "SYN_SENT2", "LISTEN")
SCTP_STATES = ("NONE", "CLOSED", "COOKIE_WAIT", "COOKIE_ECHOED", "ESTABLISHED", "SHUTDOWN_SENT",
               "SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT", "HEARTBEAT_SENT", "HEARTBEAT_ACKED")
READABLE_STATUS = ("ASSURED", "SEEN_REPLY", "OFFLOAD", "HW_OFFLOAD", "UNSET")
HIDDEN_STATUS = ("FIXED_TIMEOUT", "EXPECTED")


@dataclass
class Filter:
    proto: str | None = None
    state: str | None = None
    src: object = None          # ip_network
    dst: object = None
    sport: int | None = None
    dport: int | None = None
    mark: tuple[int, int] | None = None
    zone: int | None = None
    family: str | None = None
    status: list[str] = field(default_factory=list)

    def matches(self, e) -> bool:
        if self.family and e.l3 != self.family:
            return False
        if self.proto and e.l4 != self.proto:
            return False
        if self.state and e.state != self.state:
            return False
        if self.src is not None and not _in(e.orig.src, self.src):
            return False
        if self.dst is not None and not _in(e.orig.dst, self.dst):
            return False
        if self.sport is not None and e.orig.sport != self.sport:
            return False
        if self.dport is not None and e.orig.dport != self.dport:
            return False
        if self.mark is not None and ((e.mark or 0) & self.mark[1]) != (self.mark[0] & self.mark[1]):
            return False
        if self.zone is not None and (e.zone or 0) != self.zone:
            return False
        for st in self.status:
            if not _status(e, st):
                return False
        return True

    @property
    def empty(self) -> bool:
        return self == Filter()


def _in(addr: str, net) -> bool:
    try:
        return ipaddress.ip_address(addr) in net
    except ValueError:
        return False


def _status(e, name: str) -> bool:
    if name == "ASSURED":
        return e.assured or e.offload or e.hw_offload     # offload lines print no [ASSURED]
    if name == "SEEN_REPLY":
        return not e.unreplied
    if name == "OFFLOAD":
        return e.offload
    if name == "HW_OFFLOAD":
        return e.hw_offload
    return e.unreplied and not (e.assured or e.offload or e.hw_offload)     # UNSET


def add_filter_arguments(p) -> None:
    g = p.add_argument_group("filters (as conntrack -L; ORIGINAL direction)")
    g.add_argument("-p", "--proto", metavar="PROTO", help="tcp, udp, icmp, icmpv6, sctp, gre, ... or a number")
    g.add_argument("--state", metavar="STATE", help="TCP/SCTP state, e.g. ESTABLISHED, TIME_WAIT (needs -p)")
    g.add_argument("-s", "--src", "--orig-src", dest="src", metavar="ADDR[/LEN]", help="source address or CIDR")
    g.add_argument("-d", "--dst", "--orig-dst", dest="dst", metavar="ADDR[/LEN]", help="destination address or CIDR")
    g.add_argument("--sport", "--orig-port-src", dest="sport", type=int, metavar="PORT", help="source port (needs -p)")
    g.add_argument("--dport", "--orig-port-dst", dest="dport", type=int, metavar="PORT",
                   help="destination port (needs -p)")
    g.add_argument("-m", "--mark", metavar="MARK[/MASK]", help="ct mark, masked (decimal or 0x hex)")
    g.add_argument("-w", "--zone", type=int, metavar="N", help="conntrack zone (0 = no zone)")
    g.add_argument("-f", "--family", choices=("ipv4", "ipv6"), help="address family (default: both)")
    g.add_argument("-u", "--status", metavar="LIST",
                   help="comma list of ASSURED, SEEN_REPLY, OFFLOAD, HW_OFFLOAD, UNSET: all must hold")


def _int(text: str, opt: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise InputError(f"{text!r} is not a number", opt) from None
    if not 0 <= value <= 0xFFFFFFFF:
        raise InputError(f"{text!r} is out of range", opt)
    return value


def filter_from_args(args) -> Filter:
    f = Filter(family=getattr(args, "family", None), zone=getattr(args, "zone", None))
    if args.proto:
        name = args.proto.lower()
        if name.isdigit():
            name = L4_NAMES.get(int(name), name)
        if name not in L4_NUMS:
            raise InputError(f"unknown protocol {args.proto!r} (tcp, udp, udplite, icmp, icmpv6, sctp, "
                             "dccp, gre)", "-p")
        f.proto = name
    for opt in ("sport", "dport", "state"):
        if getattr(args, opt) is not None and f.proto is None:
            raise InputError("needs -p (conntrack: 'you need to specify a protocol')", f"--{opt}")
    if args.state:
        valid = TCP_STATES if f.proto == "tcp" else SCTP_STATES if f.proto == "sctp" else ()
        state = args.state.upper()
        if state not in valid:
            raise InputError(f"{args.state!r} is not a {f.proto} state"
                             + (f" ({', '.join(valid)})" if valid else ""), "--state")
        f.state = "SYN_SENT2" if state == "LISTEN" else state
    for opt in ("sport", "dport"):
        value = getattr(args, opt)
        if value is not None:
            if f.proto not in PORT_PROTOS or not 0 <= value <= 65535:
                raise InputError(f"{value} is not a {f.proto} port", f"--{opt}")
            setattr(f, opt, value)
    for opt in ("src", "dst"):
        text = getattr(args, opt)
        if text:
            try:
                setattr(f, opt, ipaddress.ip_network(text, strict=False))
            except ValueError:
                raise InputError(f"{text!r} is not an address or CIDR", f"--{opt}") from None
    if args.mark:
        value, _, mask = args.mark.partition("/")
        f.mark = (_int(value, "-m"), _int(mask, "-m") if mask else 0xFFFFFFFF)
    if args.status:
        for name in (s.strip().upper() for s in args.status.split(",") if s.strip()):
            if name in HIDDEN_STATUS:
                raise InputError(f"{name} is not shown in table text, so it cannot be filtered here "
                                 "(use conntrack -L -u)", "--status")
            if name not in READABLE_STATUS:
                raise InputError(f"unknown status {name!r} ({', '.join(READABLE_STATUS)})", "--status")
            f.status.append(name)
    if f.zone is not None and not 0 <= f.zone <= 65535:
        raise InputError("zone must be 0..65535", "--zone")
    return f
