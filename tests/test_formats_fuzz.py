"""Fuzzing the readers: random text, mutated real lines, garbage files.  A reader may
accept a line or raise InputError (with a position) -- never any other exception."""
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctscope.errors import InputError
from ctscope.formats import (parse_conntrack_s, parse_json, parse_line, parse_proc_stat,
                             parse_xml_flow, read_entries, summarize)
from test_formats_roundtrip import EVENTS, EXTENDED_ID, LIST, PROC, XML

REAL = (PROC + LIST + EXTENDED_ID + EVENTS).splitlines()
TOKENS = ["src=", "dst=", "sport=", "dport=", "id=", "type=", "[UNREPLIED]", "[ASSURED]", "use=",
          "zone=", "mark=", "packets=", "bytes=", "tcp", "6", "ipv4", "2", "ipv6", "10", "icmp",
          "gre", "47", "srckey=0x", "timeout=30,", "stream_timeout=", "[NEW]", "[1.000001]",
          "999999999999999999999999", "-1", "1.2.3.4", "::1", "::ffff:1.2.3.4", "é", "\x00", "="]


def _only_input_error(fn, *args):
    try:
        fn(*args)
    except InputError as exc:
        assert exc.where, "an InputError must say where"


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=200))
def test_random_text(text):
    for fn in (parse_line, parse_xml_flow, parse_json):
        _only_input_error(fn, text, "f:1")


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(TOKENS) | st.text(max_size=8), max_size=30))
def test_token_soup(toks):
    _only_input_error(parse_line, " ".join(toks), "f:1")


@settings(max_examples=400, deadline=None)
@given(line=st.sampled_from(REAL), data=st.data())
def test_mutated_real_lines(line, data):
    toks = line.split(" ")
    op = data.draw(st.sampled_from(["drop", "dup", "swap", "replace", "truncate"]))
    i = data.draw(st.integers(0, len(toks) - 1))
    if op == "drop":
        del toks[i]
    elif op == "dup":
        toks.insert(i, toks[i])
    elif op == "swap":
        j = data.draw(st.integers(0, len(toks) - 1))
        toks[i], toks[j] = toks[j], toks[i]
    elif op == "replace":
        toks[i] = data.draw(st.sampled_from(TOKENS) | st.text(max_size=10))
    else:
        toks = toks[:i]
    _only_input_error(parse_line, " ".join(toks), "f:1")


@settings(max_examples=200, deadline=None)
@given(line=st.sampled_from([x for x in XML.splitlines() if x.startswith("<flow")]),
       cut=st.integers(0, 2000), junk=st.text(max_size=5))
def test_mutated_xml(line, cut, junk):
    cut %= len(line)
    _only_input_error(parse_xml_flow, line[:cut] + junk + line[cut + 1:], "f:1")


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(
                        st.sampled_from(["orig", "reply", "src", "dst", "l4", "sport", "mark", "x"]), c, max_size=4)))
def test_json_garbage(obj):
    _only_input_error(parse_json, json.dumps(obj), "f:1")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=60), max_size=6))
def test_stats_garbage(lines):
    _only_input_error(parse_proc_stat, lines, "f")
    _only_input_error(parse_conntrack_s, lines, "f")
    _only_input_error(parse_proc_stat, ["entries  clashres found"] + lines, "f")
    _only_input_error(parse_conntrack_s, ["cpu=0   \tfound=0 "] + lines, "f")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=80) | st.sampled_from(REAL), max_size=6))
def test_files_with_detection(lines):
    _only_input_error(lambda ls: list(read_entries(ls, name="f")), lines)
    _only_input_error(summarize, lines)


def test_error_names_file_and_line(tmp_path):
    path = tmp_path / "table.txt"
    lines = PROC.splitlines()
    lines[3] = lines[3].replace("dport=7000", "dport=70000")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as exc:
        list(read_entries(path))
    assert exc.value.where == f"{path}:4" and "70000" in exc.value.message
    with pytest.raises(InputError) as exc:
        summarize(path)
    assert exc.value.where == f"{path}:4"
    path.write_text(PROC.replace("src=10.9.0.1 dst=10.9.0.2 [UN", "src=10.9.0.1 dst=10.9.0.999 [UN"))
    with pytest.raises(InputError) as exc:
        summarize(path)
    assert exc.value.where == f"{path}:6" and "10.9.0.999" in exc.value.message


def test_xml_without_protoname_for_unknown_l3():
    bad = ('<flow><meta direction="original"><layer3 protonum="1"><src>::1</src><dst>::1</dst></layer3>'
           '<layer4 protonum="17" protoname="udp"><sport>1</sport><dport>2</dport></layer4></meta></flow>')
    with pytest.raises(InputError):
        parse_xml_flow(bad, "f:1")
