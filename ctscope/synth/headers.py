"""Frame header layouts as numpy structured dtypes, and their vectorised filling.

Every frame is ``pcap record header + Ethernet + IPv4/IPv6 + L4 header + fixed
application bytes``, followed by ``tail`` filler bytes.  Frames with the same
(l3, layout, app) share one packed dtype, so a group of frames is built with a few
column assignments and viewed as an ``(n, size)`` byte matrix.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from . import spec as sp
from .checksum import fold, words64

HTTP_REQ = (b"GET /index.html HTTP/1.1\r\nHost: www.example.com\r\n"
            b"User-Agent: ctscope-synth/1\r\nAccept: */*\r\n\r\n")
HTTP_RESP = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nServer: synth\r\n\r\n"
DNS_SUFFIX = b"\x07example\x03com\x00"      # after an 8-letter first label
QNAME_LEN = 1 + 8 + len(DNS_SUFFIX)
MSS = {4: 1460, 6: 1440}
WSCALE = 7

MAC = np.array([[2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1]], dtype=np.uint8)  # by dir: (dst)
REC = [("ts_sec", "<u4"), ("ts_frac", "<u4"), ("caplen", "<u4"), ("wirelen", "<u4")]
ETH = [("eth_dst", "u1", (6,)), ("eth_src", "u1", (6,)), ("ethertype", ">u2")]
IP4 = [("vihl", "u1"), ("tos", "u1"), ("tot_len", ">u2"), ("ipid", ">u2"), ("frag", ">u2"),
       ("ttl", "u1"), ("proto", "u1"), ("ipsum", ">u2"), ("src", ">u4"), ("dst", ">u4")]
IP6 = [("vtcfl", ">u4"), ("plen", ">u2"), ("nh", "u1"), ("hlim", "u1"),
       ("src_hi", ">u8"), ("src_lo", ">u8"), ("dst_hi", ">u8"), ("dst_lo", ">u8")]
TCP = [("sport", ">u2"), ("dport", ">u2"), ("seq", ">u4"), ("ack", ">u4"), ("off", "u1"),
       ("flags", "u1"), ("win", ">u2"), ("l4sum", ">u2"), ("urg", ">u2")]
UDP = [("sport", ">u2"), ("dport", ">u2"), ("ulen", ">u2"), ("l4sum", ">u2")]
ICMP_ECHO = [("itype", "u1"), ("icode", "u1"), ("l4sum", ">u2"), ("ident", ">u2"), ("iseq", ">u2")]
ICMP_ERR = [("itype", "u1"), ("icode", "u1"), ("l4sum", ">u2"), ("unused", ">u4")]
DNS_HDR = [("dns_id", ">u2"), ("dns_flags", ">u2"), ("qd", ">u2"), ("an", ">u2"), ("ns", ">u2"),
           ("ar", ">u2"), ("qname", "u1", (QNAME_LEN,)), ("qtype", ">u2"), ("qclass", ">u2")]


def _prefix(fields, name):
    return [(f"{name}_{f[0]}",) + tuple(f[1:]) for f in fields]


def tcp_options(layout: int, l3: int) -> bytes:
    mss = MSS[l3].to_bytes(2, "big")
    if layout == sp.LAYOUT_TCP_SYN:
        return b"\x02\x04" + mss + b"\x01\x01\x04\x02\x01\x03\x03" + bytes([WSCALE])
    if layout == sp.LAYOUT_TCP_MSS:
        return b"\x02\x04\x05\xb4"
    return b""


def app_fields(app: int, l3: int) -> list:
    if app == sp.APP_HTTP_REQ:
        return [("app", "u1", (len(HTTP_REQ),))]
    if app == sp.APP_HTTP_RESP:
        return [("app", "u1", (len(HTTP_RESP),))]
    if app == sp.APP_TLS:
        return [("tls_type", "u1"), ("tls_ver", ">u2"), ("tls_len", ">u2")]
    if app in (sp.APP_DNS_Q, sp.APP_DNS_R):
        answer = [("an_ptr", ">u2"), ("an_type", ">u2"), ("an_class", ">u2"), ("an_ttl", ">u4"),
                  ("an_rdlen", ">u2"), ("an_rdata", "u1", (4 if l3 == 4 else 16,))]
        return DNS_HDR + (answer if app == sp.APP_DNS_R else [])
    return []


class Layout:
    """One frame shape: its dtype and the offsets the checksums need (frame-relative)."""

    def __init__(self, l3: int, layout: int, app: int):
        self.l3, self.layout, self.app = l3, layout, app
        fields = REC + ETH + (IP4 if l3 == 4 else IP6)
        self.l3_off = 14
        self.l4_off = 14 + (20 if l3 == 4 else 40)
        self.options = b""
        if layout in (sp.LAYOUT_TCP, sp.LAYOUT_TCP_SYN, sp.LAYOUT_TCP_MSS):
            self.proto = 6
            self.options = tcp_options(layout, l3)
            fields = fields + TCP + ([("opts", "u1", (len(self.options),))] if self.options else [])
        elif layout == sp.LAYOUT_UDP:
            self.proto = 17
            fields = fields + UDP
        elif layout == sp.LAYOUT_ICMP_ECHO:
            self.proto = 1 if l3 == 4 else 58
            fields = fields + ICMP_ECHO
        else:
            self.proto = 1 if l3 == 4 else 58
            fields = fields + ICMP_ERR + _prefix(IP4 if l3 == 4 else IP6, "in") + _prefix(UDP, "in")
        fields = fields + app_fields(app, l3)
        self.dtype = np.dtype(fields)
        self.size = self.dtype.itemsize          # record header included
        self.fixed = self.size - 16              # frame bytes before the tail
        self.l7_len = self.size - 16 - self.l4_off - self._l4_hdr_len()

    def _l4_hdr_len(self) -> int:
        if self.proto == 6:
            return 20 + len(self.options)
        if self.proto == 17:
            return 8
        if self.layout == sp.LAYOUT_ICMP_ECHO:
            return 8
        return 8 + (20 if self.l3 == 4 else 40) + 8


@lru_cache(maxsize=None)
def layout(l3: int, layout_id: int, app: int) -> Layout:
    return Layout(l3, layout_id, app)


def app_len(app: int, l3: int) -> int:
    """Bytes of fixed application data (the L4 payload is this plus ``tail``)."""
    d = np.dtype(app_fields(app, l3)) if app else None
    return d.itemsize if d is not None else 0


def qname_bytes(name: np.ndarray) -> np.ndarray:
    """(n, QNAME_LEN) wire-format names ``<8 letters>.example.com`` from integer keys."""
    n = len(name)
    out = np.empty((n, QNAME_LEN), dtype=np.uint8)
    out[:, 0] = 8
    k = name.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    for i in range(8):
        out[:, 1 + i] = ord("a") + ((k >> np.uint64(5 * i + 3)) % np.uint64(26)).astype(np.uint8)
    out[:, 9:] = np.frombuffer(DNS_SUFFIX, dtype=np.uint8)
    return out


def fill(lay: Layout, rows: np.ndarray, frame_len: np.ndarray, ns: bool) -> np.ndarray:
    """The group's headers (checksum fields zero) as a structured array."""
    n = len(rows)
    h = np.zeros(n, dtype=lay.dtype)
    ts = rows["ts"]
    h["ts_sec"] = ts // 1_000_000_000
    h["ts_frac"] = ts % 1_000_000_000 if ns else (ts % 1_000_000_000) // 1000
    h["caplen"] = frame_len
    h["wirelen"] = frame_len
    h["eth_dst"] = MAC[rows["dir"]]
    h["eth_src"] = MAC[1 - rows["dir"]]
    l3_len = frame_len - 14
    if lay.l3 == 4:
        h["ethertype"] = 0x0800
        h["vihl"] = 0x45
        h["tot_len"] = l3_len
        h["ipid"] = (rows["ts"] // 1000 + rows["sport"] * 7919) & 0xFFFF
        h["frag"] = 0x4000 if lay.proto == 6 else 0
        h["ttl"] = rows["ttl"]
        h["proto"] = lay.proto
        h["src"] = rows["src_lo"]
        h["dst"] = rows["dst_lo"]
    else:
        h["ethertype"] = 0x86DD
        h["vtcfl"] = 0x60000000
        h["plen"] = l3_len - 40
        h["nh"] = lay.proto
        h["hlim"] = rows["ttl"]
        for f in ("src_hi", "src_lo", "dst_hi", "dst_lo"):
            h[f] = rows[f]
    if lay.proto == 6:
        h["sport"], h["dport"] = rows["sport"], rows["dport"]
        h["seq"], h["ack"] = rows["seq"], rows["ack"]
        h["off"] = ((20 + len(lay.options)) // 4) << 4
        h["flags"] = rows["flags"]
        h["win"] = rows["win"]
        if lay.options:
            h["opts"] = np.frombuffer(lay.options, dtype=np.uint8)
    elif lay.proto == 17:
        h["sport"], h["dport"] = rows["sport"], rows["dport"]
        h["ulen"] = frame_len - lay.l4_off
    elif lay.layout == sp.LAYOUT_ICMP_ECHO:
        h["itype"], h["icode"] = rows["icmp_type"], rows["icmp_code"]
        h["ident"], h["iseq"] = rows["sport"], rows["dport"]
    else:
        _fill_quote(lay, h, rows)
    _fill_app(lay, h, rows)
    return h


def _fill_quote(lay: Layout, h: np.ndarray, rows: np.ndarray) -> None:
    """ICMP port unreachable quoting the UDP probe that went dst -> src."""
    h["itype"], h["icode"] = rows["icmp_type"], rows["icmp_code"]
    if lay.l3 == 4:
        h["in_vihl"], h["in_tot_len"], h["in_ttl"], h["in_proto"] = 0x45, 28, 63, 17
        h["in_ipid"] = rows["sport"] ^ 0x5A5A
        h["in_src"], h["in_dst"] = rows["dst_lo"], rows["src_lo"]
        ipw = (0x4500 + 28 + h["in_ipid"].astype(np.uint64) + (63 << 8 | 17)
               + words64(rows["dst_lo"]) + words64(rows["src_lo"]))
        h["in_ipsum"] = ~fold(ipw) & 0xFFFF
        pseudo = words64(rows["dst_lo"]) + words64(rows["src_lo"]) + 17 + 8
    else:
        h["in_vtcfl"], h["in_plen"], h["in_nh"], h["in_hlim"] = 0x60000000, 8, 17, 63
        h["in_src_hi"], h["in_src_lo"] = rows["dst_hi"], rows["dst_lo"]
        h["in_dst_hi"], h["in_dst_lo"] = rows["src_hi"], rows["src_lo"]
        pseudo = sum(words64(rows[f]) for f in ("src_hi", "src_lo", "dst_hi", "dst_lo")) + 17 + 8
    h["in_sport"], h["in_dport"], h["in_ulen"] = rows["sport"], rows["dport"], 8
    u = pseudo + rows["sport"].astype(np.uint64) + rows["dport"].astype(np.uint64) + 8
    s = ~fold(u) & 0xFFFF
    h["in_l4sum"] = np.where(s == 0, 0xFFFF, s)


def _fill_app(lay: Layout, h: np.ndarray, rows: np.ndarray) -> None:
    app = lay.app
    if app == sp.APP_HTTP_REQ:
        h["app"] = np.frombuffer(HTTP_REQ, dtype=np.uint8)
    elif app == sp.APP_HTTP_RESP:
        h["app"] = np.frombuffer(HTTP_RESP, dtype=np.uint8)
    elif app == sp.APP_TLS:
        h["tls_type"], h["tls_ver"], h["tls_len"] = 0x17, 0x0303, rows["tail"]
    elif app in (sp.APP_DNS_Q, sp.APP_DNS_R):
        h["dns_id"] = rows["dns_id"]
        h["qd"] = 1
        h["qname"] = qname_bytes(rows["name"])
        h["qtype"] = 1 if lay.l3 == 4 else 28
        h["qclass"] = 1
        if app == sp.APP_DNS_Q:
            h["dns_flags"] = 0x0100
        else:
            h["dns_flags"] = 0x8180
            h["an"] = 1
            h["an_ptr"], h["an_type"], h["an_class"] = 0xC00C, h["qtype"], 1
            h["an_ttl"] = 300
            h["an_rdlen"] = 4 if lay.l3 == 4 else 16
            k = rows["name"].astype(np.uint64) * np.uint64(2654435761)
            rd = np.zeros((len(rows), h["an_rdata"].shape[1]), dtype=np.uint8)
            for i in range(rd.shape[1]):
                rd[:, i] = (k >> np.uint64(4 * i % 60)) & np.uint64(0xFF)
            if lay.l3 == 4:
                rd[:, 0] = 203                  # 203.0.113.x: documentation range
                rd[:, 1:3] = (0, 113)
            else:
                rd[:, :4] = (0x20, 0x01, 0x0D, 0xB8)
            h["an_rdata"] = rd
