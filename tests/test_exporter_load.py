"""CI smoke of bench/exporter_load.py: 5 seconds at 200 scrapes/s of this namespace.
The full benchmark (262,144 entries, 60 s) is run by hand: python -m bench.exporter_load"""
from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_bench(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.exporter_load", "--json", *args], cwd=ROOT,
                         capture_output=True, text=True, timeout=180)
    assert out.stdout, out.stderr
    res = json.loads(out.stdout)
    res["rc"] = out.returncode
    return res


def test_load_smoke_no_errors():
    res = run_bench("--fill", "0", "--duration", "5", "--rate", "200", "--refresh", "1")
    assert res["errors"] == 0, res["error_samples"]
    assert res["scrapes"] == res["planned"] == 1000 and res["rc"] == 0
    assert res["p99_ms"] > 0 and res["rss_last_mib"] > 0
    assert res["exporter"]["ctscope_exporter_read_errors"] == 0


def test_bench_helpers():
    from bench.exporter_load import check_body, percentile, slope_per_minute
    assert percentile([float(i) for i in range(1, 101)], 99) == 99.0
    assert percentile([5.0], 99) == 5.0
    flat = [(float(t), 100 << 20) for t in range(60)]
    assert slope_per_minute(flat) == 0.0
    leak = [(float(t), (100 << 20) + t * (1 << 20)) for t in range(60)]
    assert abs(slope_per_minute(leak) - 60.0) < 1e-6
    body = b"# TYPE node_nf_conntrack_entries gauge\nnode_nf_conntrack_entries 5.0\n"
    assert check_body(body, 5, parse=True) is None
    assert "!=" in check_body(body, 6, parse=True)
    assert check_body(b"up 1\n", None, parse=False) == "no node_nf_conntrack_entries"
