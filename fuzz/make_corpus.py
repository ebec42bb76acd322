"""Regenerate the seed corpora in fuzz/corpus/<target>/ (small, deterministic files).

    python -m fuzz.make_corpus

Seeds are valid inputs of every shape each parser knows (link types, pcapng blocks,
fragments, every table format, real rulesets from tests/data/rules, ...); atheris and
the mutation loop start from them.  Files the fuzzers add later (new coverage, crash
reproducers) live next to them.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CORPUS = os.path.join(HERE, "corpus")
A, B, A6, B6 = "10.0.0.1", "10.0.0.2", "2001:db8::1", "2001:db8::2"


def _frames():
    from ctscope.packets.pcapwrite import icmp, ipv4, ipv6, tcp, udp
    inner = ipv4(B, A, 6, tcp(B, A, 80, 1234))
    frag_payload = udp(A, B, 5000, 53, b"q" * 40)
    hbh = bytes([44, 0]) + b"\0" * 6
    return {
        "tcp_syn": ipv4(A, B, 6, tcp(A, B, 1234, 80, seq=1, options=b"\x02\x04\x05\xb4\x04\x02\x01\x03\x03\x07")),
        "tcp_synack": ipv4(B, A, 6, tcp(B, A, 80, 1234, seq=9, ack=2, flags=0x12)),
        "tcp_ack": ipv4(A, B, 6, tcp(A, B, 1234, 80, seq=2, ack=10, flags=0x10, payload=b"GET /")),
        "tcp_rst": ipv4(A, B, 6, tcp(A, B, 1234, 80, seq=7, flags=0x04)),
        "udp": ipv4(A, B, 17, udp(A, B, 5000, 53, b"dns?")),
        "udplite": ipv4(A, B, 136, udp(A, B, 5000, 53, b"lite", proto=136)),
        "icmp_echo": ipv4(A, B, 1, icmp(8, 0, 7, 1, b"ping")),
        "icmp_err": ipv4(B, A, 1, icmp(3, 3, payload=inner)),
        "gre": ipv4(A, B, 47, b"\x30\x01\x88\x0b\0\x10\xbe\xef"),
        "sctp": ipv4(A, B, 132, b"\0\1\0\2\0\0\0\3\0\0\0\0\1\0\0\x14" + b"\0" * 16),
        "frag1": ipv4(A, B, 17, frag_payload[:24], ident=77, flags_frag=0x2000, tot_len=44),
        "frag2": ipv4(A, B, 17, frag_payload[24:], ident=77, flags_frag=3),
        "v6_udp": ipv6(A6, B6, 17, udp(A6, B6, 1, 2, b"x")),
        "v6_tcp": ipv6(A6, B6, 6, tcp(A6, B6, 1, 2)),
        "v6_icmp": ipv6(A6, B6, 58, icmp(128, 0, 1, 1, v6_addrs=(A6, B6))),
        "v6_ext": ipv6(A6, B6, 0, bytes([60, 0]) + b"\0" * 6 + bytes([17, 0]) + b"\0" * 6 + udp(A6, B6, 1, 2)),
        "v6_frag": ipv6(A6, B6, 44, bytes([17, 0, 0, 1, 0, 0, 0, 9]) + udp(A6, B6, 1, 2)),
        "v6_frag_a": ipv6(A6, B6, 44, bytes([17, 0, 0, 1, 0, 0, 0, 10]) + udp(A6, B6, 1, 2, b"y" * 16)[:16]),
        "v6_frag_b": ipv6(A6, B6, 44, bytes([17, 0, 0, 16, 0, 0, 0, 10]) + udp(A6, B6, 1, 2, b"y" * 16)[16:]),
        "v6_icmp_err": ipv6(B6, A6, 58, icmp(1, 4, payload=ipv6(A6, B6, 0, hbh + udp(A6, B6, 1, 2)),
                                             v6_addrs=(B6, A6))),
    }


def captures() -> dict[str, bytes]:
    from ctscope.packets.pcapwrite import PcapngWriter, PcapWriter, ether
    fr = _frames()
    out = {}

    def pcap(name, linktype, frames, wrap=lambda f: f, **kw):
        bio = io.BytesIO()
        w = PcapWriter(bio, linktype=linktype, **kw)
        for i, f in enumerate(frames):
            w.write(wrap(f), ts_ns=1_700_000_000_000_000_000 + i * 1_000_000)
        out[name] = bio.getvalue()

    tcpflow = [fr[k] for k in ("tcp_syn", "tcp_synack", "tcp_ack", "tcp_rst")]
    pcap("eth_tcp.pcap", 1, tcpflow, ether)
    pcap("eth_mixed_ns_be.pcap", 1, [fr[k] for k in ("udp", "icmp_echo", "icmp_err", "gre", "sctp", "udplite")],
         ether, nsec=True, big=True)
    pcap("eth_vlan.pcap", 1, [fr["udp"], fr["v6_udp"]], lambda f: ether(f, vlans=(0x8100, 0x88A8)))
    pcap("eth_frag.pcap", 1, [fr["frag1"], fr["frag2"]], ether)
    pcap("raw_v6.pcap", 101, [fr[k] for k in ("v6_udp", "v6_tcp", "v6_icmp", "v6_ext", "v6_frag",
                                              "v6_frag_a", "v6_frag_b", "v6_icmp_err")])
    pcap("ipv4_lt228.pcap", 228, [fr["udp"], fr["tcp_syn"]])
    pcap("null_lt0.pcap", 0, [fr["udp"], fr["v6_udp"]], lambda f: struct.pack("<I", 2 if f[0] >> 4 == 4 else 30) + f)
    pcap("loop_lt108.pcap", 108, [fr["udp"]], lambda f: struct.pack(">I", 2) + f)
    sll = lambda f: struct.pack(">HHH8sH", 4, 1, 6, b"\x02" * 6 + b"\0\0", 0x0800 if f[0] >> 4 == 4 else 0x86DD) + f
    pcap("sll_lt113.pcap", 113, [fr["udp"], fr["v6_tcp"]], sll)
    sll2 = lambda f: struct.pack(">HHIHBB8s", 0x0800 if f[0] >> 4 == 4 else 0x86DD, 0, 3, 1, 0, 6, b"\x02" * 6 + b"\0\0") + f
    pcap("sll2_lt276.pcap", 276, [fr["udp"], fr["v6_tcp"], fr["tcp_syn"]], sll2)
    pcap("snapcut.pcap", 1, [ether(fr["tcp_ack"])[:40]], snaplen=40)
    # pcapng: two interfaces, options, EPB with flags, SPB
    bio = io.BytesIO()
    w = PcapngWriter(bio)
    w.interface(1, name="eth0", tsresol=9)
    w.interface(101, name="tun0", tsresol=0x80 | 20, tsoffset=5)
    w.epb(0, ether(fr["tcp_syn"]), 1_700_000_000_000_000_000)
    w.epb(1, fr["v6_udp"], 1 << 40, flags=2)
    w.epb(0, ether(fr["frag1"]), 1_700_000_000_000_100_000)
    w.epb(0, ether(fr["frag2"]), 1_700_000_000_000_200_000)
    out["ng_two_ifaces.pcapng"] = bio.getvalue()
    bio = io.BytesIO()
    w = PcapngWriter(bio, big=True)
    w.interface(1)
    w.spb(ether(fr["udp"]))
    w.block(5, b"\0" * 8)        # an ISB: a block the reader skips
    out["ng_be_spb.pcapng"] = bio.getvalue()
    return out


TABLE_LINES = [
    "ipv4     2 tcp      6 431999 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=49686 dport=80 packets=3 bytes=166 "
    "src=10.0.0.2 dst=10.0.0.1 sport=80 dport=49686 packets=2 bytes=112 [ASSURED] mark=0 zone=0 use=2",
    "ipv4     2 udp      17 29 src=10.0.0.1 dst=10.0.0.3 sport=5353 dport=53 [UNREPLIED] src=10.0.0.3 dst=10.0.0.1 "
    "sport=53 dport=5353 mark=0 zone=3 use=2",
    "ipv6     10 icmpv6   58 29 src=2001:0db8:0000:0000:0000:0000:0000:0001 dst=2001:0db8:0000:0000:0000:0000:0000:0002 "
    "type=128 code=0 id=7 src=2001:0db8:0000:0000:0000:0000:0000:0002 dst=2001:0db8:0000:0000:0000:0000:0000:0001 "
    "type=129 code=0 id=7 mark=0 zone=0 use=2",
    "ipv4     2 gre      47 29 timeout=30, stream_timeout=180 src=10.9.0.1 dst=10.9.0.2 srckey=0x0 dstkey=0x0 "
    "[UNREPLIED] src=10.9.0.2 dst=10.9.0.1 srckey=0x0 dstkey=0x0 mark=0 zone=0 use=2",
    "ipv4     2 sctp     132 3 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 src=10.0.0.2 dst=10.0.0.1 "
    "sport=2 dport=1 [ASSURED] mark=0 zone=0 use=2",
]
LIST_LINES = [
    "tcp      6 119 TIME_WAIT src=127.0.0.1 dst=127.0.0.1 sport=46386 dport=8000 packets=6 bytes=325 src=127.0.0.1 "
    "dst=127.0.0.1 sport=8000 dport=46386 packets=5 bytes=274 [ASSURED] mark=0 delta-time=1 use=1",
    "udp      17 29 src=::1 dst=::1 sport=5000 dport=6000 [UNREPLIED] src=::1 dst=::1 sport=6000 dport=5000 mark=0 use=1",
    "unknown  253 599 src=10.9.0.1 dst=10.9.0.2 src=10.9.0.2 dst=10.9.0.1 mark=0 use=1",
    "icmp     1 29 src=10.0.0.1 dst=10.0.0.2 type=8 code=0 id=9 src=10.0.0.2 dst=10.0.0.1 type=0 code=0 id=9 mark=0 use=1 id=3767323757",
]
EXT_LINES = ["ipv4     2 " + LIST_LINES[0], "ipv6     10 " + LIST_LINES[1]]
EVENT_LINES = [
    "[1795652454.060608]\t    [NEW] ipv4     2 tcp      6 120 SYN_SENT src=127.0.0.1 dst=127.0.0.1 sport=52074 "
    "dport=8000 [UNREPLIED] src=127.0.0.1 dst=127.0.0.1 sport=8000 dport=52074",
    "[1795652454.573257]\t[DESTROY] ipv6     10 udp      17 29 src=::1 dst=::1 sport=38250 dport=6000 packets=1 "
    "bytes=49 [UNREPLIED] src=::1 dst=::1 sport=6000 dport=38250 packets=0 bytes=0 delta-time=0 [USERSPACE] "
    "portid=2414379851 progname=conntrack",
    " [UPDATE] tcp      6 10 CLOSE src=10.9.0.1 dst=10.9.0.2 sport=33003 dport=80 src=10.9.0.2 dst=10.9.0.1 "
    "sport=80 dport=33003 [ASSURED]",
]
XML_TEXT = """<?xml version="1.0" encoding="utf-8"?>
<conntrack>
<flow><meta direction="original"><layer3 protonum="2" protoname="ipv4"><src>127.0.0.1</src><dst>127.0.0.1</dst></layer3><layer4 protonum="6" protoname="tcp"><sport>49686</sport><dport>8000</dport></layer4><counters><packets>3</packets><bytes>166</bytes></counters></meta><meta direction="reply"><layer3 protonum="2" protoname="ipv4"><src>127.0.0.1</src><dst>127.0.0.1</dst></layer3><layer4 protonum="6" protoname="tcp"><sport>8000</sport><dport>49686</dport></layer4><counters><packets>2</packets><bytes>112</bytes></counters></meta><meta direction="independent"><state>ESTABLISHED</state><timeout>431999</timeout><mark>7</mark><use>1</use><id>1960262468</id><assured/><deltatime>0</deltatime></meta></flow>
<flow type="new"><meta direction="original"><layer3 protonum="10" protoname="ipv6"><src>::1</src><dst>::1</dst></layer3><layer4 protonum="17" protoname="udp"><sport>38250</sport><dport>6000</dport></layer4></meta><meta direction="reply"><layer3 protonum="10" protoname="ipv6"><src>::1</src><dst>::1</dst></layer3><layer4 protonum="17" protoname="udp"><sport>6000</sport><dport>38250</dport></layer4></meta><meta direction="independent"><timeout>30</timeout><zone>3</zone><id>2481693329</id><unreplied/></meta></flow>
<flow><meta direction="original"><layer3 protonum="2" protoname="ipv4"><src>10.0.0.1</src><dst>10.0.0.2</dst></layer3><layer4 protonum="47" protoname="gre"><srckey>0x1</srckey><dstkey>0x2</dstkey></layer4></meta><meta direction="reply"><layer3 protonum="2" protoname="ipv4"><src>10.0.0.2</src><dst>10.0.0.1</dst></layer3><layer4 protonum="47" protoname="gre"><srckey>0x2</srckey><dstkey>0x1</dstkey></layer4></meta><meta direction="independent"><timeout>30</timeout></meta></flow>
</conntrack>
"""
STAT_PROC = ("entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop "
             "icmp_error  expect_new expect_create expect_delete search_restart\n"
             "0000002a  00000000 00000000 00000000 00000003 00000000 00000000 00000000 00000000 00000000 0000000c "
             "00000028 00000000  00000000 00000000 00000000 00000001\n"
             "0000002a  00000001 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 "
             "00000000 00000000  00000000 00000000 00000000 00000000\n")
STAT_S = ("cpu=0   \tfound=0 invalid=3 insert=0 insert_failed=0 drop=12 early_drop=40 error=0 search_restart=1 "
          "clash_resolve=0 chaintoolong=0 \n"
          "cpu=1   \tfound=2 invalid=0 insert=0 insert_failed=1 drop=0 early_drop=0 error=0 search_restart=0 \n")


def formats() -> dict[str, dict[str, bytes]]:
    enc = lambda lines: ("\n".join(lines) + "\n").encode()
    from ctscope.formats.jsonl import format_json
    from ctscope.formats.text import parse_line
    jl = [format_json(parse_line(s, "x")) for s in TABLE_LINES + LIST_LINES]
    return {
        "table_text": {"proc.txt": enc(TABLE_LINES), "list.txt": enc(LIST_LINES + [
            "conntrack v1.4.7 (conntrack-tools): 4 flow entries have been shown."]),
                       "extended.txt": enc(EXT_LINES), "events.txt": enc(EVENT_LINES),
                       "jsonl.txt": enc(jl[:3])},
        "table_xml": {"flows.xml": XML_TEXT.encode()},
        "table_json": {"entries.jsonl": enc(jl)},
        "stats": {"proc_stat.txt": STAT_PROC.encode(), "conntrack_S.txt": STAT_S.encode()},
    }


def snapshots() -> dict[str, bytes]:
    snap = {"kind": "ctscope-snapshot", "version": 1, "time": 1795652454.0, "hostname": "h", "kernel": "6.18.0",
            "netns_inode": 4026531840, "netns": "",
            "sysctl": {"values": {"nf_conntrack_count": 5, "nf_conntrack_max": 8192, "nf_conntrack_buckets": 2048,
                                  "nf_conntrack_tcp_timeout_time_wait": 120}, "hashsize": 2048},
            "stat": {"entries": 5, "totals": {"found": 0, "invalid": 3, "insert": 0, "insert_failed": 0, "drop": 12,
                                              "early_drop": 40, "error": 0, "search_restart": 0,
                                              "clash_resolve": 0, "chaintoolong": 0}, "cpus": 2},
            "stat_problems": [],
            "table_text": "\n".join(TABLE_LINES) + "\n",
            "kernel_log": {"table_full": 2, "by_netns": {}, "suppressed": 0,
                           "events": [{"usec": 1, "netns": None, "message": "nf_conntrack: table full, dropping packet"}]},
            "problems": [{"what": "slab", "why": "permission denied"}]}
    small = {"kind": "ctscope-snapshot", "version": 1, "sysctl": {"values": {}}}
    return {"snapshot.json": json.dumps(snap).encode(), "minimal.json": json.dumps(small).encode(),
            "proc_table.txt": ("\n".join(TABLE_LINES) + "\n").encode(),
            "list_table.txt": ("\n".join(LIST_LINES) + "\n").encode()}


NFT_EXTRA = b"""table inet ct {
  set web { type ipv4_addr . inet_service; flags interval; elements = { 10.0.0.0/8 . 80-443 } }
  define ports = { 53, 123 }
  chain pre { type filter hook prerouting priority raw; policy accept;
    iifname "eth0" udp dport $ports notrack
    ip saddr != 192.168.0.0/16 tcp flags & (syn|ack) == syn ct zone set 3
    ip6 daddr fe80::/10 meta l4proto icmpv6 accept
    ip daddr 10.0.0.0/8 tcp dport 80-443 jump sub
    fib daddr type local counter drop
  }
  chain sub { meta mark set 0x1 return }
  chain out { type filter hook output priority -300; ct state untracked accept; }
}
"""
IPT_EXTRA = b"""*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:SUB - [0:0]
-A PREROUTING -i eth0 -p udp -m multiport --dports 53,123:125 -j NOTRACK
-A PREROUTING ! -s 192.168.0.0/16 -p tcp --tcp-flags SYN,ACK SYN -j CT --zone 3
-A PREROUTING -d 10.0.0.0/8 -p tcp --dport 80 -g SUB
-A SUB -m mark --mark 0x1/0xff -j RETURN
-A OUTPUT -p icmp --icmp-type 8 -j CT --notrack
COMMIT
*filter
:INPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate INVALID -j DROP
COMMIT
"""


def rules() -> dict[str, dict[str, bytes]]:
    data = os.path.join(ROOT, "tests", "data", "rules")
    nft, ipt, ipset = {"extra.nft": NFT_EXTRA}, {"extra.save": IPT_EXTRA}, {}
    if os.path.isdir(data):
        for f in sorted(os.listdir(data)):
            raw = open(os.path.join(data, f), "rb").read()
            if f.endswith(".nft"):
                nft[f] = raw
            elif f.endswith(".save"):
                ipt[f] = raw
            elif f.endswith(".ipset"):
                ipset[f] = raw
    ipset["small.ipset"] = (b"create S hash:net family inet hashsize 1024 maxelem 65536\nadd S 10.0.0.0/8\n"
                            b"add S 10.1.0.0/16 nomatch\ncreate T hash:ip,port family inet6\nadd T 2001:db8::1,udp:53\n"
                            b"create L list:set size 8\nadd L S\n")
    return {"rules_nft": nft, "rules_iptables": ipt, "rules_ipset": ipset}


def misc() -> dict[str, dict[str, bytes]]:
    return {
        "sysctl": {
            "sysctl.conf": b"# comment\n; comment\nnet.netfilter.nf_conntrack_max = 8192\n"
                           b"-net.netfilter.nf_conntrack_tcp_timeout_time_wait=30\nnet.nf_conntrack_max=9000\n"
                           b"net.ipv4.ip_forward = 1\nnet.netfilter.nf_conntrack_tcp_loose = 0\n",
            "sysctl-a.txt": b"net.netfilter.nf_conntrack_buckets = 65536\nnet.netfilter.nf_conntrack_count = 12\n"
                            b"net.netfilter.nf_conntrack_udp_timeout_stream = 120\n"
                            b"net.netfilter.nf_conntrack_frag6_high_thresh = 4194304\n",
        },
        "rates": {
            "tcp.txt": b"tcp:5000/s,lifetime=2s,close=fin,dport=80",
            "mix.txt": b"udp:2k/s,reply=yes,dport=53\nicmp:10/s\ntcp:1.5M/s,lifetime=500ms,close=rst,reply=no",
            "none.txt": b"tcp:100/s,close=none,lifetime=5m",
        },
        "scenarios": {
            "two.toml": b'[[scenario]]\nname = "big"\ndescription = "bigger table"\n'
                        b'set = { nf_conntrack_max = 262144, nf_conntrack_buckets = 65536 }\n\n'
                        b'[[scenario]]\nname = "short-tw"\nset = { nf_conntrack_tcp_timeout_time_wait = 30 }\n'
                        b'replace_rules = false\n',
        },
    }


def all_seeds() -> dict[str, dict[str, bytes]]:
    caps = captures()
    seeds = {"pcap": caps, "replay": caps,
             "pcap_gzip": {k + ".gz": gzip.compress(v, 6, mtime=0) for k, v in list(caps.items())[::3]},
             "snapshot": snapshots()}
    seeds.update(formats())
    seeds.update(rules())
    seeds.update(misc())
    return seeds


def main() -> int:
    total = 0
    for target, files in all_seeds().items():
        d = os.path.join(CORPUS, target)
        os.makedirs(d, exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(d, "seed-" + name), "wb") as fh:
                fh.write(data)
            total += len(data)
    print(f"wrote seeds ({total:,} bytes) to {CORPUS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
