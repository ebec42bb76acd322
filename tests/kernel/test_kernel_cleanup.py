"""Namespaces are always removed: normal exit, exceptions, SIGTERM, leftovers (root only)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from ctscope.kernel import KernelHarness, sweep_leftovers
from ctscope.kernel import nsutil

pytestmark = pytest.mark.kernel
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_with_block_removes_namespaces():
    with KernelHarness() as h:
        names = (h.topo.fw, h.topo.inj)
        assert all(nsutil.exists(n) for n in names)
    assert not any(nsutil.exists(n) for n in names)


def test_exception_inside_with_block_removes_namespaces():
    names = None
    with pytest.raises(RuntimeError, match="boom"):
        with KernelHarness() as h:
            names = (h.topo.fw, h.topo.inj)
            raise RuntimeError("boom")
    assert names and not any(nsutil.exists(n) for n in names)


def test_sigterm_removes_namespaces_of_the_killed_process():
    code = textwrap.dedent("""
        import sys, time
        from ctscope.kernel import KernelHarness
        h = KernelHarness()
        print(h.topo.fw, h.topo.inj, flush=True)
        time.sleep(30)
    """)
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONPATH": REPO})
    try:
        names = p.stdout.readline().split()
        assert len(names) == 2 and all(nsutil.exists(n) for n in names)
        p.send_signal(signal.SIGTERM)          # our own child, by pid
        assert p.wait(timeout=10) == 128 + signal.SIGTERM
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=5)
    assert nsutil.wait_gone(names, timeout=5)


def test_sweeper_removes_only_dead_owners_namespaces():
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = f"ctsc-{dead.pid}-sweeptest"
    with KernelHarness() as h:
        nsutil.create(stale)
        try:
            removed = sweep_leftovers()
            assert stale in removed and not nsutil.exists(stale)
            assert nsutil.exists(h.topo.fw) and h.topo.fw not in removed   # live owner: kept
            nsutil.create(stale)
            with KernelHarness():                                           # sweeps on creation
                assert not nsutil.exists(stale)
        finally:
            nsutil.delete(stale)


def test_names_without_our_prefix_are_refused():
    for bad in ("foo", "ctsc", "ctscope-1-x", "ctsc-x-fw", "../ctsc-1-x"):
        with pytest.raises(ValueError):
            nsutil.check_name(bad)


def test_harness_setup_is_quick():
    t = time.monotonic()
    with KernelHarness():
        pass
    assert time.monotonic() - t < 3.0
