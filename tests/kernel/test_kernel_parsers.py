"""Offline checks of the harness's private readers (no root needed)."""
from __future__ import annotations

import socket
import struct

from ctscope.kernel import ctnl
from ctscope.kernel.table import canon, parse_proc, parse_proc_stat, validate

PROC = """\
ipv4     2 tcp      6 431999 ESTABLISHED src=127.0.0.1 dst=127.0.0.1 sport=46386 dport=8000 packets=2 bytes=112 src=127.0.0.1 dst=127.0.0.1 sport=8000 dport=46386 packets=1 bytes=60 [ASSURED] mark=0 zone=0 delta-time=0 use=2
ipv4     2 gre      47 29 timeout=30, stream_timeout=180 src=10.9.0.1 dst=10.9.0.2 srckey=0x0 dstkey=0x1f [UNREPLIED] src=10.9.0.2 dst=10.9.0.1 srckey=0x1f dstkey=0x0 mark=0 zone=0 use=2
ipv4     2 unknown  253 600 src=10.9.0.1 dst=10.9.0.2 [UNREPLIED] src=10.9.0.2 dst=10.9.0.1 mark=7 zone=3 use=2
ipv6     10 icmpv6   58 29 src=0000:0000:0000:0000:0000:0000:0000:0001 dst=2001:0db8:0000:0000:0000:0000:0000:0002 type=128 code=0 id=4660 src=2001:0db8:0000:0000:0000:0000:0000:0002 dst=0000:0000:0000:0000:0000:0000:0000:0001 type=129 code=0 id=4660 mark=0 zone=0 use=2
"""

STAT = """\
entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
00000004  00000001 00000000 00000000 0000000a 00000000 00000000 00000000 00000000 00000000 00000002 00000003 00000001  00000000 00000000 00000000 00000000
00000004  00000000 00000000 00000000 00000005 00000000 00000000 00000002 00000000 00000000 00000000 00000004 00000000  00000000 00000000 00000000 00000001
"""


def test_parse_proc_lines():
    tcp, gre, gen, icmp6 = parse_proc(PROC)
    assert (tcp["state"], tcp["timeout"], tcp["flags"]) == ("ESTABLISHED", 431999, ["ASSURED"])
    assert tcp["orig"] == {"src": "127.0.0.1", "dst": "127.0.0.1", "sport": 46386, "dport": 8000,
                           "packets": 2, "bytes": 112}
    assert gre["orig"]["dport"] == 0x1F and gre["flags"] == ["UNREPLIED"] and gre["state"] is None
    assert (gen["proto"], gen["protonum"], gen["mark"], gen["zone"]) == ("unknown", 253, 7, 3)
    assert icmp6["orig"]["src"] == "::1" and icmp6["reply"]["type"] == 129 and icmp6["orig"]["id"] == 4660


def test_parse_proc_stat_sums_cpus_and_renames():
    tot, entries = parse_proc_stat(STAT)
    assert entries == 4
    assert tot == {"found": 0, "invalid": 15, "insert": 0, "insert_failed": 0, "drop": 2, "early_drop": 7,
                   "error": 1, "search_restart": 1, "clash_resolve": 1, "chaintoolong": 2}


def test_validate_flags_duplicates_and_count_mismatch():
    entries = parse_proc(PROC)
    assert validate(entries, 4) == []
    assert any("duplicate" in p for p in validate(entries + entries[:1], 5))
    assert any("nf_conntrack_count" in p for p in validate(entries, 5))
    other = canon(entries)[1:]
    assert validate(entries, 4, other)


def test_raw_ctnetlink_decoder_roundtrip():
    key = (6, socket.inet_aton("10.0.0.1"), socket.inet_aton("10.0.0.2"), 1234, 80)
    rkey = (6, socket.inet_aton("10.0.0.2"), socket.inet_aton("10.0.0.1"), 80, 1234)
    orig = ctnl.tuple_attr(key)
    reply = ctnl.tuple_attr(rkey)
    reply = struct.pack("HH", struct.unpack_from("HH", reply)[0], 2 | ctnl.NESTED) + reply[4:]
    status = struct.pack("HH", 8, 3) + struct.pack("!I", 0x0E)        # SEEN_REPLY|ASSURED|CONFIRMED
    timeout = struct.pack("HH", 8, 7) + struct.pack("!I", 431999)
    tcp_state = struct.pack("HH", 5, 1) + b"\x03\0\0\0"
    proto = struct.pack("HH", 4 + len(tcp_state), 1 | ctnl.NESTED) + tcp_state
    protoinfo = struct.pack("HH", 4 + len(proto), 4 | ctnl.NESTED) + proto
    buf = orig + reply + status + timeout + protoinfo
    e = ctnl.decode(buf, 0, len(buf), socket.AF_INET)
    assert e["orig"] == {"src": "10.0.0.1", "dst": "10.0.0.2", "sport": 1234, "dport": 80}
    assert e["reply"]["sport"] == 80 and e["protonum"] == 6 and e["proto"] == "tcp"
    assert (e["state"], e["flags"], e["timeout"]) == ("ESTABLISHED", ["ASSURED"], 431999)


def test_bulk_fill_frames_equal_the_general_builders():
    from ctscope.craft import eth, ipv4, tcp
    from ctscope.kernel.fill import fill_client, handshake_frames
    got = handshake_frames(50, "assured", first=65530)          # crosses a port step
    for k in range(50):
        i = 65530 + k
        cip, cport = fill_client(i)
        want = [("c", eth(ipv4(cip, "198.19.0.1", tcp(cport, 80, "S", 1000 + i, 0, 64240, [("mss", 1460)])))),
                ("s", eth(ipv4("198.19.0.1", cip, tcp(80, cport, "SA", 7_000_000 + i, 1001 + i, 65160,
                                                        [("mss", 1460)])))),
                ("c", eth(ipv4(cip, "198.19.0.1", tcp(cport, 80, "A", 1001 + i, 7_000_001 + i, 64240))))]
        assert got[3 * k:3 * k + 3] == want
    assert [s for s, _ in handshake_frames(3, "unassured")] == ["c", "c", "c"]
