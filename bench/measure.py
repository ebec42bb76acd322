"""Run one peer as a child process: whole-process wall time and peak RSS.

Peak RSS comes from ``wait4()`` (the largest process of the tree, as
``/usr/bin/time -v`` reports it); ``tree_rss`` is the peak of the summed RSS of the
whole process tree, sampled every 50 ms with psutil when it is installed (nfstream
runs several meter processes).
"""
from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass


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


def run(cmd: list[str], timeout: float, env: dict | None = None) -> Run:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    stop, peak = threading.Event(), [0]
    sampler = threading.Thread(target=_sample_tree, args=(proc.pid, stop, peak), daemon=True)
    sampler.start()
    out: list = []
    readers = [threading.Thread(target=lambda s=s: out.append((s, s.read())), daemon=True)
               for s in (proc.stdout, proc.stderr)]
    for r in readers:
        r.start()
    deadline = start + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.005)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    stop.set()
    for r in readers:
        r.join(5)
    texts = {id(s): data.decode(errors="replace") for s, data in out}
    return Run(wall, usage.ru_maxrss * 1024, peak[0], proc.returncode,
               texts.get(id(proc.stdout), ""), texts.get(id(proc.stderr), ""))
