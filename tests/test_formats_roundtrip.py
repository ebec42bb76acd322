"""Round trips: generated entries written in every format and read back; real lines
(captured from Linux 6.18.44 / conntrack-tools 1.4.7) re-written byte for byte."""
import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctscope.formats import (FORMATS, Entry, Tuple, detect_format, format_conntrack, format_entry,
                             format_event, format_proc, format_xml_flow, normalize, parse_line,
                             parse_xml_flow, read_entries, write_entries)
from ctscope.formats.entry import L4_NAMES
from ctscope.engine.layout import SCTP_STATE_NAMES, TCP_STATE_NAMES

u16 = st.integers(0, 65535)
u32 = st.integers(0, 2**32 - 1)
small = st.none() | st.integers(0, 2**40)
word = st.text("abcdefghijklmnopqrstuvwxyz0123456789_:-", min_size=1, max_size=12)
GENERIC = st.integers(0, 255).filter(lambda n: n not in L4_NAMES)


@st.composite
def entries(draw):
    v6 = draw(st.booleans())
    if v6:
        addr = st.builds(lambda n: str(ipaddress.IPv6Address(n)), st.integers(0, 2**128 - 1))
        l3, l3num = "ipv6", 10
    else:
        addr = st.builds(lambda n: str(ipaddress.IPv4Address(n)), u32)
        l3, l3num = "ipv4", 2
    l4num = draw(st.sampled_from(sorted(L4_NAMES)) | GENERIC)
    l4 = L4_NAMES.get(l4num, "unknown")
    a, b = draw(addr), draw(addr)
    o, r = Tuple(a, b), Tuple(b, a)
    e = Entry(orig=o, reply=r, l3=l3, l3num=l3num, l4=l4, l4num=l4num)
    if l4 in ("tcp", "udp", "udplite", "sctp", "dccp"):
        o.sport, o.dport = draw(u16), draw(u16)
        r.sport, r.dport = draw(u16), draw(u16)
    elif l4 in ("icmp", "icmpv6"):
        o.type, o.code, o.id = draw(st.integers(0, 255)), draw(st.integers(0, 255)), draw(u16)
        r.type, r.code, r.id = draw(st.integers(0, 255)), o.code, o.id
    elif l4 == "gre":
        o.srckey, o.dstkey, r.srckey, r.dstkey = (draw(u16) for _ in range(4))
        if draw(st.booleans()):
            e.gre_timeout, e.gre_stream_timeout = draw(u32), draw(u32)
    e.timeout = draw(st.none() | u32)
    if l4 == "tcp":
        e.state = draw(st.none() | st.sampled_from(TCP_STATE_NAMES))
    elif l4 == "sctp":
        e.state = draw(st.none() | st.sampled_from(SCTP_STATE_NAMES))
    if draw(st.booleans()):
        e.orig_packets, e.orig_bytes = draw(st.integers(0, 2**63)), draw(st.integers(0, 2**63))
    if draw(st.booleans()):
        e.reply_packets, e.reply_bytes = draw(st.integers(0, 2**63)), draw(st.integers(0, 2**63))
    e.zone_orig, e.zone_reply, e.zone = draw(st.none() | u16), draw(st.none() | u16), draw(st.none() | u16)
    e.unreplied, e.assured = draw(st.booleans()), draw(st.booleans())
    e.offload, e.hw_offload = draw(st.booleans()), draw(st.booleans())
    e.mark, e.secmark = draw(st.none() | u32), draw(st.none() | u32)
    e.secctx, e.helper = draw(st.none() | word), draw(st.none() | word)
    e.delta_time, e.use, e.id = draw(small), draw(st.none() | u32), draw(st.none() | u32)
    e.event = draw(st.none() | st.sampled_from(["NEW", "UPDATE", "DESTROY"]))
    e.event_usec = draw(st.none() | st.integers(0, 2**52))
    if draw(st.booleans()):
        e.userspace = f"portid={draw(u32)} progname={draw(word)}"
    return e


def _parse(text: str, fmt: str) -> Entry:
    got = list(read_entries(text.splitlines(), fmt))
    assert len(got) == 1
    return got[0]


@pytest.mark.parametrize("fmt", FORMATS)
@settings(max_examples=150, deadline=None)
@given(e=entries())
def test_round_trip_every_format(fmt, e):
    text = "\n".join(write_entries([e], fmt))
    assert _parse(text, fmt) == normalize(e, fmt)


@settings(max_examples=150, deadline=None)
@given(e=entries())
def test_writing_a_read_line_gives_the_same_bytes(e):
    for line, again in ((format_proc(e), format_proc), (format_conntrack(e), format_conntrack),
                        (format_conntrack(e, True), lambda x: format_conntrack(x, True)),
                        (format_xml_flow(e), format_xml_flow)):
        parsed = parse_xml_flow(line) if line.startswith("<flow") else parse_line(line)
        assert again(parsed) == line


@settings(max_examples=100, deadline=None)
@given(es=st.lists(entries(), min_size=1, max_size=5))
def test_detector_names_the_writer(es):
    for fmt in ("conntrack", "xml", "jsonl", "events"):
        assert detect_format(list(write_entries(es, fmt))) == fmt
    e = es[0]
    e.zone = 0
    assert detect_format([format_proc(e)]) == "proc"


# --- real output, byte for byte ------------------------------------------------------
PROC = """\
ipv4     2 icmp     1 30 src=127.0.0.1 dst=127.0.0.1 type=8 code=0 id=4660 packets=1 bytes=28 [UNREPLIED] src=127.0.0.1 dst=127.0.0.1 type=0 code=0 id=4660 packets=0 bytes=0 mark=7 zone=0 delta-time=0 use=2
ipv6     10 udp      17 29 src=0000:0000:0000:0000:0000:0000:0000:0001 dst=0000:0000:0000:0000:0000:0000:0000:0001 sport=38742 dport=6000 packets=1 bytes=49 [UNREPLIED] src=0000:0000:0000:0000:0000:0000:0000:0001 dst=0000:0000:0000:0000:0000:0000:0000:0001 sport=6000 dport=38742 packets=0 bytes=0 mark=7 zone=0 delta-time=0 use=2
ipv4     2 tcp      6 431999 ESTABLISHED src=127.0.0.1 dst=127.0.0.1 sport=49686 dport=8000 packets=3 bytes=166 src=127.0.0.1 dst=127.0.0.1 sport=8000 dport=49686 packets=2 bytes=112 [ASSURED] mark=7 zone=0 delta-time=0 use=2
ipv4     2 udp      17 30 src=127.0.0.1 dst=127.0.0.1 sport=32908 dport=7000 packets=1 bytes=29 [UNREPLIED] src=127.0.0.1 dst=127.0.0.1 sport=7000 dport=32908 packets=0 bytes=0 mark=7 zone=3 delta-time=0 use=2
ipv4     2 gre      47 29 timeout=30, stream_timeout=180 src=10.9.0.1 dst=10.9.0.2 srckey=0x0 dstkey=0x0 [UNREPLIED] src=10.9.0.2 dst=10.9.0.1 srckey=0x0 dstkey=0x0 mark=0 zone=0 use=2
ipv4     2 unknown  253 600 src=10.9.0.1 dst=10.9.0.2 [UNREPLIED] src=10.9.0.2 dst=10.9.0.1 mark=0 zone=0 use=2
"""
LIST = """\
tcp      6 119 TIME_WAIT src=127.0.0.1 dst=127.0.0.1 sport=46386 dport=8000 packets=6 bytes=325 src=127.0.0.1 dst=127.0.0.1 sport=8000 dport=46386 packets=5 bytes=274 [ASSURED] mark=0 delta-time=1 use=1
udp      17 29 src=::1 dst=::1 sport=5000 dport=6000 [UNREPLIED] src=::1 dst=::1 sport=6000 dport=5000 mark=0 delta-time=0 use=1
unknown  253 599 src=10.9.0.1 dst=10.9.0.2 src=10.9.0.2 dst=10.9.0.1 mark=0 use=1
udp      17 29 src=127.0.0.1 dst=127.0.0.1 sport=32908 dport=7000 packets=1 bytes=29 [UNREPLIED] src=127.0.0.1 dst=127.0.0.1 sport=7000 dport=32908 packets=0 bytes=0 mark=7 zone=3 delta-time=0 use=1
"""
EXTENDED_ID = """\
ipv6     10 icmpv6   58 29 src=::1 dst=::1 type=128 code=0 id=4660 packets=1 bytes=48 src=::1 dst=::1 type=129 code=0 id=4660 packets=1 bytes=48 mark=7 delta-time=0 use=1 id=3767323757
"""
EVENTS = """\
[1795652454.060608]\t    [NEW] ipv4     2 tcp      6 120 SYN_SENT src=127.0.0.1 dst=127.0.0.1 sport=52074 dport=8000 [UNREPLIED] src=127.0.0.1 dst=127.0.0.1 sport=8000 dport=52074
[1795652454.060679]\t [UPDATE] ipv4     2 tcp      6 432000 ESTABLISHED src=127.0.0.1 dst=127.0.0.1 sport=52074 dport=8000 src=127.0.0.1 dst=127.0.0.1 sport=8000 dport=52074 [ASSURED]
[1795652454.573257]\t[DESTROY] ipv6     10 udp      17 29 src=::1 dst=::1 sport=38250 dport=6000 packets=1 bytes=49 [UNREPLIED] src=::1 dst=::1 sport=6000 dport=38250 packets=0 bytes=0 delta-time=0 [USERSPACE] portid=2414379851 progname=conntrack
"""
EVENTS_PLAIN = """\
    [NEW] tcp      6 120 SYN_SENT src=10.9.0.1 dst=10.9.0.2 sport=33003 dport=80 [UNREPLIED] src=10.9.0.2 dst=10.9.0.1 sport=80 dport=33003
 [UPDATE] tcp      6 10 CLOSE src=10.9.0.1 dst=10.9.0.2 sport=33003 dport=80 src=10.9.0.2 dst=10.9.0.1 sport=80 dport=33003 [ASSURED]
"""
XML = """\
<?xml version="1.0" encoding="utf-8"?>
<conntrack>
<flow><meta direction="original"><layer3 protonum="2" protoname="ipv4"><src>127.0.0.1</src><dst>127.0.0.1</dst></layer3><layer4 protonum="1" protoname="icmp"></layer4><counters><packets>1</packets><bytes>28</bytes></counters></meta><meta direction="reply"><layer3 protonum="2" protoname="ipv4"><src>127.0.0.1</src><dst>127.0.0.1</dst></layer3><layer4 protonum="1" protoname="icmp"></layer4><counters><packets>0</packets><bytes>0</bytes></counters></meta><meta direction="independent"><timeout>29</timeout><mark>7</mark><use>1</use><id>3911887770</id><unreplied/><deltatime>0</deltatime></meta></flow>
<flow><meta direction="original"><layer3 protonum="2" protoname="ipv4"><src>127.0.0.1</src><dst>127.0.0.1</dst></layer3><layer4 protonum="6" protoname="tcp"><sport>49686</sport><dport>8000</dport></layer4><counters><packets>3</packets><bytes>166</bytes></counters></meta><meta direction="reply"><layer3 protonum="2" protoname="ipv4"><src>127.0.0.1</src><dst>127.0.0.1</dst></layer3><layer4 protonum="6" protoname="tcp"><sport>8000</sport><dport>49686</dport></layer4><counters><packets>2</packets><bytes>112</bytes></counters></meta><meta direction="independent"><state>ESTABLISHED</state><timeout>431999</timeout><mark>7</mark><use>1</use><id>1960262468</id><assured/><deltatime>0</deltatime></meta></flow>
<flow><meta direction="original"><layer3 protonum="2" protoname="ipv4"><src>127.0.0.1</src><dst>127.0.0.1</dst></layer3><layer4 protonum="17" protoname="udp"><sport>32908</sport><dport>7000</dport></layer4><counters><packets>1</packets><bytes>29</bytes></counters></meta><meta direction="reply"><layer3 protonum="2" protoname="ipv4"><src>127.0.0.1</src><dst>127.0.0.1</dst></layer3><layer4 protonum="17" protoname="udp"><sport>7000</sport><dport>32908</dport></layer4><counters><packets>0</packets><bytes>0</bytes></counters></meta><meta direction="independent"><timeout>29</timeout><mark>7</mark><zone>3</zone><use>1</use><id>2526471036</id><unreplied/><deltatime>0</deltatime></meta></flow>
<flow type="new"><meta direction="original"><layer3 protonum="10" protoname="ipv6"><src>::1</src><dst>::1</dst></layer3><layer4 protonum="17" protoname="udp"><sport>38250</sport><dport>6000</dport></layer4></meta><meta direction="reply"><layer3 protonum="10" protoname="ipv6"><src>::1</src><dst>::1</dst></layer3><layer4 protonum="17" protoname="udp"><sport>6000</sport><dport>38250</dport></layer4></meta><meta direction="independent"><timeout>30</timeout><id>2481693329</id><unreplied/></meta></flow>
</conntrack>
"""


@pytest.mark.parametrize("text,fmt,writer", [
    (PROC, "proc", format_proc),
    (LIST, "conntrack", format_conntrack),
    (EXTENDED_ID, "extended", lambda e: format_conntrack(e, True)),
    (EVENTS, "events", lambda e: format_event(e, True)),
    (EVENTS_PLAIN, "events", format_event),
])
def test_real_lines_byte_exact(text, fmt, writer):
    lines = text.splitlines()
    assert detect_format(lines) == fmt
    got = list(read_entries(lines))
    assert [writer(e) for e in got] == lines


def test_real_xml_byte_exact():
    lines = XML.splitlines()
    assert detect_format(lines) == "xml"
    got = list(read_entries(lines))
    assert list(write_entries(got, "xml")) == lines
    assert got[2].zone == 3 and got[3].event == "NEW" and got[0].orig.type is None


def test_parsed_fields():
    e = parse_line(PROC.splitlines()[1])
    assert (e.l3, e.l4, e.timeout, e.unreplied, e.mark, e.zone, e.use) == ("ipv6", "udp", 29, True, 7, 0, 2)
    assert e.orig.src == "::1" and e.orig.dport == 6000 and e.reply.sport == 6000
    assert (e.orig_packets, e.orig_bytes, e.reply_packets, e.reply_bytes) == (1, 49, 0, 0)
    g = parse_line(PROC.splitlines()[4])
    assert (g.gre_timeout, g.gre_stream_timeout, g.orig.srckey) == (30, 180, 0)
    x = parse_line(EXTENDED_ID.strip())
    assert x.orig.id == 4660 and x.id == 3767323757
    ev = parse_line(EVENTS.splitlines()[2])
    assert ev.event == "DESTROY" and ev.event_usec == 1795652454573257 and ev.userspace.startswith("portid=")
    # proc -> conntrack -L: compressed IPv6, zone 0 dropped
    assert format_conntrack(parse_line(PROC.splitlines()[1])).startswith("udp      17 29 src=::1 dst=::1 ")
    assert " zone=" not in format_conntrack(parse_line(PROC.splitlines()[0]))


def test_seed_line_from_a_26_kernel():
    line = ("ipv4 2 tcp 6 44 TIME_WAIT src=220.181.43.108 dst=221.206.12.110 sport=50721 dport=54321 "
            "src=221.206.12.110 dst=220.181.43.108 sport=54321 dport=50721 [ASSURED] mark=0 secmark=0 use=2")
    e = parse_line(line)
    assert (e.state, e.assured, e.secmark, e.use, e.zone) == ("TIME_WAIT", True, 0, 2, None)
    assert format_entry(e, "proc") == line.replace("ipv4 2 tcp 6", "ipv4     2 tcp      6")


def test_detector_proc_or_extended_on_several_lines():
    ext = [parse_line(x) for x in PROC.splitlines()]
    for e in ext:
        e.use = 1
    lines = [format_conntrack(e, True) for e in ext]
    zone3 = [x for x in lines if " zone=3 " in x]
    assert zone3 and detect_format(zone3 + lines) == "extended"   # a non-zero zone first
    assert detect_format(PROC.splitlines()[3:]) == "proc"
    seed = ("ipv4     2 tcp      6 44 TIME_WAIT src=220.181.43.108 dst=221.206.12.110 sport=50721 "
            "dport=54321 src=221.206.12.110 dst=220.181.43.108 sport=54321 dport=50721 [ASSURED] "
            "mark=0 secmark=0 use=2")
    assert detect_format([seed, seed]) == "proc"
