"""A long local fuzzing campaign: every target in turn, one process at a time.

    python -m fuzz.campaign [--scale 1.0] [--only T1,T2] [--mutate-only T1,T2]

Each target gets a time budget (BUDGET x scale seconds).  atheris targets are restarted
after a crash until their budget is spent (libFuzzer stops at the first one); the
reproducers land in fuzz/crashes/.  Targets listed in --mutate-only run the built-in
mutation loop instead (it reports each distinct crash once and keeps going).  One JSON
line per run segment goes to fuzz/work/campaign.jsonl and stdout:
{"target", "engine", "runs", "seconds", "crash"}.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

BUDGET = {"pcap": 700, "pcap_gzip": 250, "table_text": 250, "table_xml": 150, "table_json": 150,
          "stats": 120, "snapshot": 250, "rules_nft": 300, "rules_iptables": 300, "rules_ipset": 150,
          "sysctl": 120, "rates": 120, "scenarios": 150}


def _atheris(target: str, seconds: int, log) -> tuple[int, str | None]:
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "fuzz.run", target, f"-max_total_time={seconds}", "-print_final_stats=1",
           "-close_fd_mask=1"]
    p = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       errors="replace")
    log.write(p.stdout)
    runs = 0
    for m in re.finditer(r"(?m)^(?:#(\d+)\s|Done (\d+) runs|stat::number_of_executed_units:\s*(\d+))", p.stdout):
        runs = max(runs, int(next(g for g in m.groups() if g)))
    crash = None
    m = re.search(r"Test unit written to (\S+)", p.stdout)
    if p.returncode != 0:
        crash = m.group(1) if m else f"exit {p.returncode}"
    return runs, crash


def _mutate(target: str, seconds: int, log) -> tuple[int, str | None]:
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    p = subprocess.run([sys.executable, "-m", "fuzz.mutate", "--seconds", str(seconds), "--seed",
                        str(int(time.time())), target], cwd=ROOT, env=env, capture_output=True, text=True,
                       errors="replace")
    log.write(p.stderr)
    r = json.loads(p.stdout.strip().splitlines()[-1])
    return r["runs"], "; ".join(r["crashes"]) or None


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--only", default="")
    p.add_argument("--mutate-only", default="snapshot")
    a = p.parse_args(argv)
    targets = [t for t in BUDGET if not a.only or t in a.only.split(",")]
    mutate = set(filter(None, a.mutate_only.split(",")))
    os.makedirs(os.path.join(HERE, "work"), exist_ok=True)
    out = open(os.path.join(HERE, "work", "campaign.jsonl"), "a")
    log = open(os.path.join(HERE, "work", "campaign.log"), "a")
    for t in targets:
        budget = int(BUDGET[t] * a.scale)
        t_end = time.monotonic() + budget
        while (left := int(t_end - time.monotonic())) >= 5:
            t0 = time.monotonic()
            engine = "mutate" if t in mutate else "atheris"
            tmp_before = set(glob.glob("/dev/shm/ctscope-fuzz-*"))
            runs, crash = (_mutate if engine == "mutate" else _atheris)(t, left, log)
            for d in set(glob.glob("/dev/shm/ctscope-fuzz-*")) - tmp_before:   # libFuzzer exits without atexit
                shutil.rmtree(d, ignore_errors=True)
            rec = {"target": t, "engine": engine, "runs": runs, "seconds": round(time.monotonic() - t0, 1),
                   "crash": crash}
            print(json.dumps(rec), flush=True)
            out.write(json.dumps(rec) + "\n")
            out.flush()
            log.flush()
            if engine == "mutate":
                break
    return 0


if __name__ == "__main__":
    sys.exit(main())
