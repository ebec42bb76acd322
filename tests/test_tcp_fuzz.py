"""Random TCP conversations: invariants of the tracker, and the compiled code
against the same code run by the Python interpreter (NUMBA_DISABLE_JIT=1 in a
child process) -- catches integer width / wrap-around differences."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from ctscope.engine.layout import TCP_IV

from tcp_harness import Conn

FLAG_CHOICES = ["S", "SA", "A", "PA", "FA", "R", "RA", "SF", "F", ""]
FLAG_WEIGHTS = np.array([10, 10, 30, 30, 8, 2, 2, 1, 1, 1], dtype=float) / 95


def conversation(seed, n=300):
    """Drive one entry with ``n`` random packets; returns per-packet outcomes."""
    rng = np.random.default_rng(seed)
    c = Conn()
    nxt = {"o": int(rng.integers(0, 2**32)), "r": int(rng.integers(0, 2**32))}
    out = []
    for _ in range(n):
        side = "o" if rng.random() < 0.55 else "r"
        other = "r" if side == "o" else "o"
        flags = FLAG_CHOICES[int(rng.choice(len(FLAG_CHOICES), p=FLAG_WEIGHTS))]
        near = rng.random() < 0.85
        seq = (nxt[side] + int(rng.integers(-3000, 3000))) if near else int(rng.integers(0, 2**32))
        ack = (nxt[other] + int(rng.integers(-2000, 2000))) if near else int(rng.integers(0, 2**32))
        if rng.random() < 0.5:
            seq, ack = nxt[side], nxt[other]
        kw = dict(datalen=int(rng.choice([0, 0, 1, 100, 1460])), win=int(rng.choice([0, 1000, 65535])))
        if "S" in flags:
            kw["wscale"] = int(rng.choice([-1, 0, 7, 14, 15]))
            kw["sackperm"] = bool(rng.random() < 0.5)
        if rng.random() < 0.2:
            kw["sack"] = (ack + int(rng.integers(0, 3000))) & 0xFFFFFFFF
        state_before = c.state
        expires_before = int(c.r["expires"]) if c.exists else None
        v = c.send(side, flags, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, **kw)
        if v.endswith("ACCEPT") or v == "IGNORE":
            nxt[side] = (seq + kw["datalen"] + ("S" in flags) + ("F" in flags)) & 0xFFFFFFFF
        if v == "INVALID" and c.exists:
            assert c.state == state_before and int(c.r["expires"]) <= expires_before
        if c.exists:
            assert c.r["state"] < TCP_IV
        out.append([v, c.timeout, c.state, c.remaining if c.exists else None])
        if rng.random() < 0.1:
            c.advance(float(rng.integers(0, 400)))
    final = c.tbl.tobytes().hex() if c.exists else None
    return {"steps": out, "final": final}


@pytest.mark.parametrize("seed", range(6))
def test_random_conversations_keep_invariants(seed):
    res = conversation(seed)
    kinds = {s[0].split(":")[-1] for s in res["steps"]}
    assert kinds <= {"ACCEPT", "IGNORE", "INVALID", "DELETE"}


def test_compiled_matches_interpreted():
    seeds = list(range(6))
    here = {s: conversation(s) for s in seeds}
    code = ("import json, sys; sys.path[:0] = sys.argv[1:3]; import test_tcp_fuzz as t; "
            f"print(json.dumps({{s: t.conversation(s) for s in {seeds}}}))")
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(tests_dir)
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    p = subprocess.run([sys.executable, "-c", code, tests_dir, root], env=env,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    there = {int(k): v for k, v in json.loads(p.stdout).items()}
    for s in seeds:
        assert json.loads(json.dumps(here[s])) == there[s], f"seed {s} differs"
