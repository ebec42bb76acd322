"""The issue-7 measurements beside the peer table: start-up, cold vs warm replay, table
bytes per entry, summarising a 262,144-entry table against ``conntrack -L``, exporter
scrape cost.  Each returns markdown lines; each is bounded in time and cleans up.

    python -m bench.extras            # all of them (the table ones need root)
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from . import measure, suite

PY = sys.executable


def _median_wall(cmd, n=3, env=None, timeout=300.0):
    runs = [measure.run(cmd, timeout, env or suite.env()) for _ in range(n)]
    ok = [r for r in runs if r.rc == 0]
    if not ok:
        raise RuntimeError(f"{' '.join(map(str, cmd))}: {runs[-1].err.strip()[-200:]}")
    return statistics.median(r.wall for r in ok), max(r.maxrss for r in ok)


def cold_warm(cache_dir) -> list[str]:
    """`ctscope replay` of a 1,000-packet capture with an empty numba cache, then warm."""
    cap = suite.capture(cache_dir, 1000, 1)
    with tempfile.TemporaryDirectory(prefix="ctscope-numba-") as empty:
        env = suite.env() | {"NUMBA_CACHE_DIR": empty}
        cold = measure.run([PY, "-m", "ctscope", "replay", cap.path, "--no-progress"], 900, env)
    warm, _ = _median_wall([PY, "-m", "ctscope", "replay", cap.path, "--no-progress"], 5)
    return ["## Replay start-up", "",
            "| run | wall s |", "|---|---:|",
            f"| cold (empty compile cache: numba compiles the decoder and the engine) | {cold.wall:.1f} |",
            f"| warm, 1,000-packet capture, median of 5 (target <= 1 s) | {warm:.2f} |", ""]


def table_bytes() -> list[str]:
    """Bytes of the engine's table arrays per entry at nf_conntrack_max = 1,048,576, measured
    on a Tracker filled with 1,048,576 distinct UDP flows (acct off, then on)."""
    code = r"""
import json, numpy as np
from ctscope.engine.settings import Settings
from ctscope.engine.tracker import Tracker
from ctscope.packets.record import empty_batch, PF_L4_OK
N = 1 << 20
out = {}
for acct in (0, 1):
    tr = Tracker(Settings(values={"nf_conntrack_max": N, "nf_conntrack_buckets": N, "nf_conntrack_acct": acct}))
    for start in range(0, N, 1 << 16):
        b = empty_batch(1 << 16)
        k = np.arange(start, start + (1 << 16))
        b["ts"] = 10**18 + k * 1000
        b["l3"], b["proto"], b["pflags"], b["iplen"], b["ttl"] = 4, 17, PF_L4_OK, 60, 64
        b["src_lo"], b["dst_lo"] = 0xC6120000 + (k >> 16), 0xC6130001
        b["sport"], b["dport"] = k & 0xFFFF, 53
        tr.process_batch(b)
    out[acct] = {"count": tr.count, "bytes": tr.table_bytes(), "per_entry": tr.table_bytes() / N}
print(json.dumps(out))
"""
    res = subprocess.run([PY, "-c", code], capture_output=True, text=True, env=suite.env(), timeout=600)
    if res.returncode:
        return ["## Table memory", "", f"not measured: {res.stderr.strip()[-200:]}", ""]
    d = json.loads(res.stdout)
    return ["## Table memory (nf_conntrack_max = buckets = 1,048,576, table full)", "",
            "| accounting | entries | table array bytes | bytes per entry (target <= 128, +32 with acct) |",
            "|---|---:|---:|---:|",
            f"| off | {d['0']['count']:,} | {d['0']['bytes']:,} | {d['0']['per_entry']:.1f} |",
            f"| on | {d['1']['count']:,} | {d['1']['bytes']:,} | {d['1']['per_entry']:.1f} |",
            "", "The kernel uses a 256-byte slab object per entry plus extensions (~380 B).", ""]


def summarise_vs_conntrack(repeat: int = 5) -> list[str]:
    """A namespace filled with 262,144 ASSURED entries: `conntrack -L > /dev/null` against
    `ctscope doctor` (live), `ctscope doctor --input` on a saved /proc file and on a
    snapshot file, whole process, round-robin (one untimed run of each first), median."""
    if os.geteuid() != 0:
        return ["## Summarising a 262,144-entry table", "", "not measured: needs root", ""]
    from ctscope.exporter.lab import Lab

    rows = []
    with Lab("bench") as lab, tempfile.TemporaryDirectory() as tmp:
        lab.handshakes(262_144, "assured")
        ns = ["ip", "netns", "exec", lab.name]
        saved = os.path.join(tmp, "proc.txt")
        snap = os.path.join(tmp, "snap.json")
        subprocess.run(ns + ["sh", "-c", f"cat /proc/net/nf_conntrack > {saved}"], check=True)
        subprocess.run(ns + [PY, "-m", "ctscope", "snapshot", "--out", snap], check=True,
                       env=suite.env(), capture_output=True)
        cases = [
            ("conntrack -L > /dev/null (live)", ns + ["conntrack", "-L"]),
            ("ctscope doctor --churn 0 (live /proc)", ns + [PY, "-m", "ctscope", "doctor", "--churn", "0"]),
            ("ctscope doctor --input saved /proc file", [PY, "-m", "ctscope", "doctor", "--input", saved]),
            ("ctscope doctor --input snapshot file", [PY, "-m", "ctscope", "doctor", "--input", snap]),
        ]
        runs: dict = {label: [] for label, _ in cases}
        for i in range(repeat + 1):
            for label, cmd in cases:
                r = measure.run(cmd, 300.0, suite.env(), discard_stdout=True)     # `> /dev/null`, all alike
                if r.rc != 0:
                    raise RuntimeError(f"{label}: {r.err.strip()[-200:]}")
                if i:
                    runs[label].append(r)
        ref = statistics.median(r.wall for r in runs[cases[0][0]])
        for label, _ in cases:
            wall = statistics.median(r.wall for r in runs[label])
            rss = max(r.maxrss for r in runs[label])
            rows.append(f"| {label} | {wall:.2f} | {wall / ref:.2f} | {rss / 2**20:,.0f} |")
    return [f"## Summarising a 262,144-entry table (whole process, round-robin, median of {repeat})", "",
            "| command | wall s | x conntrack -L | peak RSS MB |", "|---|---:|---:|---:|", *rows, ""]


def exporter_scrape(seconds: float = 10.0) -> list[str]:
    """The exporter under 200 scrapes/s on this namespace (the 262,144-entry, 60 s run is
    `python -m bench.exporter_load`)."""
    res = subprocess.run([PY, "-m", "bench.exporter_load", "--fill", "0", "--duration", str(seconds),
                          "--json"], capture_output=True, text=True, env=suite.env(), timeout=seconds + 120)
    if res.returncode:
        return ["## Exporter scrape cost", "", f"not measured: {res.stderr.strip()[-200:]}", ""]
    d = json.loads(res.stdout)
    keys = [k for k in ("scrapes", "errors", "p50_ms", "p99_ms", "max_ms") if k in d]
    return ["## Exporter scrape cost (200 scrapes/s, this namespace, "
            f"{seconds:.0f} s; the 262,144-entry run: `python -m bench.exporter_load`)", "",
            "| " + " | ".join(keys) + " |", "|" + "---:|" * len(keys),
            "| " + " | ".join(f"{d[k]:.1f}" if isinstance(d[k], float) else str(d[k]) for k in keys) + " |", ""]


def all_sections(cache_dir) -> list[str]:
    out = []
    for fn in (lambda: cold_warm(cache_dir), table_bytes, summarise_vs_conntrack, exporter_scrape):
        t = time.time()
        try:
            out += fn()
        except Exception as exc:   # a measurement that fails is reported, not fatal
            out += [f"(a measurement failed: {exc})", ""]
        print(f"bench: extras step done in {time.time() - t:.0f} s", file=sys.stderr, flush=True)
    return out


if __name__ == "__main__":
    from pathlib import Path
    print("\n".join(all_sections(Path("/tmp/ctscope-bench"))))
