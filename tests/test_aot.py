"""Ahead-of-time compiled copies of numba kernels (``ctscope.aot``): the table scanner
that commands load is the AOT copy (no numba import), built from the same source and
signature as the JIT kernel; a failed build is remembered and falls back to the JIT."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig

import pytest

from ctscope import aot
from ctscope.live import scan_kernel, scan_table

JIT_OFF = os.environ.get("NUMBA_DISABLE_JIT", "0").strip() not in ("", "0")
pytestmark = pytest.mark.skipif(JIT_OFF, reason="NUMBA_DISABLE_JIT=1: no compiled kernels at all")
HAVE_CC = bool(shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc"))
REQUIRED = os.environ.get("CTSCOPE_REQUIRE_KERNEL") == "1"       # CI: the build must work there
TABLE = (b"ipv4     2 tcp      6 431999 ESTABLISHED src=198.18.0.1 dst=198.18.0.2 sport=40000 "
         b"dport=443 src=198.18.0.2 dst=198.18.0.1 sport=443 dport=40000 [ASSURED] mark=0 zone=0 use=2\n"
         b"ipv6     10 udp      17 29 src=2001:0db8:0000:0000:0000:0000:0000:0001 "
         b"dst=2001:0db8:0000:0000:0000:0000:0000:0002 sport=5353 dport=53 [UNREPLIED] "
         b"src=2001:0db8:0000:0000:0000:0000:0000:0002 dst=2001:0db8:0000:0000:0000:0000:0000:0001 "
         b"sport=53 dport=5353 mark=0 zone=0 use=2\n")


def _digest(kernel):
    old = scan_table._KERNEL[:]
    scan_table._KERNEL[:] = [kernel]
    try:
        d = scan_table.scan(TABLE, 5, "proc")
        return d.summary.as_dict(), d.pairs, d.unique
    finally:
        scan_table._KERNEL[:] = old


def test_signature_is_the_jits():
    """The AOT copy is compiled for ``signature()``: it must be what ``scan`` passes."""
    _digest(scan_kernel._scan)
    assert scan_kernel.signature().args in scan_kernel._scan.signatures


@pytest.mark.skipif(not HAVE_CC and not REQUIRED, reason="no C compiler: the JIT kernel is used")
def test_commands_load_the_aot_copy():
    run = scan_table.kernel()
    assert aot.last_error(scan_table.KERNEL) is None, aot.last_error(scan_table.KERNEL)
    assert run is not scan_kernel._scan
    assert _digest(run) == _digest(scan_kernel._scan)
    code = ("import sys; from ctscope.live import digest; d = digest.digest(sys.stdin.buffer.read()); "
            "print(d.unique, 'numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], input=TABLE, capture_output=True, check=True)
    assert out.stdout.split() == [b"2", b"False"]      # digested compiled, numba never imported


def test_turned_off(monkeypatch):
    monkeypatch.setenv("CTSCOPE_AOT", "0")
    assert aot.load(scan_table.KERNEL) is None
    assert "CTSCOPE_AOT=0" in aot.last_error(scan_table.KERNEL)


def test_failed_build_is_remembered(tmp_path, monkeypatch):
    monkeypatch.setenv("CTSCOPE_AOT_DIR", str(tmp_path))
    bad = aot.Kernel("ctscope.live.scan_kernel", "_scan", "no_such_signature", scan_table.KERNEL.sources)
    assert aot.load(bad) is None
    assert "build failed" in aot.last_error(bad) and "no_such_signature" in aot.last_error(bad)
    assert [f for f in os.listdir(tmp_path) if f.endswith(".failed")] == [aot.name(bad) + ".failed"]
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".build-")]   # nothing half-written

    def no_build(*a, **k):
        raise AssertionError("built again")
    monkeypatch.setattr(subprocess, "run", no_build)
    assert aot.load(bad) is None and "an earlier build failed" in aot.last_error(bad)


def test_unwritable_directory_is_not_built_into(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    monkeypatch.setenv("CTSCOPE_AOT_DIR", str(ro))
    if os.access(ro, os.W_OK):                  # root: make the check itself say no
        monkeypatch.setattr(aot.os, "access", lambda *a: False)
    assert aot.load(scan_table.KERNEL) is None
    assert "not writable" in aot.last_error(scan_table.KERNEL) and not os.listdir(ro)


@pytest.mark.skipif(not HAVE_CC and not REQUIRED, reason="no C compiler")
def test_build_replaces_stale_copies(tmp_path, monkeypatch):
    """A fresh build (~15 s) in an empty directory: the copy of older sources goes."""
    monkeypatch.setenv("CTSCOPE_AOT_DIR", str(tmp_path))
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    stale = tmp_path / f"{scan_table.KERNEL.stem}_0123456789abcdef{suffix}"
    stale.write_bytes(b"old")
    run = aot.load(scan_table.KERNEL)
    assert run is not None, aot.last_error(scan_table.KERNEL)
    assert sorted(os.listdir(tmp_path)) == sorted([aot.name(scan_table.KERNEL) + suffix,
                                                   scan_table.KERNEL.stem + ".lock"])
    assert _digest(run) == _digest(scan_kernel._scan)


def test_unwritable_install_builds_in_the_user_cache(tmp_path, monkeypatch):
    """The first place cannot be written to: the build goes to the next (here it fails
    on purpose, fast, and the failure is remembered there)."""
    ro, user = tmp_path / "pkg", tmp_path / "user"
    ro.mkdir()
    bad = aot.Kernel("ctscope.live.scan_kernel", "_scan", "no_such_signature", scan_table.KERNEL.sources)
    monkeypatch.setattr(aot, "directories", lambda k: [str(ro), str(user)])
    real = os.access
    monkeypatch.setattr(aot.os, "access", lambda p, m: p != str(ro) and real(p, m))
    assert aot.load(bad) is None and "build failed" in aot.last_error(bad)
    assert not os.listdir(ro)
    assert sorted(os.listdir(user)) == sorted([bad.stem + ".lock", aot.name(bad) + ".failed"])


def test_copy_others_can_write_is_not_loaded(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    planted = shared / (aot.name(scan_table.KERNEL) + sysconfig.get_config_var("EXT_SUFFIX"))
    planted.write_bytes(b"not a shared object")
    monkeypatch.setenv("CTSCOPE_AOT_DIR", str(shared))
    assert aot.load(scan_table.KERNEL) is None
    assert "writable by others" in aot.last_error(scan_table.KERNEL)
