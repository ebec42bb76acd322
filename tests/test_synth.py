"""ctscope.synth: determinism, the mix, checksums, TCP sequence tracking, the profiles.

Captures are read back with dpkt, independently of the generator's own tables.
"""
import io
import os
from collections import Counter, defaultdict

import dpkt
import numpy as np
import pytest

from ctscope import synth
from ctscope.synth import mix as mixmod
from ctscope.synth import spec as sp

SMALL = dict(duration=3.0)


def pcap_bytes(rows, seed=0, ns=True):
    buf = io.BytesIO()
    synth.write_pcap(buf, rows, seed=seed, ns=ns)
    return buf.getvalue()


def frames(data):
    return list(dpkt.pcap.Reader(io.BytesIO(data)))


@pytest.fixture(scope="module")
def mix_rows():
    return synth.generate("mix", packets=60_000, seed=7)


@pytest.fixture(scope="module")
def mix_pcap(mix_rows):
    return pcap_bytes(mix_rows, seed=7)


# --- determinism --------------------------------------------------------------------

@pytest.mark.parametrize("profile", synth.PROFILE_NAMES)
def test_same_seed_same_bytes_other_seed_other_bytes(profile):
    kw = dict(packets=3000) if profile == "mix" else dict(packets=3000, duration=5.0)
    a = pcap_bytes(synth.generate(profile, seed=1, **kw), seed=1)
    b = pcap_bytes(synth.generate(profile, seed=1, **kw), seed=1)
    c = pcap_bytes(synth.generate(profile, seed=2, **kw), seed=2)
    assert a == b
    assert a != c


# --- the benchmark mix ----------------------------------------------------------------

def classify(rows):
    """Kind of every session, from its frames only."""
    kinds = {}
    order = np.argsort(rows["sid"], kind="stable")
    sids = rows["sid"][order]
    bounds = np.flatnonzero(np.diff(sids)) + 1
    for grp in np.split(order, bounds):
        r = rows[grp]
        lay, app, flags = r["layout"], r["app"], r["flags"]
        if (lay == sp.LAYOUT_ICMP_ECHO).any():
            kind = "icmp"
        elif ((app == sp.APP_DNS_Q) | (app == sp.APP_DNS_R)).any():
            kind = "dns"
        elif (lay == sp.LAYOUT_UDP).any():
            kind = "oneway"
        elif (lay == sp.LAYOUT_TCP_MSS).any():
            kind = "scan"
        elif ((flags == sp.TH_SYN | sp.TH_ACK) | ((flags & sp.TH_SYN) == 0) & ((flags & sp.TH_RST) == 0)).any():
            kind = "tcp"
        else:
            kind = "failed"
        kinds[int(r["sid"][0])] = (kind, int(r["l3"][0]), _opens(r[0]))
    return kinds


def _opens(first):
    """Does the session's first frame open it (so it started inside the capture)?"""
    if first["layout"] in (sp.LAYOUT_TCP, sp.LAYOUT_TCP_SYN, sp.LAYOUT_TCP_MSS):
        return bool(first["flags"] & sp.TH_SYN) and not first["flags"] & sp.TH_ACK
    if first["layout"] == sp.LAYOUT_ICMP_ECHO:
        return first["dport"] == 1 and first["dir"] == 0
    return first["dir"] == 0 and first["app"] != sp.APP_DNS_R


def test_mix_size_duration_and_frame_mean(mix_rows):
    assert len(mix_rows) == 60_000
    assert np.all(np.diff(mix_rows["ts"]) >= 0)
    span = (mix_rows["ts"][-1] - mix_rows["ts"][0]) / 1e9
    assert 17.0 < span <= 18.0                       # 300 s per million packets
    from ctscope.synth.pcap import frame_lengths
    assert 690 < frame_lengths(mix_rows).mean() < 790
    assert frame_lengths(mix_rows).max() == 1514


def test_mix_session_proportions(mix_rows):
    """Sessions that start inside the capture (longer ones are over-represented among
    those already running when it starts)."""
    kinds = {sid: v for sid, v in classify(mix_rows).items() if v[2]}
    n = len(kinds)
    count = Counter(k for k, _, _ in kinds.values())
    share = {k: count[k] / n for k in mixmod.TYPES}
    expect = dict(zip(mixmod.TYPES, mixmod.WEIGHTS))
    for k in ("tcp", "dns", "oneway", "icmp"):
        assert abs(share[k] - expect[k]) < 0.25 * expect[k] + 0.01, (k, share[k], expect[k])
    assert 0.015 < share["failed"] < 0.05
    assert 0.0005 < share["scan"] < 0.012
    v6 = sum(1 for _, l3, _ in kinds.values() if l3 == 6) / n
    assert 0.17 < v6 < 0.23


def test_mix_concurrency_follows_the_target():
    """About C sessions active at a time (sessions counted from first to last frame)."""
    def active(rows):
        sid = rows["sid"]
        n = sid.max() + 1
        lo = np.full(n, np.iinfo(np.int64).max)
        hi = np.zeros(n, dtype=np.int64)
        np.minimum.at(lo, sid, rows["ts"])
        np.maximum.at(hi, sid, rows["ts"])
        seen = lo <= hi
        return (hi[seen] - lo[seen]).sum() / rows["ts"][-1]
    # sessions cut by the capture's edges are counted short: expect somewhat less than C
    low = active(synth.generate("mix", packets=60_000, duration=60.0, seed=3, concurrency=150))
    high = active(synth.generate("mix", packets=60_000, duration=60.0, seed=3, concurrency=500))
    assert 110 < low < 180
    assert 330 < high < 560


# --- checksums ----------------------------------------------------------------------------

def checksum_errors(data):
    """(frames, errors): IPv4 header and L4 checksums recomputed by dpkt."""
    bad = total = 0
    for _ts, buf in frames(data):
        total += 1
        ip = dpkt.ethernet.Ethernet(buf).data
        l4 = ip.data
        want = l4.sum
        l4.sum = 0
        if isinstance(ip, dpkt.ip.IP):
            want_ip = ip.sum
            ip.sum = 0
            again = dpkt.ip.IP(bytes(ip))
            bad += again.sum != want_ip
        else:
            again = dpkt.ip6.IP6(bytes(ip))
        bad += again.data.sum != want
    return total, bad


@pytest.mark.parametrize("profile", synth.PROFILE_NAMES)
def test_checksums_verified_by_dpkt(profile):
    kw = dict(packets=4000) if profile == "mix" else dict(packets=4000, duration=5.0)
    data = pcap_bytes(synth.generate(profile, seed=5, **kw), seed=5)
    total, bad = checksum_errors(data)
    assert total == 4000 and bad == 0


def test_checksum_check_catches_a_flipped_byte(mix_rows):
    data = bytearray(pcap_bytes(mix_rows[:50], seed=7))
    data[24 + 16 + 60] ^= 0x20                      # inside the first frame's L4 part
    assert checksum_errors(bytes(data))[1] == 1


def test_protocol_layers_decode(mix_pcap):
    seen = Counter()
    for _ts, buf in frames(mix_pcap)[:20000]:
        ip = dpkt.ethernet.Ethernet(buf).data
        l4 = ip.data
        seen[type(l4).__name__] += 1
        if isinstance(l4, dpkt.udp.UDP) and 53 in (l4.sport, l4.dport):
            msg = dpkt.dns.DNS(l4.data)
            assert len(msg.qd) == 1 and msg.qd[0].name.endswith(".example.com")
            assert len(msg.an) == (1 if l4.sport == 53 else 0)
    assert {"TCP", "UDP", "ICMP", "ICMP6"} <= set(seen)


def test_timestamp_resolution():
    rows = synth.generate("syn-flood", duration=0.01, seed=1)
    ns = frames(pcap_bytes(rows, ns=True))
    us = frames(pcap_bytes(rows, ns=False))
    assert pcap_bytes(rows)[:4] == bytes.fromhex("4d3cb2a1")
    assert pcap_bytes(rows, ns=False)[:4] == bytes.fromhex("d4c3b2a1")
    for (a, _), (b, _), t in zip(ns, us, rows["ts"]):
        assert abs(float(a) - t / 1e9) < 1e-6 and abs(float(b) - (t // 1000) / 1e6) < 1e-6


# --- TCP: sequence numbers and kernel-style window tracking -------------------------------------

def wscale_of(tcp):
    for kind, val in dpkt.tcp.parse_opts(tcp.opts):
        if kind == dpkt.tcp.TCP_OPT_WSCALE:
            return val[0]
    return None


def tcp_flows(data):
    flows = defaultdict(list)
    for _ts, buf in frames(data):
        ip = dpkt.ethernet.Ethernet(buf).data
        tcp = ip.data
        if not isinstance(tcp, dpkt.tcp.TCP):
            continue
        a, b = (ip.src, tcp.sport), (ip.dst, tcp.dport)
        flows[min(a, b), max(a, b)].append(((ip.src, tcp.sport), tcp))
    return flows


def check_connection(packets):
    """Replay one connection through a simplified ``tcp_in_window()``; returns problems."""
    orig = packets[0][0]
    side = [dict(end=None, maxend=0, maxwin=0, scale=0, nxt=None) for _ in range(2)]
    problems = []
    for src, tcp in packets:
        d = 0 if src == orig else 1
        snd, rcv = side[d], side[1 - d]
        syn, fin = bool(tcp.flags & dpkt.tcp.TH_SYN), bool(tcp.flags & dpkt.tcp.TH_FIN)
        end = (tcp.seq + len(tcp.data) + syn + fin) & 0xFFFFFFFF
        if syn:
            ws = wscale_of(tcp)
            snd.update(end=end, nxt=end, maxwin=max(tcp.win, 1), scale=ws or 0)
            snd["maxend"] = end
            if d == 1 and tcp.ack != side[0]["nxt"]:
                problems.append("SYN/ACK does not acknowledge the SYN")
            continue
        if snd["nxt"] is None:
            problems.append("data before a SYN")
            continue
        if tcp.flags & dpkt.tcp.TH_RST:
            if tcp.seq != snd["nxt"]:
                problems.append("RST out of sequence")
            continue
        if tcp.seq != snd["nxt"]:
            problems.append(f"dir {d}: seq {tcp.seq} != next {snd['nxt']}")
        if ((snd["maxend"] - tcp.seq) & 0xFFFFFFFF) > 1 << 31:            # seq after maxend
            problems.append(f"dir {d}: seq beyond the receiver's window")
        if rcv["end"] is not None and ((rcv["end"] - tcp.ack) & 0xFFFFFFFF) > 1 << 31:
            problems.append(f"dir {d}: ack {tcp.ack} of data never sent")
        snd["nxt"] = snd["end"] = end
        win = tcp.win << snd["scale"]
        snd["maxwin"] = max(snd["maxwin"], win)
        edge = (tcp.ack + win) & 0xFFFFFFFF
        if 0 < ((edge - rcv["maxend"]) & 0xFFFFFFFF) < 1 << 31:         # after(): mod 2**32
            rcv["maxend"] = edge
    return problems


def test_tcp_seq_ack_and_windows_per_flow(mix_pcap):
    flows = tcp_flows(mix_pcap)
    checked = 0
    for pkts in flows.values():
        first = pkts[0][1]
        answered = any(t.flags & dpkt.tcp.TH_SYN and t.flags & dpkt.tcp.TH_ACK for _, t in pkts)
        if not (first.flags == dpkt.tcp.TH_SYN and answered):
            continue                       # cut at the capture start, refused, scans
        assert check_connection(pkts) == []
        checked += 1
    assert checked > 500


def test_tcp_handshake_options():
    rows = synth.generate("http-no-keepalive", duration=0.5, seed=2)
    for _src, tcp in next(iter(tcp_flows(pcap_bytes(rows)).values()))[:2]:
        opts = dict(dpkt.tcp.parse_opts(tcp.opts))
        assert dpkt.tcp.TCP_OPT_MSS in opts and dpkt.tcp.TCP_OPT_SACKOK in opts
        assert opts[dpkt.tcp.TCP_OPT_WSCALE] == b"\x07"


# --- the profiles produce what they claim --------------------------------------------------------

def test_http_no_keepalive_closes_every_connection_with_fins():
    rows = synth.generate("http-no-keepalive", rate=100, duration=5.0, seed=4)
    flows = tcp_flows(pcap_bytes(rows))
    assert len(flows) == 500
    for pkts in flows.values():
        assert check_connection(pkts) == []
        assert all(80 in (t.sport, t.dport) for _, t in pkts)
        assert not any(t.flags & dpkt.tcp.TH_RST for _, t in pkts)
        fins = [(src, t) for src, t in pkts if t.flags & dpkt.tcp.TH_FIN]
        assert len(fins) == 2 and fins[0][0] != fins[1][0]
        assert fins[0][1].sport == 80                       # the server closes first
        for src, fin in fins:                               # each FIN acknowledged by the peer
            fin_end = (fin.seq + len(fin.data) + 1) & 0xFFFFFFFF
            assert any(s != src and t.ack == fin_end for s, t in pkts)
        assert sum(1 for _, t in pkts if t.data[:4] == b"GET ") == 1


def test_dns_resolver_queries_and_upstream():
    rows = synth.generate("dns-resolver", rate=500, duration=4.0, seed=4)
    queries = answers = upstream = 0
    for _ts, buf in frames(pcap_bytes(rows)):
        ip = dpkt.ethernet.Ethernet(buf).data
        udp = ip.data
        assert isinstance(udp, dpkt.udp.UDP) and 53 in (udp.sport, udp.dport)
        msg = dpkt.dns.DNS(udp.data)
        resolver_src = ip.src in (bytes([10, 255, 0, 53]), bytes.fromhex("fd00" + "00" * 13 + "53"))
        if msg.qr == dpkt.dns.DNS_Q:
            queries += 1
            upstream += resolver_src
        else:
            answers += 1
    assert queries == 2000 + upstream
    assert 0.25 * 2000 < upstream < 0.35 * 2000
    assert queries - answers == pytest.approx(0.03 * upstream, abs=15)


def test_syn_flood_is_spoofed_syns_to_one_port():
    rows = synth.generate("syn-flood", rate=2000, duration=1.0, seed=4)
    sources = set()
    for _ts, buf in frames(pcap_bytes(rows)):
        ip = dpkt.ethernet.Ethernet(buf).data
        assert ip.data.flags == dpkt.tcp.TH_SYN and ip.data.dport == 80
        assert ip.dst == bytes([203, 0, 113, 10])
        sources.add(ip.src)
    assert len(sources) > 1990


def test_udp_scan_probes_and_port_unreachables():
    rows = synth.generate("udp-scan", rate=1000, duration=2.0, seed=4)
    probes, errors = set(), 0
    for _ts, buf in frames(pcap_bytes(rows)):
        ip = dpkt.ethernet.Ethernet(buf).data
        if isinstance(ip.data, dpkt.udp.UDP) and ip.data.sport == 53535:
            probes.add((ip.dst, ip.data.dport))
        elif isinstance(ip.data, dpkt.icmp.ICMP):
            assert (ip.data.type, ip.data.code) == (3, 3)
            inner = ip.data.data.data                       # the quoted probe
            assert (inner.dst, inner.data.dport) in probes and inner.src == ip.dst
            errors += 1
    assert len(probes) == 2000
    assert 0.5 * 2000 < errors < 0.7 * 2000


def test_gateway_has_many_clients_and_every_kind():
    rows = synth.generate("gateway", rate=400, duration=5.0, seed=4)
    kinds = Counter(k for k, _, _ in classify(rows).values())
    assert {"tcp", "dns", "oneway", "icmp", "failed"} <= set(kinds)
    clients = np.unique(rows["src_lo"][rows["dir"] == 0])
    assert len(clients) > 1200


# --- the command -------------------------------------------------------------------------------

def test_command_writes_the_same_bytes_atomically(tmp_path, capsys):
    from ctscope.cli import main
    out = tmp_path / "scan.pcap"
    assert main(["synth", "udp-scan", "--duration", "1", "--seed", "9", "--out", str(out)]) == 0
    rows = synth.generate("udp-scan", duration=1.0, seed=9)
    assert out.read_bytes() == pcap_bytes(rows, seed=9)
    assert f"{len(rows):,} frames" in capsys.readouterr().err
    assert main(["synth", "mix", "--packets", "0", "--out", str(tmp_path / "x.pcap")]) == 2
    assert sorted(os.listdir(tmp_path)) == ["scan.pcap"]
