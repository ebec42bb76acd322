"""The live table scanned as the walk produces it (``live.tables._Read.scan``,
``scan_table.Scanner`` fed in pieces) gives exactly the digest of the whole text --
wherever the pieces are cut -- and hands back (None) whatever the whole-text path must
decide; ``read_table`` then reads the table again, whole."""
from __future__ import annotations

import os
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctscope.formats import write_entries
from ctscope.live import tables
from ctscope.live.digest import _scanner, digest
from ctscope.live.scan_table import Scanner, readonly, scan
from ctscope.live.tables import _Read, read_table
from test_digest_fast import _many, _same
from test_formats_roundtrip import entries

pytestmark = pytest.mark.skipif(_scanner() is None, reason="no compiled scanner (NUMBA_DISABLE_JIT=1)")


def _pieces(data: bytes, cuts: list[int]) -> Scanner | None:
    """A Scanner fed ``data`` cut after the newlines nearest to ``cuts``."""
    s = Scanner(data.count(b"\n") + 1)
    ends = sorted({data.find(b"\n", c) + 1 for c in cuts} - {0}) + [len(data)]
    start = 0
    for end in ends:
        if end <= start:
            continue
        piece = bytes(data[start:end])          # its own buffer, as the 4-MiB one is reused
        if not s.feed(readonly(piece, np.uint8), readonly(piece, np.uint64, len(piece) // 8)):
            return None
        start = end
    return s


@settings(max_examples=150, deadline=None)
@given(st.lists(entries(), min_size=1, max_size=40), st.sampled_from(["proc", "conntrack", "extended"]),
       st.lists(st.integers(0, 20000), max_size=6), st.booleans())
def test_pieces_equal_whole(es, fmt, cuts, last_newline):
    text = "\n".join(write_entries(es, fmt)) + ("\n" if last_newline else "")
    data = text.encode()
    whole = scan(data, 5, fmt)
    fed = _pieces(data, cuts)
    if whole is None:                       # gave up on a line: so must the pieces
        assert fed is None or fed.digest(5, fmt) is None
        return
    _same(fed.digest(5, fmt), whole)


@pytest.mark.parametrize("seed", range(3))
def test_pieces_equal_whole_many(seed):
    """Thousands of lines with ties in every top list, IPv4 and IPv6, cut anywhere."""
    data = ("\n".join(write_entries(_many(3000, seed, v6=True), "proc")) + "\n").encode()
    rnd = random.Random(seed)
    fed = _pieces(data, [rnd.randrange(len(data)) for _ in range(25)])
    _same(fed.digest(10, "proc"), scan(data, 10, "proc"))


def _distinct(n: int, seed: int):
    """``_many``'s entries made distinct (as a quiet table's are), ``unknown`` ones left out."""
    out = [e for e in _many(n + n // 4, seed, v6=True) if e.l4 != "unknown"][:n]
    for i, e in enumerate(out):
        if e.orig.sport is not None:
            e.orig.sport = e.reply.dport = 1024 + i
        elif e.orig.id is not None:
            e.orig.id = e.reply.id = i
        else:
            e.orig.srckey = e.reply.dstkey = i
    return out


def _table(tmp_path, n: int = 5000, seed: int = 1, extra: str = "") -> tuple[str, bytes]:
    data = ("\n".join(write_entries(_distinct(n, seed), "proc")) + "\n" + extra).encode()
    path = tmp_path / "nf_conntrack"
    path.write_bytes(data)
    return str(path), data


@pytest.fixture
def small_pieces(monkeypatch):
    """A 64-KiB scan buffer fed every 8 KiB: a 5,000-line table is hundreds of pieces."""
    monkeypatch.setattr(tables, "_PIECE", 64 << 10)
    monkeypatch.setattr(tables, "_FEED", 8 << 10)


def test_read_copies_the_file_exactly(tmp_path):
    path, data = _table(tmp_path)
    r = _Read(path)
    assert r.proc is not None               # the dd child, not the fallback
    assert r.result() == data and r.proc.returncode == 0


def test_scan_of_a_walk_equals_digest(tmp_path, small_pieces):
    path, data = _table(tmp_path)
    r = _Read(path)
    got = r.scan(10, count=5000)
    _same(got, digest(data, top=10))
    assert r.proc.returncode == 0           # dd reaped


@pytest.mark.parametrize("why", ["garbage line", "too many lines", "4-KiB line"])
def test_scan_gives_up_and_read_table_reads_again(tmp_path, monkeypatch, small_pieces, why):
    monkeypatch.setattr(tables, "_PIECE", 4096)
    monkeypatch.setattr(tables, "_FEED", 1024)
    extra = {"garbage line": "this is not a table line\n", "too many lines": "",
             "4-KiB line": "ipv4 2 tcp 6 5 src=1.2.3.4 dst=5.6.7.8 sport=1 dport=2 " + "x" * 5000 + "\n"}[why]
    path, data = _table(tmp_path, extra=extra)
    count = 5000 if why != "too many lines" else 0     # room for 4,096 lines only
    r = _Read(path)
    assert r.scan(10, count) is None
    assert r.proc.returncode is not None    # stopped or finished: never left running
    calls = []
    real = _Read.result
    monkeypatch.setattr(_Read, "result", lambda self: calls.append(1) or real(self))
    reading = read_table(path, count=count)
    assert calls                            # the whole text was read again
    if why == "garbage line":
        assert reading.problems and "unreadable line" in reading.problems[0].why
    else:
        want = digest(data, top=10)
        assert reading.lines == want.summary.total == 5001 - (why == "too many lines")
        assert reading.summary.as_dict() == want.summary.as_dict()


def test_read_table_streams_a_clean_table(tmp_path, monkeypatch, small_pieces):
    """The common case reads the table once, scanned as it comes, never whole."""
    path, data = _table(tmp_path)
    monkeypatch.setattr(_Read, "result", lambda self: pytest.fail("read whole"))
    reading = read_table(path, count=5000)
    want = digest(data, top=10)
    assert reading.reads == 1 and reading.summary.as_dict() == want.summary.as_dict()
    assert reading.digest.pairs == want.pairs and reading.unique == want.unique
    assert reading.note.startswith("nf_conntrack_count matches")


def test_read_table_streams_without_dd(tmp_path, monkeypatch, small_pieces):
    """No ``dd`` on PATH: the file is read by this process, still in pieces."""
    path, data = _table(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    r = _Read(path)
    assert r.proc is None
    _same(r.scan(10, 5000), digest(data, top=10))
    assert read_table(path, count=5000).summary.as_dict() == digest(data, top=10).summary.as_dict()


def test_unreadable_table_is_a_problem(tmp_path):
    reading = read_table(str(tmp_path / "missing"), count=10)
    assert reading.problems and "does not exist" in reading.problems[0].why
    assert not [f for f in os.listdir(tmp_path)]
