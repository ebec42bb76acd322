"""Load test of ``ctscope exporter``: scrape it at a fixed rate, report latency and memory.

    python -m bench.exporter_load                       # 262,144 entries, 200/s for 60 s (root)
    python -m bench.exporter_load --fill 0 --duration 5 # smoke: this namespace, no root needed

With ``--fill N`` (root) a throw-away namespace ``ctsc-exp-<pid>-bench`` is filled with
N ASSURED TCP entries (``ctscope.exporter.lab``) and the exporter is started as a
child process exporting it (``--netns``); it is stopped by its PID and the namespace
deleted at the end, also on failure or Ctrl-C.  The load is open-loop: scrape i is
due at start + i/rate, whatever earlier scrapes did; a scrape counts as an error if
it fails, is not HTTP 200, lacks ``node_nf_conntrack_entries``, or (every 10th, fully
parsed with prometheus-client) has a different entry count than the filled table.
Bounded: it stops by itself after --duration (at most 600 s).
Memory: resident set of the serving process, sampled every second after a warm-up;
"flat" = its least-squares slope, in MiB per minute; the reader child's RSS (high
while it summarises the table, then released) is reported apart.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
import threading
import time
import urllib.request

WARMUP_S = 5.0


def rss_bytes(pid: int) -> int:
    """Resident set of process ``pid`` in bytes (0 if gone)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            m = re.search(r"^VmRSS:\s+(\d+) kB", fh.read(), re.M)
        return int(m.group(1)) * 1024 if m else 0
    except OSError:
        return 0


def rss_pair(pid: int) -> tuple[int, int]:
    """(RSS of the exporter ``pid``, summed RSS of its children: the reader)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            kids = [int(p) for p in fh.read().split()]
    except OSError:
        kids = []
    return rss_bytes(pid), sum(map(rss_bytes, kids))


def slope_per_minute(samples: list[tuple[float, int]]) -> float:
    """Least-squares slope of (seconds, bytes) samples, in MiB per minute."""
    if len(samples) < 2:
        return 0.0
    n = len(samples)
    mx = sum(t for t, _ in samples) / n
    my = sum(v for _, v in samples) / n
    var = sum((t - mx) ** 2 for t, _ in samples)
    cov = sum((t - mx) * (v - my) for t, v in samples)
    return (cov / var if var else 0.0) * 60 / (1 << 20)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)                  # nearest rank
    return s[min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))]


def check_body(body: bytes, want_entries: int | None, parse: bool) -> str | None:
    """None if the scrape is good, else why not."""
    if b"node_nf_conntrack_entries" not in body:
        return "no node_nf_conntrack_entries"
    if not parse:
        return None
    from prometheus_client.parser import text_string_to_metric_families
    fams = {f.name: f for f in text_string_to_metric_families(body.decode())}
    if want_entries is not None:
        got = [s.value for s in fams["node_nf_conntrack_entries"].samples]
        if got != [float(want_entries)]:
            return f"node_nf_conntrack_entries {got} != {want_entries}"
    return None


def load(url: str, rate: float, duration: float, workers: int = 8, want_entries: int | None = None,
         pid: int | None = None) -> dict:
    """Scrape ``url`` ``rate`` times per second for ``duration`` s; latencies and errors."""
    total = int(rate * duration)
    lock = threading.Lock()
    state = {"next": 0}
    lat: list[float] = []
    late: list[float] = []
    errors: list[str] = []
    mem: list[tuple[float, int]] = []       # serving process
    kid: list[int] = []                      # reader child
    start = time.monotonic() + 0.2

    def worker():
        while True:
            with lock:
                i = state["next"]
                state["next"] += 1
            if i >= total:
                return
            due = start + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            t0 = time.monotonic()
            try:
                with urllib.request.urlopen(url, timeout=10) as r:
                    body, status = r.read(), r.status
                why = f"HTTP {status}" if status != 200 else check_body(body, want_entries, i % 10 == 0)
            except Exception as exc:            # every failure is a counted error
                why = f"{type(exc).__name__}: {exc}"
            t1 = time.monotonic()
            with lock:
                lat.append(t1 - t0)
                late.append(max(0.0, t0 - due))
                if why:
                    errors.append(why)

    def sampler(stop: threading.Event):
        while not stop.wait(1.0):
            if pid is not None and time.monotonic() - start >= min(WARMUP_S, duration / 5):
                own, child = rss_pair(pid)
                mem.append((time.monotonic() - start, own))
                kid.append(child)

    stop = threading.Event()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    mon = threading.Thread(target=sampler, args=(stop,), daemon=True)
    mon.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=duration + 60)
    stop.set()
    mon.join()
    elapsed = time.monotonic() - start
    out = {"scrapes": len(lat), "planned": total, "errors": len(errors), "error_samples": errors[:5],
           "achieved_rate": len(lat) / elapsed if elapsed > 0 else 0.0,
           "p50_ms": percentile(lat, 50) * 1e3, "p99_ms": percentile(lat, 99) * 1e3,
           "max_ms": max(lat, default=float("nan")) * 1e3,
           "late_p99_ms": percentile(late, 99) * 1e3}
    if mem:
        mib = 1 << 20
        out.update(rss_first_mib=mem[0][1] / mib, rss_last_mib=mem[-1][1] / mib,
                   rss_max_mib=max(v for _, v in mem) / mib, rss_slope_mib_per_min=slope_per_minute(mem),
                   reader_rss_min_mib=min(kid) / mib, reader_rss_max_mib=max(kid) / mib,
                   reader_rss_last_mib=kid[-1] / mib)
    return out


def start_exporter(args_list: list[str], timeout: float = 120.0) -> tuple[subprocess.Popen, str]:
    """``ctscope exporter ARGS`` as a child; returns (process, metrics URL)."""
    proc = subprocess.Popen([sys.executable, "-m", "ctscope", "exporter", *args_list],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        m = re.search(r"serving (http://\S+)", line)
        if m:
            threading.Thread(target=proc.stderr.read, daemon=True).start()   # keep draining
            return proc, m.group(1)
    proc.kill()
    proc.wait()
    raise RuntimeError("the exporter did not start")


def stop_exporter(proc: subprocess.Popen) -> int:
    proc.terminate()                    # by PID: only the child we started
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def final_metrics(url: str) -> dict:
    from prometheus_client.parser import text_string_to_metric_families
    with urllib.request.urlopen(url, timeout=10) as r:
        body = r.read().decode()
    out = {}
    for fam in text_string_to_metric_families(body):
        if fam.name in ("ctscope_exporter_read_duration_seconds", "ctscope_exporter_read_errors",
                        "node_nf_conntrack_entries", "ctscope_nf_conntrack_listed_entries"):
            out[fam.name] = fam.samples[0].value if fam.samples else None
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.exporter_load", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fill", type=int, default=262_144, help="entries in a throw-away namespace (0: none, "
                   "export this namespace; default 262144, needs root)")
    p.add_argument("--rate", type=float, default=200.0, help="scrapes per second (default 200)")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60, max 600)")
    p.add_argument("--refresh", type=float, default=10.0, help="exporter --refresh (default 10)")
    p.add_argument("--workers", type=int, default=8, help="client threads (default 8)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    a = p.parse_args(argv)
    if not 0 < a.duration <= 600 or not 0 < a.rate <= 5000 or a.fill < 0:
        p.error("need 0 < --duration <= 600, 0 < --rate <= 5000, --fill >= 0")
    lab = None
    proc = None
    try:
        exp_args = ["--listen", "127.0.0.1:0", "--refresh", str(a.refresh), "--no-kmsg"]
        want = None
        fill_s = None
        if a.fill:
            from ctscope.exporter.lab import Lab
            lab = Lab("bench")
            t0 = time.monotonic()
            lab.handshakes(a.fill)
            want = lab.wait_count(a.fill)
            fill_s = time.monotonic() - t0
            if want != a.fill:
                print(f"warning: the namespace holds {want} entries, not {a.fill}", file=sys.stderr)
            exp_args += ["--netns", lab.name]
        proc, url = start_exporter(exp_args)
        res = load(url, a.rate, a.duration, a.workers, want, proc.pid)
        res.update(fill=a.fill, entries=want, fill_seconds=fill_s, rate=a.rate, duration=a.duration,
                   refresh=a.refresh, exporter=final_metrics(url))
    finally:
        if proc is not None:
            stop_exporter(proc)
        if lab is not None:
            lab.close()
    if a.json:
        print(json.dumps(res, indent=2))
    else:
        for k, v in res.items():
            print(f"{k:24} {v:.3f}" if isinstance(v, float) else f"{k:24} {v}")
    return 1 if res["errors"] or res["scrapes"] < res["planned"] else 0


if __name__ == "__main__":
    sys.exit(main())
