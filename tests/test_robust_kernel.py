"""Kernel harness robustness (root): a test process killed with SIGKILL cannot clean up,
so the next harness start sweeps its namespaces -- and only ctscope's own
(``ctsc-<pid>-<tag>`` of a dead pid): a namespace of another tool, or of a live ctscope
process, is kept.  Nothing is created in the initial namespace."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.kernel
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    return {line.split(": ")[1].split("@")[0] for line in out.splitlines()}


def test_sigkilled_harness_is_swept_at_next_start():
    from ctscope.kernel import nsutil
    from ctscope.kernel.netns import Topology

    foreign = f"ctsc-rob-{os.getpid()}-foreign"      # not ctscope's name pattern: must survive
    subprocess.run(["ip", "netns", "add", foreign], check=True)
    links_before = _links()
    code = textwrap.dedent("""
        import time
        from ctscope.kernel.netns import Topology
        t = Topology(tag="rob")
        print(t.fw, t.inj, flush=True)
        time.sleep(60)
    """)
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONPATH": ROOT})
    try:
        names = p.stdout.readline().split()
        assert len(names) == 2 and all(nsutil.exists(n) for n in names), names
        assert all(n.startswith(f"ctsc-{p.pid}-rob") for n in names)
        p.send_signal(signal.SIGKILL)                # our own child, by pid: no handler runs
        p.wait(timeout=10)
        assert all(nsutil.exists(n) for n in names), "SIGKILL cannot clean up: the leftovers must exist"
        with Topology(tag="robnext") as t:           # the next start sweeps them
            assert not any(nsutil.exists(n) for n in names), nsutil.list_ours()
            assert nsutil.exists(t.fw)
            assert os.path.exists(f"/run/netns/{foreign}"), "a namespace that is not ctscope's was removed"
        assert not nsutil.exists(t.fw)
        assert _links() == links_before, "interfaces left in the initial namespace"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=5)
        subprocess.run(["ip", "netns", "del", foreign], check=False)
        for n in nsutil.list_ours():
            if n.startswith(f"ctsc-{p.pid}-"):
                nsutil.delete(n)
    assert not os.path.exists(f"/run/netns/{foreign}")


def test_sweeper_never_touches_other_names():
    from ctscope.kernel import nsutil
    for bad in (f"ctsc-rob-{os.getpid()}-x", "ctscope-1-x", "cni-1234", "../ctsc-1-x", "ctsc-1"):
        with pytest.raises(ValueError):
            nsutil.check_name(bad)
        with pytest.raises(ValueError):
            nsutil.delete(bad)


def test_verify_ctrl_c_removes_its_namespaces(tmp_path):
    """SIGINT to 'ctscope verify' while it injects (real time): exit 130, its ctsc-<pid>-*
    namespaces gone, nothing left in the initial namespace."""
    import time

    import numpy as np

    from ctscope.kernel import nsutil
    from test_robust_limits import ipv4_frames, write_raw_pcap

    udp = np.zeros((20, 9), np.uint8)
    udp[:, 1], udp[:, 3], udp[:, 5] = 7, 53, 9
    frames = ipv4_frames(20, 17, udp)
    eth = np.hstack([np.tile(np.frombuffer(b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00", np.uint8), (20, 1)),
                     frames])
    path = tmp_path / "slow.pcap"
    write_raw_pcap(path, eth, gap_ns=2 * 10**9)          # 2 s apart: verify injects in real time
    raw = bytearray(path.read_bytes())
    raw[20:24] = (1).to_bytes(4, "little")               # link type Ethernet
    path.write_bytes(bytes(raw))
    links_before = _links()
    p = subprocess.Popen([sys.executable, "-m", "ctscope", "verify", str(path), "--max-gap", "2"], cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": ROOT}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not [n for n in nsutil.list_ours() if n.startswith(f"ctsc-{p.pid}-")]:
            assert p.poll() is None, p.stderr.read()
            time.sleep(0.05)
        mine = [n for n in nsutil.list_ours() if n.startswith(f"ctsc-{p.pid}-")]
        assert mine, "verify created no namespace"
        time.sleep(3)                                     # injecting
        p.send_signal(signal.SIGINT)
        p.wait(timeout=15)
        stderr = p.stderr.read()
        assert p.returncode == 130, stderr
        assert "Traceback" not in stderr
        assert nsutil.wait_gone(mine, timeout=5), nsutil.list_ours()
        assert _links() == links_before
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=5)
        for n in nsutil.list_ours():
            if n.startswith(f"ctsc-{p.pid}-"):
                nsutil.delete(n)
