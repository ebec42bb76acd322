"""Run one peer as a child process: whole-process wall time and peak RSS.

Peak RSS comes from ``wait4()`` (the largest process of the tree, as
``/usr/bin/time -v`` reports it); ``tree_rss`` is the peak of the summed RSS of the
whole process tree, sampled every 50 ms with psutil when it is installed (nfstream
runs several meter processes).

A peer is not forked from this process directly: Linux records the old address
space's high-water mark in the new program's ``maxrss`` at exec (fs/exec.c
``exec_mmap`` -> ``setmax_mm_hiwater_rss``), so every child of a bench that had grown
to 400 MB (tshark's output on the 5 M capture) reported >= 400 MB.  ``_RUNNER``, a
small Python started first, forks the peer from its own small address space, waits
for it and reports the peer's own ``ru_maxrss`` on a pipe, like ``/usr/bin/time``.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

# argv: FD CMD...; the peer gets this process's stdio; "maxrss_KiB wall_s" goes to FD
# (the wall time from fork to reaping, so the runner's own start-up is not counted)
_RUNNER = """
import os, signal, sys, time
fd = int(sys.argv[1])
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.close(fd)
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
signal.signal(signal.SIGTERM, lambda *a: os.kill(pid, signal.SIGKILL))
_, status, usage = os.wait4(pid, 0)
os.write(fd, f"{usage.ru_maxrss} {time.perf_counter() - t0}".encode())
sys.exit(os.waitstatus_to_exitcode(status) & 255)
"""


@dataclass
class Run:
    wall: float            # seconds
    maxrss: int            # bytes, largest process
    tree_rss: int          # bytes, sampled peak of the tree's sum (0 if unknown)
    rc: int
    out: str
    err: str


def _sample_tree(pid: int, stop: threading.Event, peak: list) -> None:
    try:
        import psutil
        root = psutil.Process(pid)
    except Exception:
        return
    while not stop.is_set():
        try:
            procs = [root] + root.children(recursive=True)
            total = 0
            for p in procs:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            peak[0] = max(peak[0], total)
        except Exception:
            pass
        stop.wait(0.05)


def run(cmd: list[str], timeout: float, env: dict | None = None, discard_stdout: bool = False) -> Run:
    """``discard_stdout``: the peer writes to /dev/null (``cmd > /dev/null``) instead of a
    pipe this process drains -- for peers whose output is the table itself."""
    r_fd, w_fd = os.pipe()
    start = time.perf_counter()
    try:
        proc = subprocess.Popen([sys.executable, "-S", "-c", _RUNNER, str(w_fd), *cmd],
                                stdout=subprocess.DEVNULL if discard_stdout else subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, pass_fds=(w_fd,))
    finally:
        os.close(w_fd)
    stop, peak = threading.Event(), [0]
    sampler = threading.Thread(target=_sample_tree, args=(proc.pid, stop, peak), daemon=True)
    sampler.start()
    out: list = []
    readers = [threading.Thread(target=lambda s=s: out.append((s, s.read())), daemon=True)
               for s in (proc.stdout, proc.stderr) if s is not None]
    for r in readers:
        r.start()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)        # the runner kills the peer and reports
        proc.wait()
    wall = time.perf_counter() - start
    with os.fdopen(r_fd, "rb") as fh:
        reported = fh.read()
    stop.set()
    for r in readers:
        r.join(5)
    texts = {id(s): data.decode(errors="replace") for s, data in out}
    try:
        kib, child_wall = reported.split()
        maxrss, wall = int(kib) * 1024, float(child_wall)
    except ValueError:              # the runner died before reporting: keep the outside view
        maxrss = 0
    return Run(wall, maxrss, peak[0], proc.returncode,
               texts.get(id(proc.stdout), ""), texts.get(id(proc.stderr), ""))
