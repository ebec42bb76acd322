"""``TcpConversation``: TCP segments that pass the kernel's window tracking.

It keeps, per side, the next sequence number, what the peer has sent (to ACK it),
the receive window and the window-scale option, and timestamps if enabled, so
every crafted segment is consistent with conntrack's ``tcp_in_window()``
(``nf_conntrack_tcp_be_liberal=0``).  Methods return ``(side, frame)`` pairs with
side ``'c'`` (client) or ``'s'`` (server)::

    conv = TcpConversation("10.0.0.1", "10.0.0.2", 40000, 80)
    items = conv.handshake() + [conv.send("c", 100), conv.ack("s")] + conv.close("c")
"""
from __future__ import annotations

import struct

from .checksum import finish, ones_sum, pseudo_sum
from .l3 import addr_bytes, eth, ipv4, ipv6
from .l4 import tcp, tcp_flags, tcp_options

_FLAGS: dict = {}
_pack_h = struct.Struct("!H").pack
_pack_ports = struct.Struct("!HH").pack
_pack_seq = struct.Struct("!IIBBH").pack

OTHER = {"c": "s", "s": "c"}


class _Side:
    __slots__ = ("addr", "port", "nxt", "win", "ws", "tsval", "last")

    def __init__(self, addr, port, isn, win, ws):
        self.addr, self.port, self.nxt, self.win, self.ws = addr, port, isn, win, ws
        self.tsval = 1000
        self.last = None  # (flags, seq, payload) of the last segment that used sequence space


class TcpConversation:
    """Both ends of one TCP connection (IPv4 or IPv6, chosen by the address text)."""

    def __init__(self, client: str, server: str, cport: int, sport: int, *, isn_c: int = 1000,
                 isn_s: int = 500000, win_c: int = 64240, win_s: int = 65160, wscale_c: int | None = 7,
                 wscale_s: int | None = 7, mss: int = 1460, sack_ok: bool = True,
                 timestamps: bool = False, ttl: int = 64):
        self.v6 = ":" in client
        self.sides = {"c": _Side(client, cport, isn_c, win_c, wscale_c),
                      "s": _Side(server, sport, isn_s, win_s, wscale_s)}
        self.mss, self.sack_ok, self.timestamps, self.ttl = mss, sack_ok, timestamps, ttl
        self.scaled = False     # both SYNs carried a window-scale option
        self.syn_seen = {"c": False, "s": False}
        self._ts_recent = {"c": 0, "s": 0}
        self._pre: dict = {}

    # ----------------------------------------------------------------- low level
    def window_field(self, side: str) -> int:
        """The 16-bit window a side advertises now (scaled after the handshake)."""
        me = self.sides[side]
        if self.scaled and me.ws is not None:
            return min(me.win >> me.ws, 0xFFFF)
        return min(me.win, 0xFFFF)

    def segment(self, side: str, flags="A", payload: bytes = b"", *, seq: int | None = None,
                ack: int | None = None, win: int | None = None, opts=None, advance: bool = True,
                bad_csum: bool = False, **ip_kw) -> tuple[str, bytes]:
        """Any segment from ``side``; defaults follow the conversation state."""
        me, peer = self.sides[side], self.sides[OTHER[side]]
        f = _FLAGS.get(flags) if isinstance(flags, str) else flags
        if f is None:
            f = _FLAGS[flags] = tcp_flags(flags)
        syn, fin, has_ack = bool(f & 2), bool(f & 1), bool(f & 16)
        if opts is None:
            opts = self._syn_options(side) if syn else []
            if self.timestamps:
                opts = list(opts) + [("ts", me.tsval, self._ts_recent[side])]
        s = me.nxt if seq is None else seq
        a = (peer.nxt if has_ack else 0) if ack is None else ack
        w = (min(me.win, 0xFFFF) if syn else self.window_field(side)) if win is None else win
        if ip_kw or bad_csum:
            frame = self._generic(me, peer, f, s, a, w, opts, payload, bad_csum, ip_kw)
        else:
            frame = self._fast(side, f, s, a, w, tcp_options(opts), payload)
        if self.timestamps:
            self._ts_recent[OTHER[side]] = me.tsval
            me.tsval += 1
        if syn:
            self.syn_seen[side] = True
            if side == "s":
                c = self.sides["c"]
                self.scaled = c.ws is not None and me.ws is not None
        used = len(payload) + syn + fin
        if used and advance and seq is None:
            me.last = (f, s, payload)
            me.nxt = (me.nxt + used) & 0xFFFFFFFF
        return side, frame

    def _generic(self, me, peer, f, s, a, w, opts, payload, bad_csum, ip_kw) -> bytes:
        """Through the general builders (any IP option, spoiled checksums)."""
        seg = tcp(me.port, peer.port, f, s, a, w, opts, payload, bad_csum=bad_csum)
        kw = {"ttl": self.ttl, **ip_kw}
        if self.v6:
            kw["hlim"] = kw.pop("ttl")
            return eth(ipv6(me.addr, peer.addr, seg, **kw))
        return eth(ipv4(me.addr, peer.addr, seg, **kw))

    def _fast(self, side, f, s, a, w, ob, payload) -> bytes:
        """Same bytes as ``_generic`` for the common case, from per-side precomputed
        headers and checksum residues (about twice as fast)."""
        pre = self._pre.get(side)
        if pre is None:
            pre = self._pre[side] = self._precompute(side)
        eth_ip, ip_res, ps_res, ports, tail = pre
        seg = ports + _pack_seq(s & 0xFFFFFFFF, a & 0xFFFFFFFF, (5 + len(ob) // 4) << 4, f, w) \
            + b"\0\0\0\0" + ob + payload
        n = len(seg)
        seg = seg[:16] + _pack_h(finish(ps_res + n + ones_sum(seg))) + seg[18:]
        if self.v6:
            return eth_ip + _pack_h(n) + tail + seg
        total = 20 + n
        return eth_ip + _pack_h(total) + tail[0] + _pack_h(finish(ip_res + total)) + tail[1] + seg

    def _precompute(self, side):
        me, peer = self.sides[side], self.sides[OTHER[side]]
        s, d = addr_bytes(me.addr), addr_bytes(peer.addr)
        ports = _pack_ports(me.port, peer.port)
        if self.v6:
            eth_ip = eth(b"\x60")[:14] + b"\x60\0\0\0"
            return eth_ip, 0, pseudo_sum(s, d, 6, 0), ports, bytes([6, self.ttl]) + s + d
        eth_ip = eth(b"\x45")[:14] + b"\x45\0"
        rest1 = b"\0\0\0\0" + bytes([self.ttl, 6])
        ip_res = ones_sum(b"\x45\0" + rest1 + s + d)
        return eth_ip, ip_res, pseudo_sum(s, d, 6, 0), ports, (rest1, s + d)

    def _syn_options(self, side: str):
        me = self.sides[side]
        peer_syn = self.syn_seen[OTHER[side]]
        opts = [("mss", self.mss)]
        if self.sack_ok and (side == "c" or peer_syn):
            opts.append(("sackok",))
        if me.ws is not None and (side == "c" or self.sides["c"].ws is not None):
            opts += [("nop",), ("wscale", me.ws)]
        return opts

    # ----------------------------------------------------------------- helpers
    def syn(self) -> tuple[str, bytes]:
        return self.segment("c", "S")

    def syn_ack(self) -> tuple[str, bytes]:
        return self.segment("s", "SA")

    def handshake(self) -> list[tuple[str, bytes]]:
        """SYN, SYN/ACK, ACK."""
        return [self.syn(), self.syn_ack(), self.ack("c")]

    def send(self, side: str, data=100, flags="PA") -> tuple[str, bytes]:
        """A data segment; ``data`` is the payload or a byte count."""
        payload = bytes(data) if isinstance(data, int) else data
        return self.segment(side, flags, payload)

    def ack(self, side: str, sack=None) -> tuple[str, bytes]:
        """A pure ACK of everything received; ``sack``: [(left, right), ...] blocks."""
        opts = None
        if sack:
            opts = [("nop",), ("nop",), ("sack", sack)]
            if self.timestamps:
                me = self.sides[side]
                opts += [("ts", me.tsval, self._ts_recent[side])]
        return self.segment(side, "A", opts=opts)

    def fin(self, side: str) -> tuple[str, bytes]:
        return self.segment(side, "FA")

    def rst(self, side: str, with_ack: bool = True) -> tuple[str, bytes]:
        return self.segment(side, "RA" if with_ack else "R")

    def close(self, initiator: str = "c") -> list[tuple[str, bytes]]:
        """FIN, ACK, FIN, ACK starting from ``initiator``."""
        o = OTHER[initiator]
        return [self.fin(initiator), self.ack(o), self.fin(o), self.ack(initiator)]

    def retransmit(self, side: str) -> tuple[str, bytes]:
        """The last sequence-space-using segment of ``side`` again (same seq, payload)."""
        last = self.sides[side].last
        if last is None:
            raise ValueError(f"side {side!r} has sent nothing to retransmit")
        flags, seq, payload = last
        return self.segment(side, flags, payload, seq=seq, advance=False)

    def out_of_window(self, side: str, data=10) -> tuple[str, bytes]:
        """Data far beyond what the peer's window allows (conntrack: INVALID)."""
        me, peer = self.sides[side], self.sides[OTHER[side]]
        payload = bytes(data) if isinstance(data, int) else data
        beyond = (me.nxt + 2 * peer.win + 0x100000) & 0xFFFFFFFF
        return self.segment(side, "PA", payload, seq=beyond, advance=False)
