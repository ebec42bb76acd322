"""The fast digest (``ctscope.live.digest``) gives exactly what the previous
implementation gave -- counts, top lists with the order of their ties, pairs, unique
count, ORIGINAL-tuple keys, and the same ``InputError`` for a bad line -- on generated
tables of every protocol and both address families, in the /proc, ``conntrack -L`` and
``-o extended`` formats, whole or in pieces, with duplicated lines.

``_reference_*`` below is the previous implementation, kept verbatim as the oracle."""
from __future__ import annotations

import ipaddress
import random
import re
from collections import Counter
from operator import itemgetter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctscope.errors import InputError
from ctscope.formats import Entry, Tuple, write_entries
from ctscope.formats.summary import Summary, _addr
from ctscope.live import digest as fast
from ctscope.live.digest import Digest, _scanner, _slow, detect, digest, digest_chunks
from test_formats_roundtrip import entries


@pytest.fixture(autouse=True, params=["scanner", "jit", "python"])
def path(request, monkeypatch):
    """Every comparison runs three times: the compiled scanner as commands load it (the
    ahead-of-time copy, ``ctscope.aot``, where it can be built), the same kernel under
    numba's JIT, and the Python path alone.  Without numba JIT (NUMBA_DISABLE_JIT=1)
    only the Python path."""
    if request.param != "python" and _scanner() is None:
        pytest.skip("no compiled scanner (NUMBA_DISABLE_JIT=1)")
    if request.param == "jit":
        from ctscope.live import scan_kernel, scan_table
        monkeypatch.setattr(scan_table, "_KERNEL", [scan_kernel._scan])
    monkeypatch.setattr(fast, "SCANNER", request.param != "python")
    return request.param

FORMATS = ("proc", "conntrack", "extended")

# ---------------------------------------------------------------- the previous implementation
FAST = ("proc", "conntrack", "extended")
_PORTS = frozenset(p.encode() for p in ("tcp", "udp", "udplite", "sctp", "dccp"))
# findall() row: 0 l4, 1 state, 2 "SRC dst=DST", 3 sport, 4 dport, 5 "id=N" (ICMP), 6 GRE keys.
# Only the ORIGINAL tuple is matched (the rest of the line is skipped: every group costs
# time at this scale); the flags are counted in the whole buffer, where they appear at
# most once per line.  Rows of one entry printed twice are equal (deduplication).
_ROW = re.compile(
    rb"^(?:ipv[46] +\d+ +)?"
    rb"([a-z0-9]+) +\d+ +(?:\d+ +)?(?:([A-Z][A-Z0-9_]*) +)?"
    rb"(?:timeout=\d+, stream_timeout=\d+ +)?"
    rb"src=(\S+ dst=\S+) "
    rb"(?:sport=(\d+) dport=(\d+) |type=\d+ code=\d+ (id=\d+) |(srckey=0x[0-9a-f]+ dstkey=0x[0-9a-f]+) )?"
    rb"[^\n]*\n?", re.M)
_AGG = itemgetter(0, 1, 2, 4)                # what the counts need: few distinct values
_KEY = itemgetter(0, 2, 3, 4, 5, 6)       # the ORIGINAL tuple (churn between readings)



class _RefAcc:
    """Counts of complete lines, piece by piece."""

    def __init__(self, keys: bool):
        self.combos: Counter = Counter()
        self.rows: set = set()
        self.keys: set | None = set() if keys else None
        self.total = 0
        self.flags: Counter = Counter()
        self.ok = True

    def add(self, data: bytes) -> None:
        rows = _ROW.findall(data)
        nlines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
        if len(rows) != nlines:
            self.ok = False         # the full parser decides (valid line the pattern misses, or error)
            return
        self.total += len(rows)
        self.combos.update(map(_AGG, rows))
        self.rows.update(rows)
        if self.keys is not None:
            self.keys.update(map(_KEY, rows))
        self.flags[b"unreplied"] += data.count(b" [UNREPLIED] ")
        self.flags[b"assured"] += data.count(b" [ASSURED]")
        offload = data.count(b"OFFLOAD]")
        if offload:
            hw = data.count(b"[HW_OFFLOAD]")
            self.flags[b"offload"] += offload - hw
            self.flags[b"hw_offload"] += hw

    def finish(self, pieces: list[bytes], top: int, fmt: str, name: str) -> Digest:
        """Totals and top lists; a bad field found now is located by the full parser."""
        def bad(message: str):
            _slow(b"".join(pieces), top, fmt, False, name)     # raises, naming the line
            raise InputError(message, name)

        small, srcs, dsts, pairs, src_dst = Counter(), Counter(), Counter(), Counter(), Counter()
        for (l4, state, addrs, dport), n in self.combos.items():
            src, _, dst = addrs.partition(b" dst=")
            small[l4, state, dport] += n
            srcs[src] += n
            dsts[dst] += n
            pairs[src, l4, dport] += n
            src_dst[src, dst] += n
        proto, states, ports = Counter(), Counter(), Counter()
        if any(not dport and l4 in _PORTS for l4, _, dport in small):
            bad("a line has an unreadable port tuple")
        for (l4, state, dport), n in small.items():
            proto[l4] += n
            if state:
                states[l4, state] += n
            if dport:
                ports[l4, dport] += n
        if any(len(d) > 5 or (len(d) == 5 and d > b"65535") for _, d in ports):
            bad("a line has a port out of range")
        s = Summary(total=self.total)
        s.by_proto = {k.decode(): v for k, v in proto.most_common()}
        s.by_state = {f"{p.decode()} {state.decode()}": v for (p, state), v in states.most_common()}
        f = self.flags
        s.flags = {"unreplied": f[b"unreplied"], "assured": f[b"assured"], "offload": f[b"offload"],
                   "hw_offload": f[b"hw_offload"]}
        try:
            s.top_sources = [(_addr(a), n) for a, n in srcs.most_common(top)]
            s.top_destinations = [(_addr(a), n) for a, n in dsts.most_common(top)]
            s.top_pairs = [(f"{_addr(a)} -> {_addr(b)}", n) for (a, b), n in src_dst.most_common(top)]
            top_pairs = [(_addr(a), p.decode(), int(d) if d else None, n)
                         for (a, p, d), n in pairs.most_common(top)]
        except (ValueError, UnicodeDecodeError):
            bad("a line has an invalid address")
        s.top_dports = [(f"{p.decode()}/{d.decode()}", n) for (p, d), n in ports.most_common(top)]
        s.unique = len(self.rows)
        return Digest(s, fmt, top_pairs, s.unique, frozenset(self.keys) if self.keys is not None else None)



def _reference_digest_chunks(chunks, top: int = 10, fmt: str | None = None, keys: bool = False,
                  name: str = "<table>") -> Digest:
    """``digest`` of a table arriving in pieces (complete lines are parsed as they come;
    the bytes are kept only for the full parser's error report)."""
    import gc
    acc = _RefAcc(keys)
    pieces: list[bytes] = []
    tail = b""
    enabled = gc.isenabled()
    gc.disable()           # ~10 %: hundreds of thousands of row tuples, no cycles among them
    try:
        for chunk in chunks:
            pieces.append(chunk)
            if fmt is None:
                fmt = detect(chunk) if chunk[:65536].strip() or chunk.strip() else None
                if fmt is None:
                    continue
            cut = chunk.rfind(b"\n") + 1
            if fmt in FAST and acc.ok and cut:
                acc.add(tail + chunk[:cut] if tail else chunk[:cut] if cut < len(chunk) else chunk)
                tail = chunk[cut:]
            else:
                tail += chunk
        if fmt is None or fmt == "empty":
            return Digest(Summary(), fmt or "empty", keys=frozenset() if keys else None)
        if fmt in FAST and acc.ok:
            if tail:
                acc.add(tail)
            if acc.ok:
                return acc.finish(pieces, top, fmt, name)
    finally:
        if enabled:
            gc.enable()
    return _slow(b"".join(pieces), top, fmt, keys, name)



# ---------------------------------------------------------------- helpers


def _same(a: Digest, b: Digest) -> None:
    assert a.fmt == b.fmt
    assert a.summary.as_dict() == b.summary.as_dict()      # lists: order of ties included
    assert a.pairs == b.pairs
    assert a.unique == b.unique
    assert a.keys == b.keys


def _outcome(fn, *args, **kw):
    try:
        return fn(*args, **kw)
    except InputError as exc:
        return ("InputError", str(exc))


def _check(data: bytes, top: int, keys: bool, pieces: list[bytes] | None = None, fmt=None):
    want = _outcome(_reference_digest_chunks, [data], top, fmt, keys, "t.txt")
    got = _outcome(digest, data, top, fmt, keys, "t.txt")
    if isinstance(want, tuple):
        assert got == want
    else:
        _same(got, want)
    if pieces is not None:
        got = _outcome(digest_chunks, pieces, top, fmt, keys, "t.txt")
        want = _outcome(_reference_digest_chunks, pieces, top, fmt, keys, "t.txt")
        if isinstance(want, tuple):
            assert got == want
        else:
            _same(got, want)


def _cut(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(len(data), c) for c in cuts})
    out, last = [], 0
    for p in points + [len(data)]:
        out.append(data[last:p])
        last = p
    return [p for p in out if p] or [data]


# ---------------------------------------------------------------- generated tables


@pytest.mark.parametrize("fmt", FORMATS)
@settings(max_examples=60, deadline=None)
@given(es=st.lists(entries(), min_size=1, max_size=30), data=st.data())
def test_fast_digest_is_the_previous_one(fmt, es, data):
    es = es + data.draw(st.lists(st.sampled_from(es), max_size=5))      # repeated entries
    lines = list(write_entries(es, fmt))
    lines += data.draw(st.lists(st.sampled_from(lines), max_size=5))      # repeated lines
    text = ("\n".join(lines) + data.draw(st.sampled_from(["\n", ""]))).encode()
    top = data.draw(st.integers(1, 6))
    keys = data.draw(st.booleans())
    cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=4))
    _check(text, top, keys, _cut(text, cuts))


def _many(n: int, seed: int, v6: bool = False) -> list[Entry]:
    """Entries with many ties: few sources/destinations/ports, every protocol."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        l4 = rnd.choice(["tcp", "udp", "icmp", "gre", "sctp", "udplite", "dccp", "unknown"])
        fam6 = v6 and rnd.random() < 0.5
        src = str(ipaddress.ip_address(("2001:db8::%x" if fam6 else "10.0.0.%d") % rnd.randrange(1, 9)))
        dst = str(ipaddress.ip_address(("2001:db8:1::%x" if fam6 else "10.1.0.%d") % rnd.randrange(1, 5)))
        if l4 == "icmp" and fam6:
            l4 = "icmpv6"
        num = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58, "gre": 47, "sctp": 132, "udplite": 136,
               "dccp": 33, "unknown": 99}[l4]
        e = Entry(orig=Tuple(src, dst), reply=Tuple(dst, src), l3="ipv6" if fam6 else "ipv4",
                  l3num=10 if fam6 else 2, l4=l4, l4num=num)
        if l4 in ("tcp", "udp", "udplite", "sctp", "dccp"):
            e.orig.sport, e.orig.dport = rnd.randrange(1024, 1034), rnd.choice([22, 53, 80, 443])
            e.reply.sport, e.reply.dport = e.orig.dport, e.orig.sport
        elif l4 in ("icmp", "icmpv6"):
            e.orig.type, e.orig.code, e.orig.id = 8, rnd.choice([0, 1]), rnd.randrange(3)
            e.reply.type, e.reply.code, e.reply.id = 0, e.orig.code, e.orig.id
        elif l4 == "gre":
            e.orig.srckey, e.orig.dstkey = rnd.randrange(3), rnd.randrange(3)
            e.reply.srckey, e.reply.dstkey = e.orig.dstkey, e.orig.srckey
            if rnd.random() < 0.5:
                e.gre_timeout, e.gre_stream_timeout = 30, 180
        e.timeout = rnd.randrange(1, 432000)
        if l4 == "tcp":
            e.state = rnd.choice(["ESTABLISHED", "SYN_SENT", "TIME_WAIT", None])
        elif l4 == "sctp":
            e.state = rnd.choice(["ESTABLISHED", "CLOSED", None])
        e.assured = rnd.random() < 0.5
        e.unreplied = not e.assured and rnd.random() < 0.5
        e.offload = rnd.random() < 0.05
        e.hw_offload = rnd.random() < 0.05
        e.mark = rnd.choice([None, 0, 7])
        e.zone = rnd.choice([None, 0, 3])
        e.secctx = rnd.choice([None, "system_u:object_r:unlabeled_t:s0"])
        if rnd.random() < 0.3:
            e.orig_packets, e.orig_bytes, e.reply_packets, e.reply_bytes = 1, 60, 1, 60
        out.append(e)
    return out


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("v6", [False, True])
@pytest.mark.parametrize("top", [1, 3, 10, 1000])
def test_ties_and_every_protocol(fmt, v6, top):
    es = _many(3000, 7 + top, v6)
    lines = list(write_entries(es, fmt))
    lines += lines[100:400]                      # a dump that restarted
    text = ("\n".join(lines) + "\n").encode()
    _check(text, top, False, _cut(text, [1, 5000, 77777, 200000]))
    _check(text, top, True)


def test_more_than_one_slice(monkeypatch):
    monkeypatch.setattr(fast, "_SLICE", 1000, raising=False)     # many slices in one piece
    text = ("\n".join(write_entries(_many(4000, 3, True), "proc")) + "\n").encode()
    _check(text, 10, False, [text[:123456], text[123456:]])
    _check(text, 5, True)


# ---------------------------------------------------------------- errors and odd inputs

GOOD = ("ipv4     2 tcp      6 431999 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=1000 dport=80 "
        "src=10.0.0.2 dst=10.0.0.1 sport=80 dport=1000 [ASSURED] mark=0 zone=0 use=2")


@pytest.mark.parametrize("bad", [
    GOOD.replace("dport=80 ", "dport=99999 ", 1),               # port out of range
    GOOD.replace("src=10.0.0.1", "src=10.0.0.300", 1),          # invalid address (top list)
    GOOD.replace("sport=1000 dport=80 ", "", 1),                # no ports on TCP
    GOOD.replace("tcp      6", "TCP      6"),                   # the pattern does not know it
    "garbage",
    "",                                                         # empty line inside the table
    "ipv4     2 udp      17 29 src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 [UNREPLIED] "
    "src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1 mark=0 zone=0 use=2",   # valid, for contrast
])
@pytest.mark.parametrize("where", [0, 5, 9])
def test_bad_line_same_error(bad, where):
    lines = [GOOD.replace("sport=1000", f"sport={1000 + i}") for i in range(10)]
    lines.insert(where, bad)
    text = ("\n".join(lines) + "\n").encode()
    _check(text, 10, False, _cut(text, [len(text) // 2]))
    _check(text, 10, True)


@pytest.mark.parametrize("text", [b"", b"\n", b"\n\n", GOOD.encode(), (GOOD + "\n").encode(),
                                  (GOOD + "\r\n" + GOOD + "\n").encode(),
                                  (GOOD + "\n\n").encode()])
def test_edges(text):
    _check(text, 10, False, [text[:1], text[1:]] if len(text) > 1 else None)
    _check(text, 10, True)


def test_error_names_the_line():
    lines = [GOOD.replace("sport=1000", f"sport={1000 + i}") for i in range(10)]
    lines[6] = lines[6].replace("dport=80 ", "dport=99999 ", 1)
    with pytest.raises(InputError) as exc:
        digest(("\n".join(lines) + "\n").encode(), name="t.txt")
    assert "t.txt" in str(exc.value) and "7" in str(exc.value)


# ---------------------------------------------------------------- the compiled scanner itself
# (the tests above give the same answers with it on and off; these check that it really
# reads the tables it should, and gives up -- so the Python path decides -- where a key
# would no longer be the exact text)


def _scan(text: bytes, top: int = 10, fmt: str = "proc"):
    from ctscope.live.scan_table import scan
    return scan(text, top, fmt)


@pytest.mark.parametrize("path", ["scanner", "jit"], indirect=True)     # compiled scanner only
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("v6", [False, True])
def test_scanner_reads_every_protocol(path, fmt, v6):
    lines = list(write_entries(_many(2000, 11, v6), fmt))
    text = ("\n".join(lines + lines[:50]) + "\n").encode()
    got = _scan(text, 7, fmt)
    assert got is not None                  # read, not handed back
    _same(got, _reference_digest_chunks([text], 7, fmt, False, "t.txt"))


def _v6_line(src: str, dst: str = "2001:db8::2", extra: str = "") -> str:
    return (f"ipv6     10 tcp      6 300 ESTABLISHED src={src} dst={dst} sport=1 dport=443 "
            f"src={dst} dst={src} sport=443 dport=1 [ASSURED]{extra} mark=0 zone=0 use=2")


# canonical texts: the kernel (/proc: %pI6, uncompressed), inet_ntop and ipaddress
# (compressed, longest zero run first, an IPv4-mapped or -compatible tail dotted)
CANONICAL = ["::", "::1", "2001:db8::1", "2001:db8:0:1:0:0:0:1".replace(":0:0:0:", "::"),
             "1::", "1:0:0:1::", "fe80::5efe:10.0.0.1", "::ffff:1.2.3.4", "::ffff:0.0.0.0",
             "::1.2.3.4", "::0.0.0.1", "::ffff:102:304", "1:2:3:4:5:6:7:8", "2001:db8:0:1:1:1:1:1",
             "2001:0db8:0000:0000:0000:0000:0000:0001", "0000:0000:0000:0000:0000:0000:0000:0000",
             "0000:0000:0000:0000:0000:ffff:0102:0304"]
# not canonical (another text of the same number, or invalid): the scanner gives up
ODD = ["2001:db8:0:0::1", "2001:DB8::1", "0:0:0:0:0:0:0:1", "2001:db8::0:1",
       "2001:db8:0::1", "1::2:0:0:0:3", "02001:db8::1", "2001:db8::1::2", ":1::", "1:2:3:4:5:6:7:8:9",
       "1:2:3:4:5:6:7", "::ffff:1.2.3.04", "::ffff:1.2.3", "1.2.3.4:5::", "10.0.0.01", "10.0.0.256",
       "2001:db8:::1", "1:2:3:4:5:6:7::", "::1:2:3:4:5:6:7", "2001:0db8:0000:0000:0000:0000:0000:001"]


@pytest.mark.parametrize("top", [1, 3, 20])
def test_ipv6_text_forms(path, top):
    """Every canonical form is read; the same number in two texts stays two keys (as text
    keys do), in the order of first appearance."""
    lines = []
    for i, a in enumerate(CANONICAL * 2 + ["2001:db8::1", "2001:0db8:0000:0000:0000:0000:0000:0001"]):
        lines.append(_v6_line(a, CANONICAL[(i * 7) % len(CANONICAL)]))
    lines.append(GOOD)
    text = ("\n".join(lines) + "\n").encode()
    _check(text, top, False, _cut(text, [len(text) // 3]))
    if path == "scanner":
        assert _scan(text, top) is not None
    got = digest(text, top)
    texts = set(CANONICAL) | {"10.0.0.1"}
    assert len(got.summary.top_sources) == min(top, len(texts))       # a key per text
    assert got.summary.top_sources[0] == ("2001:db8::1", 3)


@pytest.mark.parametrize("odd", ODD)
def test_odd_address_gives_up(path, odd):
    text = ("\n".join([_v6_line("2001:db8::1"), _v6_line(odd), GOOD]) + "\n").encode()
    _check(text, 10, False)
    if path == "scanner":
        assert _scan(text) is None
        assert _scan(text.replace(odd.encode(), b"2001:db8::7")) is not None


@pytest.mark.parametrize("line", [
    GOOD.replace("dport=80 ", "dport=080 ", 1),                 # same port, another text
    GOOD.replace("sport=1000 ", "sport=01000 ", 1),
    GOOD.replace("tcp      6", "tcpxxxxxxxxx 6"),               # name longer than packed
    GOOD.replace("ESTABLISHED", "ESTABLISHEDESTABLISHED"),
    GOOD.replace("src=10.0.0.1 dst", "src=10.0.0.1  dst", 1),
    GOOD.replace("dport=80 ", "dport=80\t", 1),
    GOOD.replace("dport=80 ", "dport=65536 ", 1),
    GOOD.replace("tcp      6", "udp      17").replace("sport=1000 dport=80 ", "", 1),
])
def test_odd_line_gives_up(path, line):
    text = ("\n".join([GOOD, line, GOOD.replace("sport=1000", "sport=7")]) + "\n").encode()
    _check(text, 10, False)
    if path == "scanner":
        assert _scan(text) is None


@pytest.mark.parametrize("tail", ["", " [UNREPLIED] [UNREPLIED] x", " [HW_OFFLOAD] [OFFLOAD]",
                                  " xOFFLOAD] [ASSURED][ASSURED]", " [UNREPLIED] [UNREPLIED] [UNREPLIED] "])
def test_flags_counted_like_bytes_count(path, tail):
    lines = [GOOD + tail, GOOD.replace("[ASSURED]", "[UNREPLIED]") + tail, GOOD]
    text = ("\n".join(lines)).encode()
    _check(text, 10, False)
    if path == "scanner":
        got = _scan(text)
        assert got is not None
        assert got.summary.flags["unreplied"] == text.count(b" [UNREPLIED] ")
