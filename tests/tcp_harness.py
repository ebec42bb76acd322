"""Test harness for ctscope.engine.tcp: one TCP conversation driven the way the
conntrack core drives the tracker (confirm on the first accepted packet, SEEN_REPLY
after an accepted or ignored reply, free on INVALID-unconfirmed / DELETE, kill and
re-create on REPEAT).  Sides are 'o' (client, 10.9.0.1:40000) and 'r' (server,
10.9.0.2:80); the entry's ORIGINAL direction is whichever side sent its first packet.
"""
from __future__ import annotations

import numpy as np

from ctscope.engine import tcp
from ctscope.engine.layout import (ENTRY_DTYPE, IPS_ASSURED, IPS_CONFIRMED,
                                   IPS_FIXED_TIMEOUT, IPS_SEEN_REPLY, TCP_STATE_NAMES,
                                   V_ACCEPT, V_DELETE, V_IGNORE, V_INVALID, V_REPEAT)
from ctscope.engine.settings import NS, Settings
from ctscope.packets.record import PF_L4_OK, PF_SACK, PF_SACK_PERM, empty_batch

FLAGS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10, "U": 0x20, "E": 0x40, "C": 0x80}
VNAME = {V_ACCEPT: "ACCEPT", V_IGNORE: "IGNORE", V_INVALID: "INVALID", V_DELETE: "DELETE",
         V_REPEAT: "REPEAT"}
ADDR = {"o": (0x0A090001, 40000), "r": (0x0A090002, 80)}


def settings(**sysctls) -> np.ndarray:
    """Engine vector with 6.18 defaults; keyword = sysctl name without 'nf_conntrack_'."""
    s = Settings(ram=8 << 30)
    for name, value in sysctls.items():
        s.set("nf_conntrack_" + name, str(value))
    return s.vector()


def flagbits(text: str) -> int:
    bits = 0
    for ch in text:
        bits |= FLAGS[ch]
    return bits


def packet(flags, seq=0, ack=0, win=65535, datalen=0, wscale=-1, sackperm=False, sack=None,
           pflags=PF_L4_OK):
    """A one-record batch (keep the array; pass ``batch[0]``)."""
    b = empty_batch(1)
    p = b[0]
    p["proto"] = 6
    p["l3"] = 4
    p["tcpflags"] = flagbits(flags) if isinstance(flags, str) else flags
    p["seq"] = seq & 0xFFFFFFFF
    p["ack"] = ack & 0xFFFFFFFF
    p["win"] = win
    p["datalen"] = datalen
    p["iplen"] = 40 + datalen
    p["wscale"] = wscale
    pf = pflags
    if sackperm:
        pf |= PF_SACK_PERM
    if sack is not None:
        pf |= PF_SACK
        p["sack"] = sack & 0xFFFFFFFF
    p["pflags"] = pf
    return b


class Conn:
    """One connection tracked in a one-entry table."""

    def __init__(self, S=None, check_csum=True):
        self.S = settings() if S is None else S
        self.tbl = np.zeros(1, ENTRY_DTYPE)
        self.now = 1000 * NS
        self.exists = False
        self.orig = "o"            # side that is the entry's ORIGINAL direction
        self.check_csum = check_csum
        self.log = []              # (side, flags, verdict name, timeout s)

    # --- core emulation -------------------------------------------------------
    def _create(self, side):
        self.tbl[0] = np.zeros(1, ENTRY_DTYPE)[0]
        r = self.tbl[0]
        src, dst = ADDR[side], ADDR["r" if side == "o" else "o"]
        r["src_lo"], r["sport"] = src
        r["dst_lo"], r["dport"] = dst
        r["l3"], r["proto"] = 4, 6
        self.exists = True
        self.orig = side

    def send(self, side, flags, seq=0, ack=0, **kw):
        """Feed one packet from ``side``; returns the verdict name."""
        b = packet(flags, seq, ack, **kw)
        return self.send_record(side, b)

    def send_record(self, side, b):
        if not self.exists:
            self._create(side)
        d = 0 if side == self.orig else 1
        v, t = tcp.tcp_conntrack(self.tbl, 0, d, b[0], self.now, self.S, self.check_csum)
        v, t = int(v), int(t)
        r = self.tbl[0]
        confirmed = bool(r["status"] & IPS_CONFIRMED)
        self.verdict, self.timeout = v, t
        self.log.append((side, b[0]["tcpflags"], VNAME[v], t / NS))
        if v == V_REPEAT:
            self.exists = False
            return VNAME[v] + ":" + self.send_record(side, b)
        if v == V_DELETE or (v == V_INVALID and not confirmed):
            self.exists = False
            return VNAME[v]
        if v == V_ACCEPT:
            if not confirmed:
                r["status"] |= IPS_CONFIRMED
            if not r["status"] & IPS_FIXED_TIMEOUT:
                r["expires"] = self.now + t
        assert confirmed or v == V_ACCEPT, "an unconfirmed entry must be accepted or freed"
        if d == 1 and v in (V_ACCEPT, V_IGNORE):
            r["status"] |= IPS_SEEN_REPLY
        return VNAME[v]

    def advance(self, seconds: float):
        self.now += int(seconds * NS)

    # --- views ------------------------------------------------------------------
    @property
    def r(self):
        return self.tbl[0]

    @property
    def state(self) -> str:
        return TCP_STATE_NAMES[self.r["state"]] if self.exists else "DELETED"

    @property
    def remaining(self) -> float:
        return (int(self.r["expires"]) - self.now) / NS

    @property
    def assured(self) -> bool:
        return bool(self.r["status"] & IPS_ASSURED)

    @property
    def unreplied(self) -> bool:
        return not self.r["status"] & IPS_SEEN_REPLY

    def side_flags(self, side) -> int:
        return int(self.r["tflags0" if side == self.orig else "tflags1"])

    def side(self, side, field) -> int:
        """td_<field> (end, maxend, maxwin, maxack, scale) of ``side``."""
        return int(self.r[f"td_{field}{0 if side == self.orig else 1}"])


class Talk:
    """Sequence bookkeeping of the kernel lab's tcpfsm.py Conv (ISN o=1000, r=5000):
    S uses the ISN until synced, SA uses nxt-1 once synced, FA advances by one."""

    ISN = {"o": 1000, "r": 5000}

    def __init__(self, conn: Conn):
        self.c = conn
        self.nxt = dict(self.ISN)
        self.synced = {"o": False, "r": False}

    def send(self, side, kind, **kw):
        other = "r" if side == "o" else "o"
        if kind == "S":
            seq = self.nxt[side] if self.synced[side] else self.ISN[side]
            ack, fl = 0, "S"
        elif kind == "SA":
            seq = self.nxt[side] - 1 if self.synced[side] else self.ISN[side]
            ack, fl = self.nxt[other], "SA"
        elif kind in ("A", "FA", "P"):
            seq, ack, fl = self.nxt[side], self.nxt[other], kind
        elif kind == "R":
            seq, ack, fl = self.nxt[side], 0, "R"
        else:
            raise ValueError(kind)
        v = self.c.send(side, fl, seq, ack, **kw)
        if kind in ("S", "SA"):
            if not self.synced[side]:
                self.nxt[side] = self.ISN[side] + 1
                self.synced[side] = True
        elif kind == "FA":
            self.nxt[side] += 1
        return v

    def run(self, steps):
        for side, kind in steps:
            self.send(side, kind)
        return self


HANDSHAKE = [("o", "S"), ("r", "SA"), ("o", "A")]


def established(S=None) -> Conn:
    """Client 1000/server 5000 after S, SA, A: ESTABLISHED, ASSURED (td_end o=1001, r=5001)."""
    c = Conn(S)
    Talk(c).run(HANDSHAKE)
    assert c.state == "ESTABLISHED" and c.assured
    return c
