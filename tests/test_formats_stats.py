"""/proc/net/stat/nf_conntrack and conntrack -S: real output, round trips, summing."""
from hypothesis import given, settings
from hypothesis import strategies as st

from ctscope.formats import (StatTable, detect_format, format_conntrack_s, format_proc_stat,
                             parse_conntrack_s, parse_proc_stat)
from ctscope.formats.stats import PROC_HEADER, S_NAMES

PROC_STAT = """\
entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
00000001  00000002 00000000 00000000 0000000a 00000000 00000000 00000003 00000000 00000004 00000005 00000006 00000007  00000000 00000000 00000000 00000008
00000001  00000000 00000000 00000000 00000001 00000000 00000000 00000000 00000000 00000000 00000010 00000000 00000000  00000000 00000000 00000000 00000000
"""
CONNTRACK_S = """\
cpu=0   \tfound=0 invalid=0 insert=0 insert_failed=0 drop=0 early_drop=0 error=2 search_restart=0 clash_resolve=0 chaintoolong=0 
cpu=1   \tfound=0 invalid=0 insert=0 insert_failed=0 drop=0 early_drop=0 error=0 search_restart=0 clash_resolve=0 chaintoolong=0 
"""
# an older kernel (4.x): columns by name, searched/delete_list instead of clashres/chainlength
OLD_PROC_STAT = """\
entries  searched found new invalid ignore delete delete_list insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
0000002a  00000000 00000000 00000000 00000003 00000b0b 00000000 00000000 00000000 00000001 00000001 00000000 00000000  00000000 00000000 00000000 00000000
"""


def test_proc_stat_by_name_and_summed():
    t = parse_proc_stat(PROC_STAT.splitlines())
    assert t.entries == 1 and len(t.cpus) == 2
    tot = t.totals()
    assert tot["invalid"] == 11 and tot["drop"] == 0x15 and tot["clash_resolve"] == 2
    assert tot["chaintoolong"] == 3 and tot["error"] == 7 and tot["search_restart"] == 8
    assert tot["insert_failed"] == 4 and tot["early_drop"] == 6
    assert list(tot)[:10] == list(S_NAMES)
    assert format_proc_stat(t) == PROC_STAT.splitlines()
    assert detect_format(PROC_STAT.splitlines()) == "stat"


def test_old_kernel_columns():
    t = parse_proc_stat(OLD_PROC_STAT.splitlines())
    assert t.entries == 42 and t.totals()["ignore"] == 0xb0b and t.totals()["insert_failed"] == 1


def test_conntrack_s_real_output_byte_exact():
    t = parse_conntrack_s(CONNTRACK_S.splitlines())
    assert t.totals()["error"] == 2
    assert format_conntrack_s(t) == CONNTRACK_S.splitlines()
    assert detect_format(CONNTRACK_S.splitlines()) == "conntrack-S"


counters = st.fixed_dictionaries({k: st.integers(0, 2**32 - 1) for k in S_NAMES})


@settings(max_examples=100, deadline=None)
@given(cpus=st.lists(counters, min_size=1, max_size=8), entries=st.integers(0, 2**32 - 1))
def test_round_trips(cpus, entries):
    t = StatTable(cpus=cpus, entries=entries)
    back = parse_proc_stat(format_proc_stat(t))
    assert back.entries == entries
    assert {k: back.totals()[k] for k in S_NAMES} == t.totals()
    assert [{k: c.get(k, 0) for k in S_NAMES} for c in back.cpus] == cpus
    s = parse_conntrack_s(format_conntrack_s(t))
    assert s.cpus == cpus
    assert format_proc_stat(t)[0] == PROC_HEADER
