"""Ctrl-C (SIGINT sent to the running process) during replay, top, events and exporter:
each exits within a second.  replay prints the partial summary, writes no output file
(not even a temporary) and exits 130.  Issue [7/7].

The live commands only read the host (this netns): nothing here writes sysctls or
rules.  Timing assertions are limited to "exits within N s", as the issue asks."""
from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time

import numpy as np
import pytest

from test_robust_limits import ipv4_frames, write_raw_pcap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GRACE = 1.0          # the issue: "exits within a second"


def _env():
    return dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), PYTHONUNBUFFERED="1")


def _children(pid: int) -> set[int]:
    out = set()
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out |= {int(x) for x in fh.read().split()}
    except OSError:
        pass
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _interrupt(p: subprocess.Popen, timeout: float = GRACE) -> float:
    """SIGINT -> seconds until the process exited (killed, and the test fails, if > timeout + 5)."""
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    try:
        p.wait(timeout + 5)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        pytest.fail(f"still running {timeout + 5} s after SIGINT")
    return time.monotonic() - t0


@pytest.fixture(scope="module")
def big_capture(tmp_path_factory):
    """3 million distinct UDP flows (~135 MB): ~10 s of replay, far more than the test waits."""
    d = tmp_path_factory.mktemp("sigint")
    n = 3_000_000
    udp = np.zeros((n, 9), np.uint8)
    sport = 1024 + np.arange(n) % 60000
    udp[:, 0], udp[:, 1], udp[:, 2:4], udp[:, 5] = sport >> 8, sport & 255, (0, 53), 9
    path = d / "big.pcap"
    write_raw_pcap(path, ipv4_frames(n, 17, udp))
    yield path
    path.unlink()


def test_replay_sigint(big_capture, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    p = subprocess.Popen([sys.executable, "-m", "ctscope", "replay", str(big_capture), "--ram", "1G",
                          "--verdicts", "v.jsonl", "--table", "t.txt", "--stats", "s.json", "--events", "e.txt"],
                         cwd=out, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # wait until the replay is under way: the verdicts temporary has content
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and p.poll() is None:
        tmps = [f for f in os.listdir(out) if f.startswith(".ctscope-")]
        if any(os.path.getsize(out / f) > 0 for f in tmps if (out / f).exists()):
            break
        time.sleep(0.05)
    assert p.poll() is None, "replay ended before it could be interrupted: " + p.stderr.read()
    took = _interrupt(p)
    stdout, stderr = p.communicate()
    assert p.returncode == 130, stderr
    assert took <= GRACE, f"exited {took:.2f} s after SIGINT"
    assert "Traceback" not in stderr
    assert "(partial: interrupted)" in stderr and "no output files written" in stderr, stderr
    frames = int(stderr.split(": ", 1)[1].split(" frames")[0].replace(",", ""))
    assert 0 < frames < 3_000_000, stderr
    assert os.listdir(out) == [], "output files (or temporaries) were left behind"


def test_replay_sigint_from_stdin(tmp_path):
    """The same from a pipe that never ends (blocked in read when the signal comes)."""
    frames = ipv4_frames(20000, 17, np.zeros((20000, 9), np.uint8))
    write_raw_pcap(tmp_path / "head.pcap", frames)
    data = (tmp_path / "head.pcap").read_bytes()
    p = subprocess.Popen([sys.executable, "-m", "ctscope", "replay", "-", "--ram", "1G", "--stats", "s.json"],
                         cwd=tmp_path, env=_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=False)
    p.stdin.write(data)          # ~0.9 MB: less than the reader's first chunk; it waits for more
    p.stdin.flush()
    time.sleep(3)
    assert p.poll() is None
    took = _interrupt(p)
    p.stdin.close()
    stderr = p.stderr.read().decode()
    assert p.returncode == 130 and took <= GRACE, (p.returncode, took, stderr)
    assert "Traceback" not in stderr and "interrupted" in stderr
    assert sorted(os.listdir(tmp_path)) == ["head.pcap"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_exporter_sigint(tmp_path):
    port = _free_port()
    p = subprocess.Popen([sys.executable, "-m", "ctscope", "exporter", "--listen", f"127.0.0.1:{port}",
                          "--refresh", "1", "--no-kmsg"], cwd=tmp_path, env=_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.1)
            assert p.poll() is None, p.stderr.read()
    time.sleep(1.5)              # at least one background refresh under way or done
    kids = _children(p.pid)
    took = _interrupt(p)
    stderr = p.stderr.read()
    assert took <= GRACE, f"exporter exited {took:.2f} s after SIGINT"
    assert p.returncode in (0, 130), stderr
    assert "Traceback" not in stderr
    time.sleep(0.2)
    assert not [k for k in kids if _alive(k)], "children left running"


@pytest.mark.skipif(not any(os.access(os.path.join(d, "conntrack"), os.X_OK)
                            for d in os.environ.get("PATH", "").split(os.pathsep)),
                    reason="needs the conntrack tool")
@pytest.mark.skipif(os.geteuid() != 0, reason="conntrack -E needs CAP_NET_ADMIN")
def test_events_sigint(tmp_path):
    p = subprocess.Popen([sys.executable, "-m", "ctscope", "events"], cwd=tmp_path, env=_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not _children(p.pid):
        time.sleep(0.05)
    time.sleep(0.5)
    kids = _children(p.pid)
    assert kids, "conntrack -E was not started"
    took = _interrupt(p)
    stderr = p.stderr.read()
    assert took <= GRACE, f"events exited {took:.2f} s after SIGINT"
    assert "Traceback" not in stderr, stderr
    assert p.returncode in (0, 130), stderr
    time.sleep(0.3)
    assert not [k for k in kids if _alive(k)], "conntrack -E left running"


class _Terminal:
    """The terminal side of top's pseudo-terminal.  Like a terminal emulator it reads all that top
    writes, all the time: a pty holds only ~20 kB, and once it is full textual's output thread
    blocks in write() and App shutdown (which joins that thread) hangs -- so a harness that stops
    reading would make *any* way of quitting, even 'q', look like a hang."""

    def __init__(self, master: int, slave: int):
        self.master, self.slave = master, slave
        self.modes_before = termios.tcgetattr(slave)
        self.got = bytearray()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        while not self._stop.is_set():
            if select.select([self.master], [], [], 0.05)[0]:
                try:
                    self.got += os.read(self.master, 65536)
                except OSError:
                    return

    def close(self, check: bool = True) -> bytes:
        time.sleep(0.1)                 # the last bytes written before the exit
        self._stop.set()
        self._thread.join(5)
        modes_after = termios.tcgetattr(self.slave)
        os.close(self.master)
        os.close(self.slave)
        if not check:
            return bytes(self.got)
        # textual leaves the alternate screen and puts the terminal modes (ISIG, ICANON, ECHO...) back
        assert b"\x1b[?1049l" in self.got, "the terminal was not restored (alternate screen)"
        assert modes_after == self.modes_before, "the terminal modes were not restored"
        return bytes(self.got)


def _run_top(tmp_path):
    """top on a pseudo-terminal, once it has drawn: (process, terminal)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = dict(_env(), TERM="xterm-256color")
    p = subprocess.Popen([sys.executable, "-m", "ctscope", "top", "--interval", "1"], cwd=tmp_path, env=env,
                         stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    term = _Terminal(master, slave)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(term.got) < 2000 and p.poll() is None:
        time.sleep(0.05)
    if p.poll() is not None or len(term.got) < 2000:
        why = "top exited early" if p.poll() is not None else "top drew nothing"
        if p.poll() is None:            # never leave it running behind a failed test
            p.kill()
            p.wait()
        pytest.fail(f"{why}: {term.close(check=False)[-2000:]!r}")
    time.sleep(1.5)                     # a refresh or two
    return p, term


def ctrl_c_on_terminal(p, term, how: str = "key") -> tuple[float, bytes]:
    """Ctrl-C to a TUI on ``term`` (``key``: the byte 0x03; ``signal``: SIGINT); waits for
    the exit, kills it if still running after GRACE + 5 s (the test fails).
    Returns (seconds to exit, everything the terminal received)."""
    t0 = time.monotonic()
    if how == "key":
        os.write(term.master, b"\x03")
    else:
        p.send_signal(signal.SIGINT)
    try:
        p.wait(GRACE + 5)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        term.close(check=False)
        pytest.fail(f"still running {GRACE + 5:.0f} s after Ctrl-C ({how})")
    took = time.monotonic() - t0
    return took, term.close()


def test_top_ctrl_c_key(tmp_path):
    """Ctrl-C typed on top's terminal (the pty delivers the byte 0x03: textual turns ISIG off)."""
    p, term = _run_top(tmp_path)
    took, got = ctrl_c_on_terminal(p, term, "key")
    assert took <= GRACE, f"top exited {took:.2f} s after Ctrl-C"
    assert b"Traceback" not in got
    assert p.returncode == 130 and b"ctscope top: interrupted" in got, (p.returncode, got[-300:])


def test_top_sigint(tmp_path):
    """top is a full-screen TUI: run it on a pseudo-terminal, let it draw, then SIGINT."""
    p, term = _run_top(tmp_path)
    took = _interrupt(p)
    got = term.close()
    assert took <= GRACE, f"top exited {took:.2f} s after SIGINT"
    assert b"Traceback" not in got
    assert p.returncode == 130 and b"ctscope top: interrupted" in got, (p.returncode, got[-300:])
