"""CI smoke fuzz (~1 minute): every parser target of fuzz/targets.py gets its seed corpus
and a fixed number of deterministic mutations (fuzz/mutate.py, seed 0) on the
pure-Python path (NUMBA_DISABLE_JIT=1: the scanner and decoder run interpreted, so an
out-of-bounds read raises instead of reading garbage).  Any exception other than
InputError -- or an InputError without a position -- or an input taking more than 10 s
fails.  Every crash the long campaigns found is replayed from fuzz/regressions/.
The long runs: fuzz/README.md."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from fuzz.targets import TARGETS  # noqa: E402

# inputs per target: about 4 s each on the 2-core CI VM
RUNS = {"pcap": 16000, "pcap_gzip": 30000, "replay": 150, "table_text": 60000, "table_xml": 60000, "table_json": 40000,
        "stats": 120000, "snapshot": 16000, "rules_nft": 5000, "rules_iptables": 5000, "rules_ipset": 12000,
        "sysctl": 80000, "rates": 160000, "scenarios": 8000, "table_digest": 2000}

SMOKE = """
import json, sys
sys.path.insert(0, {root!r})
from fuzz.mutate import run_target
from fuzz.targets import TARGETS
for name, runs in {runs!r}.items():
    r = run_target(name, TARGETS[name], None, runs, 0, 10, save=False)
    print(json.dumps(r), flush=True)
"""


def test_every_parser_has_a_target_and_seeds():
    assert set(RUNS) == set(TARGETS)
    total = 0
    for name in TARGETS:
        d = os.path.join(ROOT, "fuzz", "corpus", name)
        files = os.listdir(d)
        assert files, f"no seeds for {name}"
        total += sum(os.path.getsize(os.path.join(d, f)) for f in files)
    assert total < 2 << 20, f"corpora are {total:,} bytes (keep them < 2 MB)"


@pytest.fixture(scope="module")
def smoke():
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-c", SMOKE.format(root=ROOT, runs=RUNS)], env=env, capture_output=True,
                       text=True, timeout=600)
    results = {d["target"]: d for d in map(json.loads, r.stdout.splitlines())}
    return results, r.stderr


@pytest.mark.parametrize("target", sorted(RUNS))
def test_smoke_fuzz(target, smoke):
    results, log = smoke
    assert target in results, log[-3000:]
    r = results[target]
    assert r["runs"] >= RUNS[target]
    assert r["crashes"] == [], f"{target}: {r['crashes']}\n{log[-6000:]}"


def test_compiled_table_scanner_agrees_with_the_python_path():
    """table_digest with the JIT on: the compiled scanner (no bounds checks) against the
    Python path on mutated tables -- same digest or the same error, never a crash."""
    env = dict(os.environ, NUMBA_DISABLE_JIT="0", PYTHONPATH=ROOT)
    prog = SMOKE.format(root=ROOT, runs={"table_digest": 20000})
    r = subprocess.run([sys.executable, "-c", prog], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.splitlines()[-1])
    assert res["runs"] >= 20000 and res["crashes"] == [], res


def _regressions():
    base = os.path.join(ROOT, "fuzz", "regressions")
    out = []
    for target in sorted(os.listdir(base)):
        for f in sorted(os.listdir(os.path.join(base, target))):
            out.append(pytest.param(target, os.path.join(base, target, f), id=f"{target}/{f}"))
    return out


@pytest.mark.parametrize("target,path", _regressions())
def test_regression(target, path):
    """Each input once crashed its parser (fuzz/regressions/<target>/<exception>-<hash>)."""
    with open(path, "rb") as fh:
        TARGETS[target](fh.read())      # returns, or raises InputError with a position (caught inside)
