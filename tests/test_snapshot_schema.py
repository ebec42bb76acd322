"""Snapshot files read back are checked against ``live.snapshot_schema.SCHEMA``: what
``snapshot.collect`` writes passes; a part with the wrong type is one InputError naming
the field; and whatever passes, ``doctor`` analyses without crashing (property test:
one leaf of a full snapshot replaced by an arbitrary JSON value)."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctscope.errors import InputError
from ctscope.live.doctor import diagnose, render
from ctscope.live.inputs import load_input, load_snapshot, table_reading
from ctscope.live.snapshot import collect
from ctscope.live.snapshot_schema import check
from test_formats_roundtrip import PROC


def _full() -> dict:
    """A snapshot with every part: this host's readers, a table, log events, rules."""
    snap = collect(table=False, log=False, config=True, rules=False)
    snap["table"] = {**table_reading(PROC.encode(), "t"), "count": 6, "reads": 1}
    snap["table_text"] = PROC
    snap["kernel_log"] = {"table_full": 2, "by_netns": {"4026531840": 2}, "suppressed": {"net_ratelimit": 3},
                          "first_usec": 1_000_000, "last_usec": 2_000_000, "samples": ["x"],
                          "events": [{"usec": 1_000_000, "netns": None, "message": "nf_conntrack: table full, "
                                      "dropping packet"}], "source": "/dev/kmsg", "problems": []}
    snap["rules"] = {"nft": "table inet t {\n chain c {\n type filter hook prerouting priority raw;\n"
                            " udp dport 53 notrack\n }\n}\n", "problems": []}
    snap["stat"] = {"entries": 6, "totals": {"drop": 1, "early_drop": 2, "insert_failed": 0}, "cpus": 2}
    return json.loads(json.dumps(snap))         # as read back from the file


FULL = _full()


def test_what_collect_writes_passes():
    check(FULL, "snap.json")
    check(json.loads(json.dumps(collect(table=False, log=False))), "snap.json")
    check(json.loads(json.dumps(collect(log=False, table_text=True))), "snap.json")   # this host's table
    empty = {**FULL, "table": table_reading(b"", "t"),
             "kube_proxy": {**FULL["kube_proxy"], "problems": ["/proc/1: permission denied"]}}
    check(json.loads(json.dumps(empty)), "snap.json")


@pytest.mark.parametrize("path, value, words", [
    (("sysctl", "values", "nf_conntrack_max"), "x", "sysctl.values.nf_conntrack_max: expected an integer"),
    (("table", "summary", "by_proto", "tcp"), -1, "table.summary.by_proto.tcp: expected an integer ≥ 0"),
    (("table", "summary", "top_sources", 0), ["a"], "table.summary.top_sources[0]: expected a list of 2"),
    (("kernel_log", "events", 0, "usec"), 10 ** 20, "kernel_log.events[0].usec: expected an integer in 0..1e+17"),
    (("kernel_log", "suppressed"), 5, "kernel_log.suppressed: expected an object, got 5"),
    (("stat", "totals", "drop"), True, "stat.totals.drop: expected an integer"),
    (("time",), float("nan"), "time: expected a number"),
])
def test_wrong_type_names_the_field(path, value, words):
    snap = json.loads(json.dumps(FULL))
    _set(snap, path, value)
    with pytest.raises(InputError) as exc:
        check(snap, "snap.json")
    assert words in str(exc.value) and "snap.json" in str(exc.value)


def _leaves(value, path=()):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, path + (i,))
    yield path


def _set(snap, path, value):
    target = snap
    for k in path[:-1]:
        target = target[k]
    target[path[-1]] = value


LEAVES = [p for p in _leaves(FULL) if p and p[0] != "kind"]
JSON = st.recursive(st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) |
                    st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
                    max_leaves=6)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(LEAVES), JSON)
def test_what_passes_is_analysed(tmp_path_factory, path, value):
    snap = json.loads(json.dumps(FULL))
    _set(snap, path, value)
    f = tmp_path_factory.mktemp("s") / "snap.json"
    f.write_text(json.dumps(snap))
    try:
        loaded = load_input(str(f), top=3)
    except InputError as exc:
        assert "snap.json" in str(exc)
        return
    rep = diagnose(loaded, netns="", churn=None, max_override=None, rules=None)
    render(rep, 3)
    json.dumps(rep)


def test_load_snapshot_rejects_before_analysis():
    bad = json.dumps({**FULL, "slab": {"objsize": "256"}}).encode()
    with pytest.raises(InputError, match="slab.objsize: expected an integer"):
        load_snapshot(bad, "s.json")
