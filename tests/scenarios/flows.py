"""Random, mostly valid conversations and their perturbations (seeded; shared by the
random mixes of the corpus and the hypothesis property test).

``conversation(rng, kind, client, server, port)`` -> [(side, frame)];
``perturb(rng, items, kinds)`` loses, reorders, duplicates or corrupts frames, splits
them into IP fragments, pads them or sets their TTL to 1;
``interleave(rng, flows)`` merges flows keeping each flow's own order.
"""
from __future__ import annotations

import random
import struct

from ctscope.craft import (TcpConversation, eth, fragment4, fragment6, icmp6_echo, icmp6_error, icmp_echo,
                           icmp_error, ipv4, ipv6, udp)
from ctscope.craft.checksum import finish, inet_checksum, ones_sum, pseudo_sum

KINDS = ("tcp", "tcp", "tcp", "udp", "icmp")
PERTURBATIONS = ("loss", "reorder", "duplicate", "corrupt", "corrupt_bad_csum", "fragment", "pad", "ttl1")


def tcp_conversation(rng: random.Random, client: str, server: str, port: int) -> list:
    ws = [None, 0, 2, 7, 14]
    cv = TcpConversation(client, server, port, rng.choice((22, 80, 443, 8443)),
                         isn_c=rng.getrandbits(32), isn_s=rng.getrandbits(32),
                         win_c=rng.choice((1024, 8192, 64240, 1 << 20)),
                         win_s=rng.choice((2048, 65160, 1 << 20)),
                         wscale_c=rng.choice(ws), wscale_s=rng.choice(ws),
                         sack_ok=rng.random() < 0.7, timestamps=rng.random() < 0.3)
    items = []
    start = rng.random()
    if start < 0.85:
        items += [cv.syn(), cv.syn_ack()]
        if rng.random() < 0.9:
            items.append(cv.ack("c"))
    else:
        cv.handshake()                                    # picked up mid-stream
    for _ in range(rng.randrange(0, 6)):
        side = rng.choice("cs")
        n = rng.choice((1, 10, 100, 536, 1200))
        if n > min(cv.sides["c" if side == "s" else "s"].win, 1400):
            n = 1
        items.append(cv.send(side, n))
        if rng.random() < 0.8:
            items.append(cv.ack("s" if side == "c" else "c"))
    end = rng.random()
    if end < 0.5:
        items += cv.close(rng.choice("cs"))
    elif end < 0.65:
        items.append(cv.rst(rng.choice("cs"), with_ack=rng.random() < 0.7))
    elif end < 0.75:
        items += [cv.fin("c"), cv.ack("s")]
    return items


def udp_conversation(rng, client, server, port) -> list:
    v6 = ":" in client
    ip = ipv6 if v6 else ipv4
    dport = rng.choice((53, 123, 443, 5000))
    items = []
    for _ in range(rng.randrange(1, 6)):
        if rng.random() < 0.6:
            items.append(("c", eth(ip(client, server, udp(port, dport, bytes(rng.randrange(0, 64)))))))
        else:
            items.append(("s", eth(ip(server, client, udp(dport, port, bytes(rng.randrange(0, 64)))))))
    if rng.random() < 0.2:
        q = ip(client, server, udp(port, dport, b"q"))
        err = icmp6_error(1, 4, q) if v6 else icmp_error(3, 3, q)
        items.append(("s", eth(ip(server, client, err))))
    return items


def icmp_conversation(rng, client, server, ident) -> list:
    v6 = ":" in client
    ip = ipv6 if v6 else ipv4
    echo = icmp6_echo if v6 else icmp_echo
    items = []
    for seq in range(rng.randrange(1, 4)):
        if rng.random() < 0.9:
            items.append(("c", eth(ip(client, server, echo(ident, seq, b"ping")))))
        if rng.random() < 0.8:
            items.append(("s", eth(ip(server, client, echo(ident, seq, b"ping", reply=True)))))
    return items


def conversation(rng, kind: str, client: str, server: str, port: int) -> list:
    return {"tcp": tcp_conversation, "udp": udp_conversation, "icmp": icmp_conversation}[kind](
        rng, client, server, port)


def fix_l4_checksum(frame: bytes) -> bytes:
    """Recompute the TCP/UDP checksum of an Ethernet/IPv4|IPv6 frame (no extension headers)."""
    l3 = frame[14:]
    if l3[0] >> 4 == 4:
        off, proto, src, dst = (l3[0] & 15) * 4, l3[9], l3[12:16], l3[16:20]
    else:
        off, proto, src, dst = 40, l3[6], l3[8:24], l3[24:40]
    pos = {6: 16, 17: 6}.get(proto)
    if pos is None:
        return frame
    seg = bytearray(l3[off:])
    seg[pos:pos + 2] = b"\0\0"
    c = finish(pseudo_sum(src, dst, proto, len(seg)) + ones_sum(bytes(seg)))
    seg[pos:pos + 2] = struct.pack("!H", c or (0xFFFF if proto == 17 else 0))
    return frame[:14] + l3[:off] + bytes(seg)


def corrupt(rng, frame: bytes, keep_checksum_valid: bool) -> bytes:
    """Flip bits of one byte of the L4 header (ports excluded: the flow stays the same)."""
    l3 = frame[14:]
    off = (l3[0] & 15) * 4 if l3[0] >> 4 == 4 else 40
    l4len = len(l3) - off
    if l4len < 8:
        return frame
    hdr = 20 if (l3[9] if l3[0] >> 4 == 4 else l3[6]) == 6 and l4len >= 20 else 8
    pos = 14 + off + rng.randrange(4, hdr)
    b = bytearray(frame)
    b[pos] ^= 1 << rng.randrange(8)
    out = bytes(b)
    return fix_l4_checksum(out) if keep_checksum_valid else out


def fragment_frame(rng, frame: bytes) -> list:
    """The frame's packet split into 2+ IP fragments (random IPv4 ID / IPv6
    identification), sometimes out of order; a frame too small to split is kept."""
    l3 = frame[14:]
    if l3[0] >> 4 == 4:
        if len(l3) - (l3[0] & 15) * 4 <= 64:
            return [frame]
        hdr = bytearray(l3[:(l3[0] & 15) * 4])
        hdr[4:6] = rng.getrandbits(16).to_bytes(2, "big")
        hdr[10:12] = b"\0\0"
        hdr[10:12] = inet_checksum(bytes(hdr)).to_bytes(2, "big")
        pieces = fragment4(bytes(hdr) + l3[len(hdr):], 64)
    else:
        if len(l3) - 40 <= 64 or l3[6] in (0, 43, 44, 60):
            return [frame]
        pieces = fragment6(l3, 64, ident=rng.getrandbits(32))
    if rng.random() < 0.3:
        rng.shuffle(pieces)
    return [frame[:14] + p for p in pieces]


def with_ttl1(frame: bytes) -> bytes:
    """The frame with TTL / hop limit 1 (IPv4 header checksum fixed): routing drops it."""
    b = bytearray(frame)
    if b[14] >> 4 == 4:
        b[22] = 1
        hl = (b[14] & 15) * 4
        b[24:26] = b"\0\0"
        b[24:26] = inet_checksum(bytes(b[14:14 + hl])).to_bytes(2, "big")
    else:
        b[21] = 1
    return bytes(b)


def perturb(rng, items: list, kinds=PERTURBATIONS, rate: float = 0.15) -> list:
    """Each frame, with probability ``rate``, gets one perturbation of ``kinds``."""
    out = list(items)
    i = 0
    while i < len(out):
        if rng.random() < rate:
            k = rng.choice(kinds)
            side, fr = out[i]
            if k == "loss":
                del out[i]
                continue
            if k == "reorder" and i + 1 < len(out):
                out[i], out[i + 1] = out[i + 1], out[i]
                i += 1
            elif k == "duplicate":
                out.insert(i + 1, (side, fr))
                i += 1
            elif k.startswith("corrupt"):
                out[i] = (side, corrupt(rng, fr, k == "corrupt"))
            elif k == "fragment":
                pieces = fragment_frame(rng, fr)
                out[i:i + 1] = [(side, p) for p in pieces]
                i += len(pieces) - 1
            elif k == "pad":
                out[i] = (side, fr + bytes(rng.randrange(1, 24)))
            elif k == "ttl1":
                out[i] = (side, with_ttl1(fr))
        i += 1
    return out


def interleave(rng, flows: list) -> list:
    """Merge the flows at random, keeping the order within each flow."""
    pos = [0] * len(flows)
    live = [k for k, f in enumerate(flows) if f]
    out = []
    while live:
        j = rng.randrange(len(live))
        k = live[j]
        out.append(flows[k][pos[k]])
        pos[k] += 1
        if pos[k] == len(flows[k]):
            live[j] = live[-1]
            live.pop()
    return out


def endpoints(block: int, k: int, v6: bool) -> tuple[str, str]:
    """Client/server addresses of flow ``k`` in address block ``block`` (0..255)."""
    if v6:
        return f"2001:db8:{block:x}:c::{k:x}", f"2001:db8:{block:x}:5::{k % 7:x}"
    return f"10.{block}.{k >> 8}.{k & 255}", f"172.16.{block}.{k % 7 + 1}"


def random_mix(seed: int, n_flows: int, block: int, perturb_rate: float = 0.0) -> list:
    """``n_flows`` random conversations (IPv4 and IPv6), perturbed, interleaved."""
    rng = random.Random(seed)
    flows = []
    for k in range(n_flows):
        v6 = rng.random() < 0.3
        c, s = endpoints(block, k, v6)
        items = conversation(rng, rng.choice(KINDS), c, s, 10000 + k)
        if perturb_rate:
            items = perturb(rng, items, rate=perturb_rate)
        flows.append(items)
    return interleave(rng, flows)


CHAOS_FLAGS = ("S", "S", "SA", "SA", "A", "A", "A", "PA", "PA", "FA", "R", "RA", "F", "SF", "SR", "FPU", 0, "SAE")


def chaos_tcp(rng, n_frames: int, n_tuples: int, block: int, v6: bool = False) -> list:
    """Random TCP segments on a few 4-tuples: random flags, sequence numbers near what
    each side sent and acknowledged (or anywhere), random windows and options; a stress
    test of the state machine and window checks (many frames are INVALID)."""
    convs = []
    for k in range(n_tuples):
        c, s = endpoints(block, k, v6)
        convs.append(TcpConversation(c, s, 30000 + k, 80, isn_c=rng.getrandbits(32), isn_s=rng.getrandbits(32),
                                     wscale_c=rng.choice((None, 0, 7)), wscale_s=rng.choice((None, 0, 7)),
                                     timestamps=rng.random() < 0.2))
    out = []
    for _ in range(n_frames):
        cv = rng.choice(convs)
        side = rng.choice("cs")
        fl = rng.choice(CHAOS_FLAGS)
        me, peer = cv.sides[side], cv.sides["s" if side == "c" else "c"]
        r = rng.random()
        seq = None if r < 0.6 else (me.nxt + rng.choice((-1, 1, -1000, 1000, 70000))) & 0xFFFFFFFF \
            if r < 0.9 else rng.getrandbits(32)
        r = rng.random()
        ack = None if r < 0.7 else (peer.nxt + rng.choice((-1, 1, 5000, -70000))) & 0xFFFFFFFF \
            if r < 0.9 else rng.getrandbits(32)
        win = None if rng.random() < 0.8 else rng.choice((0, 1, 512, 65535))
        payload = bytes(rng.choice((0, 0, 1, 100, 1000)))
        out.append(cv.segment(side, fl, payload, seq=seq, ack=ack, win=win, advance=rng.random() < 0.9))
    return out
