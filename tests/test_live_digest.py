"""Property tests of the live parsers: the fast digest agrees with the full parsers on
generated tables of every format, the list prefilter never loses a matching line, the
filters agree with a brute-force reading, and snapshot / table files round-trip."""
from __future__ import annotations

import ipaddress
import json
from argparse import Namespace
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctscope.errors import InputError
from ctscope.formats import normalize, read_entries, write_entries
from ctscope.live.digest import digest
from ctscope.live.filters import filter_from_args
from ctscope.live.inputs import load_input
from ctscope.live.listing import prefilter
from test_formats_roundtrip import PROC, entries

TABLE_FORMATS = ("proc", "conntrack", "extended", "xml", "jsonl")


def _expected(es, fmt):
    es = [normalize(e, fmt) for e in es]
    srcs = Counter(e.orig.src for e in es)
    ports = Counter(f"{e.l4}/{e.orig.dport}" for e in es if e.orig.dport is not None)
    states = Counter(f"{e.l4} {e.state}" for e in es if e.state)
    pairs = Counter((e.orig.src, e.l4, e.orig.dport) for e in es)
    flags = {"unreplied": sum(e.unreplied for e in es), "assured": sum(e.assured for e in es),
             "offload": sum(e.offload for e in es), "hw_offload": sum(e.hw_offload for e in es)}
    return srcs, ports, states, pairs, flags, Counter(e.l4 for e in es)


@pytest.mark.parametrize("fmt", TABLE_FORMATS)
@settings(max_examples=40, deadline=None)
@given(es=st.lists(entries(), min_size=1, max_size=25))
def test_digest_agrees_with_the_full_parser(fmt, es):
    data = ("\n".join(write_entries(es, fmt)) + "\n").encode()
    d = digest(data, top=1000, fmt=fmt)
    srcs, ports, states, pairs, flags, protos = _expected(es, fmt)
    s = d.summary
    assert s.total == len(es) and s.by_proto == dict(protos) and s.by_state == dict(states)
    assert dict(s.top_sources) == dict(srcs) and dict(s.top_dports) == dict(ports)
    assert {(a, p, dp): n for a, p, dp, n in d.pairs} == dict(pairs)
    if fmt != "xml":                 # xml carries no offload flags
        assert s.flags == flags
    assert 1 <= d.unique <= len(es)


@settings(max_examples=40, deadline=None)
@given(es=st.lists(entries(), min_size=2, max_size=25))
def test_digest_keys_see_churn_between_two_readings(es):
    before = "\n".join(write_entries(es[:-1], "proc")).encode()
    after = "\n".join(write_entries(es[1:], "proc")).encode()
    k0, k1 = digest(before, keys=True).keys, digest(after, keys=True).keys
    same = digest(before, keys=True).keys
    assert k0 == same
    # the churn key is what a line's ORIGINAL part shows: protocol *name* (every
    # unassigned protocol is "unknown"), addresses, ports / ICMP id / GRE keys
    def shown(e):
        o = e.orig
        return (e.l4, o.src, o.dst, o.sport, o.dport, o.id, o.srckey, o.dstkey)
    if shown(es[0]) not in {shown(e) for e in es[1:]}:
        assert k0 - k1          # the first entry went away


def test_digest_names_a_bad_line():
    bad = PROC.replace("dport=8000", "dport=99999").encode()
    with pytest.raises(InputError):
        digest(bad)
    assert digest(b"").summary.total == 0


def _args(**kw):
    base = dict(proto=None, state=None, src=None, dst=None, sport=None, dport=None, mark=None,
                zone=None, family=None, status=None)
    return Namespace(**{**base, **kw})


@st.composite
def filters_for(draw, es):
    e = draw(st.sampled_from(es))
    kw = {}
    if draw(st.booleans()):
        kw["proto"] = e.l4 if e.l4 != "unknown" else "tcp"
    if "proto" in kw and e.l4 in ("tcp", "udp", "sctp", "dccp", "udplite") and draw(st.booleans()):
        kw[draw(st.sampled_from(["sport", "dport"]))] = getattr(e.orig, "dport")
    if draw(st.booleans()):
        net = ipaddress.ip_network(e.orig.src).supernet(new_prefix=draw(st.sampled_from([8, 16, 24, 32, 20]))
                                                        if ":" not in e.orig.src else 64)
        kw[draw(st.sampled_from(["src", "dst"]))] = str(net)
    if draw(st.booleans()):
        kw["mark"] = str(e.mark or 0) + draw(st.sampled_from(["", "/0xff", "/0xffffffff"]))
    if draw(st.booleans()):
        kw["zone"] = e.zone or 0
    if draw(st.booleans()):
        kw["status"] = draw(st.sampled_from(["ASSURED", "SEEN_REPLY", "UNSET", "SEEN_REPLY,ASSURED"]))
    if kw.get("proto") == "tcp" and e.state and draw(st.booleans()):
        kw["state"] = e.state
    return kw


@pytest.mark.parametrize("fmt", ["proc", "conntrack", "extended"])
@settings(max_examples=40, deadline=None)
@given(data=st.data(), es=st.lists(entries(), min_size=1, max_size=15))
def test_prefilter_keeps_every_matching_line(fmt, data, es):
    kw = data.draw(filters_for(es))
    try:
        flt = filter_from_args(_args(**kw))
    except InputError:
        return
    lines = list(write_entries(es, fmt))
    wanted = [line for line, e in zip(lines, read_entries(lines, fmt)) if flt.matches(e)]
    kept = prefilter(lines, flt)
    assert [line for line in kept if line in wanted] == wanted


def test_filter_semantics():
    e = next(e for e in read_entries(PROC.splitlines()) if e.l4 == "tcp")
    match = lambda **kw: filter_from_args(_args(**kw)).matches(e)  # noqa: E731
    assert match(proto="tcp", state="ESTABLISHED", dport=8000, src="127.0.0.0/8", status="ASSURED,SEEN_REPLY")
    assert not match(proto="udp") and not match(proto="tcp", dport=8001) and not match(dst="10.0.0.0/8")
    assert match(mark="7") and match(mark="3/0x3") and not match(mark="8") and match(zone=0) and not match(zone=3) and not match(family="ipv6")
    for bad in (dict(dport=80), dict(proto="tcp", state="BOGUS"), dict(proto="nope"), dict(src="10.0.0.300"),
                dict(status="EXPECTED"), dict(mark="x")):
        with pytest.raises(InputError):
            filter_from_args(_args(**bad))


@settings(max_examples=30, deadline=None)
@given(es=st.lists(entries(), min_size=1, max_size=20))
def test_table_and_snapshot_files_read_back(tmp_path_factory, es):
    d = tmp_path_factory.mktemp("in")
    text = "\n".join(write_entries(es, "proc")) + "\n"
    (d / "t.txt").write_text(text)
    snap = {"kind": "ctscope-snapshot", "version": 1, "time": 1.0, "sysctl": {"values": {"nf_conntrack_max": 9}},
            "table": {"summary": {"total": len(es), "top_sources": []}}, "table_text": text}
    (d / "s.json").write_text(json.dumps(snap))
    plain = load_input(str(d / "t.txt"), top=1000)
    again = load_input(str(d / "s.json"), top=1000)        # recomputed: the stored top list is short
    assert plain["table"]["summary"] == again["table"]["summary"]
    assert plain["table"]["top_source_ports"] == again["table"]["top_source_ports"]
    assert again["sysctl"]["values"]["nf_conntrack_max"] == 9 and plain["kind"] == "table-file"
