"""A small, fast ctnetlink reader: DUMP the table and GET one entry by tuple.

pyroute2 is correct but slow for tables (about 1.3 ms per entry to receive and
decode one message with its lazy attribute objects: minutes for 262,144 entries),
so the harness speaks the few ctnetlink messages it needs over a plain netlink
socket opened inside the namespace.  ``table.CtNetlink`` also keeps pyroute2's
dump as an independent cross-check.
"""
from __future__ import annotations

import errno
import os
import socket
import struct

from . import nsutil

NETLINK_NETFILTER = 12
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x4, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
CT_GET = (1 << 8) | 1          # NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_GET
NESTED = 0x8000
TCP_STATES = ("NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT",
              "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2")
SCTP_STATES = ("NONE", "CLOSED", "COOKIE_WAIT", "COOKIE_ECHOED", "ESTABLISHED", "SHUTDOWN_SENT",
               "SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT", "HEARTBEAT_SENT")
PROTO_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 47: "gre", 58: "icmpv6", 132: "sctp", 136: "udplite"}
_hdr = struct.Struct("IHHII")
_ah = struct.Struct("HH")
_u16 = struct.Struct("!H")
_u32 = struct.Struct("!I")
_u64 = struct.Struct("!Q")


def _attrs(buf: bytes, off: int, end: int) -> dict:
    """Netlink attributes in buf[off:end] -> {type: (start, stop)} of their payloads."""
    out = {}
    while off + 4 <= end:
        n, t = _ah.unpack_from(buf, off)
        if n < 4:
            break
        out[t & ~NESTED] = (off + 4, off + n)
        off += (n + 3) & ~3
    return out


def _tuple(buf: bytes, span) -> tuple[dict, int]:
    a = _attrs(buf, *span)
    out = {}
    if 1 in a:
        ip = _attrs(buf, *a[1])
        for k, name, fam in ((1, "src", socket.AF_INET), (2, "dst", socket.AF_INET),
                             (3, "src", socket.AF_INET6), (4, "dst", socket.AF_INET6)):
            if k in ip:
                out[name] = socket.inet_ntop(fam, buf[ip[k][0]:ip[k][1]])
    proto = 0
    if 2 in a:
        pr = _attrs(buf, *a[2])
        for k, (s, _e) in pr.items():
            if k == 1:
                proto = buf[s]
            elif k in (2, 3):
                out["sport" if k == 2 else "dport"] = _u16.unpack_from(buf, s)[0]
            elif k in (4, 7):
                out["id"] = _u16.unpack_from(buf, s)[0]
            elif k in (5, 8):
                out["type"] = buf[s]
            elif k in (6, 9):
                out["code"] = buf[s]
    return out, proto


def decode(buf: bytes, off: int, end: int, family: int) -> dict:
    """One IPCTNL_MSG_CT_NEW payload (after nlmsghdr + nfgenmsg) -> entry dict."""
    a = _attrs(buf, off, end)
    orig, proto = _tuple(buf, a[1])
    reply, _ = _tuple(buf, a[2])
    status = _u32.unpack_from(buf, a[3][0])[0] if 3 in a else 0
    e = {"family": "ipv6" if family == socket.AF_INET6 else "ipv4",
         "proto": PROTO_NAMES.get(proto, "unknown"), "protonum": proto,
         "timeout": _u32.unpack_from(buf, a[7][0])[0] if 7 in a else None, "state": None,
         "flags": sorted((["ASSURED"] if status & 4 else []) + ([] if status & 2 else ["UNREPLIED"])),
         "orig": orig, "reply": reply,
         "mark": _u32.unpack_from(buf, a[8][0])[0] if 8 in a else 0,
         "zone": _u16.unpack_from(buf, a[18][0])[0] if 18 in a else 0, "status": status}
    for k, d in ((9, orig), (10, reply)):
        if k in a:
            c = _attrs(buf, *a[k])
            if 1 in c and 2 in c:
                d["packets"] = _u64.unpack_from(buf, c[1][0])[0]
                d["bytes"] = _u64.unpack_from(buf, c[2][0])[0]
    if 4 in a:
        pi = _attrs(buf, *a[4])
        if 1 in pi:
            t = _attrs(buf, *pi[1])
            st = buf[t[1][0]] if 1 in t else 0
            e["state"] = TCP_STATES[st] if st < len(TCP_STATES) else str(st)
            e["tcp"] = {"wscale_orig": buf[t[2][0]] if 2 in t else None,
                        "wscale_reply": buf[t[3][0]] if 3 in t else None}
        elif 3 in pi:
            t = _attrs(buf, *pi[3])
            st = buf[t[1][0]] if 1 in t else 0
            e["state"] = SCTP_STATES[st] if st < len(SCTP_STATES) else str(st)
    return e


def tuple_attr(key: tuple, code: int = 0) -> bytes:
    """CTA_TUPLE_ORIG for a ``craft.peek`` key (proto, src bytes, dst bytes, a, b)."""
    proto, src, dst, a, b = key
    v6 = len(src) == 16

    def attr(t, payload):
        n = 4 + len(payload)
        return _ah.pack(n, t) + payload + b"\0" * (-n % 4)

    ip = attr(1 | NESTED, attr(3 if v6 else 1, src) + attr(4 if v6 else 2, dst))
    parts = attr(1, bytes([proto]))
    if proto in (1, 58):
        base = 7 if proto == 58 else 4
        parts += attr(base, _u16.pack(b)) + attr(base + 1, bytes([a])) + attr(base + 2, bytes([code]))
    elif proto in (6, 17, 47, 132, 136):
        parts += attr(2, _u16.pack(a)) + attr(3, _u16.pack(b))
    return attr(1 | NESTED, ip + attr(2 | NESTED, parts))


class RawCtnl:
    """Plain ctnetlink socket created inside namespace ``netns``."""

    def __init__(self, netns: str):
        with nsutil.entered(netns):
            self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.setsockopt(socket.SOL_SOCKET, 33, 32 << 20)   # SO_RCVBUFFORCE
        self.sock.bind((0, 0))
        self.sock.settimeout(10.0)
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def _request(self, family: int, flags: int, attrs: bytes = b"") -> list[dict]:
        self.seq += 1
        body = struct.pack("BBH", family, 0, 0) + attrs
        self.sock.send(_hdr.pack(16 + len(body), CT_GET, NLM_F_REQUEST | flags, self.seq, 0) + body)
        out = []
        for _ in range(1 << 22):                         # bounded: at most this many reads
            buf = self.sock.recv(1 << 20)
            off = 0
            while off + 16 <= len(buf):
                n, typ, _fl, seq, _pid = _hdr.unpack_from(buf, off)
                if n < 16:
                    return out
                if seq == self.seq:
                    if typ == NLMSG_DONE:
                        return out
                    if typ == NLMSG_ERROR:
                        err = -struct.unpack_from("i", buf, off + 16)[0]
                        if err in (0, errno.ENOENT):
                            return out
                        raise OSError(err, os.strerror(err))
                    if typ & 0xFF == 0:                  # IPCTNL_MSG_CT_NEW
                        out.append(decode(buf, off + 20, off + n, buf[off + 16]))
                off += (n + 3) & ~3
        raise RuntimeError("ctnetlink reply did not end")

    def dump(self) -> list[dict]:
        return self._request(0, NLM_F_DUMP)

    def get(self, key: tuple, code: int = 0) -> dict | None:
        fam = socket.AF_INET6 if len(key[1]) == 16 else socket.AF_INET
        got = self._request(fam, NLM_F_ACK, tuple_attr(key, code))
        return got[0] if got else None
