"""Sysctl names, files and values (settings.py)."""
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from ctscope.engine.settings import MODELLED, NS, Settings, canonical_name, K
from ctscope.errors import InputError


def test_defaults_are_linux_618():
    s = Settings(ram=48 << 30)
    d = s.as_dict()
    assert d["nf_conntrack_tcp_timeout_established"] == 432000
    assert d["nf_conntrack_udp_timeout_stream"] == 120
    assert d["nf_conntrack_max"] == 262144 and d["nf_conntrack_buckets"] == 262144
    assert d["nf_conntrack_tcp_loose"] == 1 and d["nf_conntrack_tcp_be_liberal"] == 0


def test_vector_converts_timeouts_to_ns():
    v = Settings(values={"nf_conntrack_udp_timeout": 7}, ram=1 << 30).vector()
    assert v[K["nf_conntrack_udp_timeout"]] == 7 * NS
    assert v[K["nf_conntrack_max"]] == 8192


@pytest.mark.parametrize("raw,expect", [
    ("net.netfilter.nf_conntrack_max", "nf_conntrack_max"),
    ("net.nf_conntrack_max", "nf_conntrack_max"),
    ("nf_conntrack_acct", "nf_conntrack_acct"),
    ("net/netfilter/nf_conntrack_acct", "nf_conntrack_acct"),
    ("net.ipv4.ip_forward", None),
])
def test_canonical_name(raw, expect):
    assert canonical_name(raw) == expect


def test_file_syntax_last_wins_and_set_overrides(tmp_path):
    f = tmp_path / "s.conf"
    f.write_text("# comment\n; other\n\nnet.netfilter.nf_conntrack_max = 100\n"
                 "net.nf_conntrack_max=200\n-net.netfilter.nf_conntrack_acct = 1\n"
                 "net.ipv4.ip_forward = 1\nnet.netfilter.nf_conntrack_count = 5\n"
                 "net.netfilter.nf_log.2 = NONE\n")
    s = Settings()
    s.load_file(str(f))
    assert s.get("nf_conntrack_max") == 200 and s.get("nf_conntrack_acct") == 1
    assert "nf_conntrack_count" in s.ignored and "net.ipv4.ip_forward" in s.ignored
    s.set("nf_conntrack_max", "300")
    assert s.get("nf_conntrack_max") == 300


def test_sysctl_a_paste(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("net.netfilter.nf_conntrack_acct = 0\nnet.netfilter.nf_conntrack_buckets = 65536\n"
                 "net.netfilter.nf_conntrack_dccp_loose = 1\nnet.netfilter.nf_conntrack_expect_max = 1024\n"
                 "net.netfilter.nf_conntrack_helper = 0\nnet.netfilter.nf_hooks_lwtunnel = 0\n")
    s = Settings()
    s.load_file(str(f))
    assert s.get("nf_conntrack_buckets") == 65536
    assert {"nf_conntrack_dccp_loose", "nf_conntrack_expect_max", "nf_conntrack_helper"} <= set(s.ignored)


@pytest.mark.parametrize("name,value,msg", [
    ("nf_conntrack_bogus", "1", "no Linux kernel"),
    ("nf_conntrack_max", "lots", "not an integer"),
    ("nf_conntrack_max", "-1", "out of range"),
    ("nf_conntrack_acct", "2", "must be 0 or 1"),
])
def test_bad_values(name, value, msg):
    with pytest.raises(InputError, match=msg):
        Settings().set(name, value)


def test_bad_file_line_names_position(tmp_path):
    f = tmp_path / "bad.conf"
    f.write_text("nf_conntrack_max = 1\nthis is not a sysctl line\n")
    with pytest.raises(InputError) as exc:
        Settings().load_file(str(f))
    assert exc.value.where == f"{f}:2"


def test_missing_file():
    with pytest.raises(InputError, match="cannot read"):
        Settings().load_file("/nonexistent/x.conf")


@hsettings(max_examples=200, deadline=None)
@given(name=st.sampled_from(sorted(MODELLED)), value=st.integers(0, 2**31 - 1),
       prefix=st.sampled_from(["", "net.netfilter."]), spaces=st.sampled_from(["=", " = ", "= "]))
def test_property_file_round_trip(tmp_path_factory, name, value, prefix, spaces):
    kind = MODELLED[name][1]
    if kind == "b":
        value %= 2
    if name == "nf_conntrack_buckets":
        value = max(1, value)
    f = tmp_path_factory.mktemp("s") / "p.conf"
    f.write_text(f"{prefix}{name}{spaces}{value}\n")
    s = Settings()
    s.load_file(str(f))
    assert s.get(name) == value


@hsettings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_fuzz_lines_raise_only_input_error(tmp_path_factory, text):
    f = tmp_path_factory.mktemp("f") / "fuzz.conf"
    f.write_text(text)
    try:
        Settings().load_file(str(f))
    except InputError:
        pass
