"""Random packets built and parsed by dpkt, decoded by ctscope: the fields must agree."""
import struct

import dpkt
from hypothesis import given, settings, strategies as st

from ctscope.packets import record as R
from ctscope.packets.source import decode_packets

u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
addr4 = st.binary(min_size=4, max_size=4).filter(lambda a: a[0] not in (0, 127) and a[0] < 224)
addr6 = st.binary(min_size=16, max_size=16).filter(lambda a: a[0] not in (0, 0xFE, 0xFF))

tcp_opt = st.one_of(
    st.builds(lambda v: b"\x02\x04" + struct.pack(">H", v), u16),
    st.builds(lambda v: b"\x03\x03" + bytes([v]), st.integers(0, 255)),
    st.just(b"\x04\x02"), st.just(b"\x01"),
    st.builds(lambda a, b: b"\x08\x0a" + struct.pack(">II", a, b), u32, u32),
    st.builds(lambda e: b"\x05" + bytes([2 + 8 * len(e)]) + b"".join(struct.pack(">II", x, y) for x, y in e),
              st.lists(st.tuples(u32, u32), min_size=1, max_size=3)),
)


@st.composite
def packets(draw):
    v6 = draw(st.booleans())
    proto = draw(st.sampled_from(["tcp", "udp", "icmp", "sctp"]))
    payload = draw(st.binary(max_size=64))
    if proto == "tcp":
        opts = b""
        for o in draw(st.lists(tcp_opt, max_size=4)):
            if len(opts) + len(o) <= 40:             # well-formed options only (dpkt
                opts += o                            # parses truncated ones differently)
        opts += b"\0" * (-len(opts) % 4)
        l4 = dpkt.tcp.TCP(sport=draw(u16), dport=draw(u16), seq=draw(u32), ack=draw(u32),
                          flags=draw(st.integers(0, 255)), win=draw(u16), opts=opts, data=payload)
        l4.off = (20 + len(opts)) // 4
        pnum = 6
    elif proto == "udp":
        l4 = dpkt.udp.UDP(sport=draw(u16), dport=draw(u16), data=payload)
        l4.ulen = 8 + len(payload)
        pnum = 17
    elif proto == "icmp":
        typ = draw(st.sampled_from([0, 8, 13, 3, 11]) if not v6 else st.sampled_from([128, 129, 1, 3]))
        l4 = (dpkt.icmp6.ICMP6 if v6 else dpkt.icmp.ICMP)(type=typ, code=draw(st.integers(0, 15)),
                                                          data=struct.pack(">HH", draw(u16), draw(u16)) + payload)
        pnum = 58 if v6 else 1
    else:
        raw = b""
        for _ in range(draw(st.integers(1, 3))):
            v = draw(st.binary(max_size=3)) * 4          # multiple of 4: dpkt mishandles chunk padding
            raw += struct.pack(">BBH", draw(st.integers(0, 40)), 0, 4 + len(v)) + v
        payload = raw                                   # corruption stays inside the chunks
        l4 = dpkt.sctp.SCTP(struct.pack(">HHII", draw(u16), draw(u16), draw(u32), 0) + raw)
        l4.sum = 0
        pnum = 132
    if v6:
        ip = dpkt.ip6.IP6(src=draw(addr6), dst=draw(addr6), nxt=pnum, hlim=draw(st.integers(0, 255)), data=l4)
        ip.plen = len(bytes(l4))
        if proto in ("tcp", "udp") or pnum == 58:
            l4.sum = 0
            ip.data = l4
            l4.sum = dpkt.in_cksum(ip.src + ip.dst + struct.pack(">IxxxB", len(bytes(l4)), pnum) + bytes(l4))
            if proto == "udp" and l4.sum == 0:
                l4.sum = 0xFFFF
        eth_type = 0x86DD
    else:
        ip = dpkt.ip.IP(src=draw(addr4), dst=draw(addr4), p=pnum, ttl=draw(st.integers(0, 255)), data=l4)
        ip.len = 20 + len(bytes(l4))
        eth_type = 0x0800
    eth = dpkt.ethernet.Ethernet(src=b"\2" * 6, dst=b"\4" * 6, type=eth_type, data=ip)
    frame = bytes(eth)
    corrupt = draw(st.booleans()) and len(payload) > 0
    if corrupt:
        i = len(frame) - 1 - draw(st.integers(0, len(payload) - 1))
        frame = frame[:i] + bytes([frame[i] ^ 0x40]) + frame[i + 1:]
    return frame, proto, v6, corrupt


def _sack_best(opts):
    best = None
    for kind, val in opts:
        if kind == 5 and len(val) % 8 == 0 and len(val) >= 8:
            for j in range(0, len(val), 8):
                right = struct.unpack(">I", val[j + 4:j + 8])[0]
                if best is None or 0 < ((right - best) & 0xFFFFFFFF) < 0x80000000:
                    best = right
    return best


@settings(max_examples=300, deadline=None)
@given(packets())
def test_fields_match_dpkt(pkt):
    frame, proto, v6, corrupt = pkt
    r = decode_packets([frame], path_model=False)[0]
    eth = dpkt.ethernet.Ethernet(frame)
    ip = eth.data
    assert r["skip"] == 0
    assert r["l3"] == (6 if v6 else 4)
    if v6:
        assert r["ttl"] == ip.hlim and r["proto"] == ip.nxt
        assert (int(r["src_hi"]) << 64 | int(r["src_lo"])) == int.from_bytes(ip.src, "big")
        assert (int(r["dst_hi"]) << 64 | int(r["dst_lo"])) == int.from_bytes(ip.dst, "big")
    else:
        assert r["ttl"] == ip.ttl and r["proto"] == ip.p and r["iplen"] == ip.len
        assert int(r["src_lo"]) == int.from_bytes(ip.src, "big") and int(r["dst_lo"]) == int.from_bytes(ip.dst, "big")
    l4 = ip.data
    f = int(r["pflags"])
    assert f & R.PF_L4_OK
    assert bool(f & R.PF_CSUM_BAD) == corrupt
    if proto == "tcp":
        assert (r["sport"], r["dport"], r["seq"], r["ack"]) == (l4.sport, l4.dport, l4.seq, l4.ack)
        assert (r["tcpflags"], r["win"], r["datalen"]) == (l4.flags, l4.win, len(l4.data))
        opts = dpkt.tcp.parse_opts(l4.opts)
        mss = [struct.unpack(">H", v)[0] for k, v in opts if k == 2 and len(v) == 2]
        ws = [v[0] for k, v in opts if k == 3 and len(v) == 1]
        assert r["mss"] == (mss[-1] if mss else 0)
        assert r["wscale"] == (min(ws[-1], 14) if ws else -1)
        assert bool(f & R.PF_SACK_PERM) == any(k == 4 and len(v) == 0 for k, v in opts)
        best = _sack_best(opts)
        assert bool(f & R.PF_SACK) == (best is not None)
        if best is not None:
            assert r["sack"] == best
        ts = [v for k, v in opts if k == 8 and len(v) == 8]
        if ts:
            assert (r["tsval"], r["tsecr"]) == struct.unpack(">II", ts[-1])
    elif proto == "udp":
        assert (r["sport"], r["dport"]) == (l4.sport, l4.dport)
    elif proto == "icmp":
        ident = struct.unpack(">H", bytes(l4)[4:6])[0]
        assert (r["sport"], r["dport"]) == (ident, l4.type << 8 | l4.code)
    else:
        assert (r["sport"], r["dport"], r["vtag"]) == (l4.sport, l4.dport, l4.vtag)
        types = [c.type for c in l4.chunks]
        assert r["sctp_first"] == types[0]
        assert r["chunks"] == sum({1 << t for t in types if t < 32})


def test_generator_is_not_trivial():
    """Guard: the strategy really produces corrupted and SACK-carrying packets."""
    seen = {"corrupt": 0, "sack": 0}

    @settings(max_examples=200, deadline=None)
    @given(packets())
    def collect(pkt):
        frame, proto, v6, corrupt = pkt
        seen["corrupt"] += corrupt
        r = decode_packets([frame], path_model=False)[0]
        seen["sack"] += bool(r["pflags"] & R.PF_SACK)

    collect()
    assert seen["corrupt"] > 0 and seen["sack"] > 0


@st.composite
def icmp_errors(draw):
    """ICMPv4 errors quoting a random UDP/TCP packet (header + 8 bytes), built by dpkt."""
    src, dst = draw(addr4), draw(addr4)
    inner_proto = draw(st.sampled_from([6, 17]))
    sport, dport = draw(u16), draw(u16)
    l4 = (dpkt.udp.UDP(sport=sport, dport=dport, data=b"q" * 20) if inner_proto == 17 else
          dpkt.tcp.TCP(sport=sport, dport=dport, seq=draw(u32), data=b"t" * 20))
    inner = dpkt.ip.IP(src=dst, dst=src, p=inner_proto, data=l4)
    inner.len = 20 + len(bytes(l4))
    quote = bytes(inner)[:20 + draw(st.integers(0, 8))]
    typ = draw(st.sampled_from([3, 11, 12]))
    msg = dpkt.icmp.ICMP(type=typ, code=draw(st.integers(0, 5)), data=b"\0\0\0\0" + quote)
    ip = dpkt.ip.IP(src=src, dst=dst, p=1, data=msg)
    ip.len = 20 + len(bytes(msg))
    return bytes(dpkt.ethernet.Ethernet(src=b"\2" * 6, dst=b"\4" * 6, type=0x0800, data=ip)), quote


@settings(max_examples=200, deadline=None)
@given(icmp_errors())
def test_icmp_error_inner_tuple_matches_dpkt(pkt):
    frame, quote = pkt
    r = decode_packets([frame], path_model=False)[0]
    inner = dpkt.ip.IP(quote)             # dpkt parses what it can of the quoted packet
    f = int(r["pflags"])
    assert not f & R.PF_CSUM_BAD and f & R.PF_L4_OK
    assert r["in_proto"] == inner.p
    assert int(r["in_src_lo"]) == int.from_bytes(inner.src, "big")
    assert int(r["in_dst_lo"]) == int.from_bytes(inner.dst, "big")
    if len(quote) >= 24:
        assert f & R.PF_INNER_OK and not f & R.PF_ICMP_TRUNC
        assert (r["in_sport"], r["in_dport"]) == struct.unpack(">HH", quote[20:24])
    else:
        assert f & R.PF_ICMP_TRUNC and not f & R.PF_INNER_OK
