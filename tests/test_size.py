"""ctscope size: the seed's worked example, the era defaults, this machine's values."""
import json
import os

import pytest

from ctscope.cli import main
from ctscope.engine.settings import host_ram, ram_defaults
from ctscope.plan.sizing import (era_26, era_hlist, era_late, era_rows, read_machine,
                                 requested_row, seed_formula)

GIB = 1 << 30


def test_seed_worked_example():
    # "a 64-bit machine with 48 GB can hold 48*1024^3/131072/2 = 196608 buckets"
    assert seed_formula(48 * GIB, 64) == (196608, 8 * 196608)
    assert seed_formula(48 * GIB, 32) == (393216, 8 * 393216)


def test_26_default_is_capped_above_1gib():
    assert era_26(48 * GIB, 64) == (8192, 65536)
    assert era_26(GIB, 32) == (8192, 65536)            # exactly 1 GiB: formula, not the cap
    assert era_26(GIB, 64) == (4096, 32768)
    assert era_26(GIB + 4096, 64) == (8192, 65536)     # strictly greater: cap
    assert era_26(1 << 20, 64) == (16, 128)            # minimum 16


def test_hlist_and_late_eras():
    assert era_hlist(48 * GIB) == (16384, 65536)
    assert era_hlist(512 << 20) == (4096, 16384)
    assert era_late(48 * GIB) == (65536, 262144)
    assert era_late(2 * GIB) == (16384, 65536)
    assert era_late(48 * GIB, 32) == (65536, 262144)   # the 4 GiB step applies to any arch


def test_rows_and_memory():
    rows = era_rows(48 * GIB, 64)
    assert [r.label for r in rows][0] == "seed formula (as written)"
    assert (rows[-1].buckets, rows[-1].max) == ram_defaults(48 * GIB, 64)
    modern = rows[-1]
    assert (modern.buckets, modern.max, modern.factor) == (262144, 262144, 1)
    assert modern.memory_at_max == 262144 * 380 + 262144 * 8
    assert modern.slab_at_max == 262144 * 256 + 262144 * 8
    req = requested_row(1_000_000)
    assert req.memory_at_max == 1_000_000 * 388


def test_cli_json_seed_example(capsys):
    assert main(["size", "--ram", "48G", "--max", "1000000", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["eras"][0]["buckets"] == 196608 and d["eras"][0]["max"] == 1572864
    assert d["eras"][1]["buckets"] == 8192 and d["requested"]["max"] == 1000000


def test_cli_text_and_bad_input(capsys):
    assert main(["size", "--ram", "48G"]) == 0
    out = capsys.readouterr().out
    assert "196,608" in out and "1,572,864" in out and "this machine" in out
    assert main(["size", "--ram", "lots"]) == 2
    assert "--ram: not a size" in capsys.readouterr().err
    assert main(["size", "--max", "0"]) == 2
    assert "--max" in capsys.readouterr().err


@pytest.mark.skipif(not os.path.exists("/proc/sys/net/netfilter/nf_conntrack_max"),
                    reason="nf_conntrack is not available")
def test_this_machine_defaults_from_proc():
    m = read_machine()
    assert m.max is not None and m.buckets is not None
    buckets, mx = ram_defaults(host_ram(), m.arch)
    # nobody changed the init netns sizing on this machine: the 5.15+ rule gives it
    assert (m.buckets, m.max) == (buckets, mx)
    if host_ram() > 4 * GIB and m.arch == 64:
        assert m.buckets == 262144
