"""packets.prefetch: the decode-ahead thread keeps order, hands errors over at the right
place, and stops when the consumer stops."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from ctscope.errors import InputError
from ctscope.packets.prefetch import prefetch
from ctscope.packets.source import open_capture


def test_order_and_completeness():
    assert list(prefetch(range(1000), depth=3)) == list(range(1000))


def test_empty_source():
    assert list(prefetch(iter(()))) == []


def test_error_arrives_after_the_items_before_it():
    def src():
        yield 1
        yield 2
        raise InputError("boom", where="f:3")

    got = []
    with pytest.raises(InputError, match="boom"):
        for x in prefetch(src()):
            got.append(x)
    assert got == [1, 2]


def test_closing_early_stops_the_worker():
    produced = []

    def src():
        for i in range(10_000):
            produced.append(i)
            yield i

    before = {t.ident for t in threading.enumerate()}
    it = prefetch(src(), depth=2)
    assert next(it) == 0
    it.close()
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and any(t.name == "ctscope-decode" and t.ident not in before
                                              for t in threading.enumerate()):
        time.sleep(0.01)
    assert not [t for t in threading.enumerate() if t.name == "ctscope-decode" and t.ident not in before]
    assert len(produced) < 100          # bounded look-ahead, not the whole source


def test_batches_equal_the_plain_iteration(tmp_path):
    from ctscope.synth import generate, write_pcap
    cap = tmp_path / "m.pcap"
    write_pcap(str(cap), generate("mix", packets=3000, seed=4), seed=4)
    plain = list(open_capture(str(cap), batch_size=500))
    ahead = list(prefetch(open_capture(str(cap), batch_size=500)))
    assert len(plain) == len(ahead) == 6
    for a, b in zip(plain, ahead):
        assert np.array_equal(a, b)
