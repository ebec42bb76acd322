"""summarize(): the fast path equals the full parser (its speed is measured in bench/)."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctscope.formats import normalize, summarize, summarize_entries, write_entries
from ctscope.formats.sample import sample_entries
from test_formats_roundtrip import entries


@pytest.mark.parametrize("fmt", ["proc", "conntrack", "extended", "events", "xml", "jsonl"])
def test_fast_path_matches_full_parse(fmt, tmp_path):
    es = sample_entries(3000, seed=7)
    for i, e in enumerate(es[:50]):      # some offloaded/hw-offloaded entries
        e.offload, e.hw_offload = i % 2 == 0, i % 5 == 0
        e.assured = e.assured and not e.offload and not e.hw_offload
        e.timeout = None if e.offload else e.timeout
    path = tmp_path / f"t.{fmt}"
    path.write_text("\n".join(write_entries(es, fmt)) + "\n")
    got = summarize(path, top=5)
    want = summarize_entries([normalize(e, fmt) for e in es], top=5)
    assert got.total == want.total == 3000
    assert got.by_proto == want.by_proto and got.by_state == want.by_state
    assert got.flags == want.flags
    assert got.top_dports == want.top_dports
    assert got.top_sources == want.top_sources and got.top_destinations == want.top_destinations
    assert got.top_pairs == want.top_pairs
    dup = es + es[:7]                     # a dump that printed 7 entries twice
    path.write_text("\n".join(write_entries(dup, fmt)) + "\n")
    assert summarize(path, unique=True).unique == len({normalize(e, fmt).key()[:11] for e in es})


def test_blank_lines_and_summary_line_are_ignored(tmp_path):
    lines = list(write_entries(sample_entries(10), "conntrack"))
    lines += ["", "conntrack v1.4.7 (conntrack-tools): 10 flow entries have been shown."]
    assert summarize(lines).total == 10


def test_unique_counts_protocol_and_tuple():
    from ctscope.formats import parse_line
    tcp = ("ipv4     2 tcp      6 10 CLOSE src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 "
           "src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1 mark=0 zone=0 use=2")
    udp = tcp.replace("tcp      6 10 CLOSE", "udp      17 10")
    assert parse_line(udp).l4 == "udp"
    assert summarize([tcp, udp], unique=True).unique == 2
    assert summarize([tcp, udp, tcp.replace(" 10 CLOSE", " 9 CLOSE")], unique=True).unique == 2


@settings(max_examples=60, deadline=None)
@given(es=st.lists(entries(), min_size=1, max_size=8), fmt=st.sampled_from(["proc", "conntrack", "extended"]))
def test_every_valid_line_is_counted(es, fmt):
    """Whatever fields a line carries, the summary counts it (fast path or fallback)."""
    lines = list(write_entries(es, fmt))
    got = summarize(lines, fmt=fmt, unique=True)
    want = summarize_entries([normalize(e, fmt) for e in es])
    assert got.total == len(es)
    assert got.by_proto == want.by_proto and got.by_state == want.by_state
    assert got.flags == want.flags and got.top_dports == want.top_dports
