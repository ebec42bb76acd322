"""A small deterministic mutation fuzzer over fuzz/targets.py, no dependencies.

    NUMBA_DISABLE_JIT=1 python -m fuzz.mutate [--seconds S | --runs N] [--seed K] [TARGET ...]

Replays every corpus file of each target, then mutates them (bit flips, interesting
integers, byte/line insert, delete, duplicate, splice with another seed, token
swaps) for the given time or number of runs.  A crash (any exception other than
InputError, or an input taking longer than --timeout) is saved to fuzz/crashes/ and
printed; the exit status is 1 if there was one.  Prints one JSON line per target:
{"target", "runs", "seconds", "crashes"}.  Used by tests/test_fuzz_smoke.py and where
atheris is not available.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import sys
import time
import traceback

os.environ.setdefault("NUMBA_DISABLE_JIT", "1")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

INTERESTING = [b"\x00", b"\xff", b"\x7f", b"\x80", b"\x00\x00", b"\xff\xff", b"\x7f\xff", b"\x80\x00",
               b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff", b"\x80\x00\x00\x00",
               b"\x00\x00\x01\x00", b"\x00\x01\x00\x00", b"\x40\x00", b"\x05\xdc"]
TEXT_TOKENS = [b"=", b" ", b"\n", b",", b"{", b"}", b"[", b"]", b"\"", b"'", b"-", b"/", b":", b".",
               b"0", b"-1", b"4294967296", b"99999999999999999999", b"0x", b"\t", b"\\", b"#", b";",
               b"\xc3\xa9", b"\x00", b"nan", b"inf", b"1e999", b"::", b"$", b"@"]


class Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise Timeout()


def mutate(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    b = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4, 8))):
        op = rng.randrange(11)
        n = len(b)
        if op == 0 and n:                                   # bit flip
            i = rng.randrange(n)
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1 and n:                                 # random byte
            b[rng.randrange(n)] = rng.randrange(256)
        elif op == 2:                                       # interesting integer
            v = rng.choice(INTERESTING)
            i = rng.randrange(n + 1)
            b[i:i + len(v)] = v
        elif op == 3 and n:                                 # delete a range
            i = rng.randrange(n)
            del b[i:i + rng.randint(1, max(1, min(64, n - i)))]
        elif op == 4 and n:                                 # duplicate a range
            i = rng.randrange(n)
            j = min(n, i + rng.randint(1, 64))
            k = rng.randrange(n + 1)
            b[k:k] = b[i:j] * rng.choice((1, 1, 2, 16))
        elif op == 5:                                       # text token
            k = rng.randrange(n + 1)
            b[k:k] = rng.choice(TEXT_TOKENS)
        elif op == 6 and pool:                              # splice with another seed
            other = rng.choice(pool)
            if other:
                i, k = rng.randrange(len(other)), rng.randrange(n + 1)
                b[k:] = other[i:] if rng.random() < 0.5 else other[i:i + rng.randint(1, 256)] + b[k:]
        elif op == 7 and n:                                 # truncate
            del b[rng.randrange(n):]
        elif op == 8 and n:                                 # swap two lines / words
            sep = b"\n" if rng.random() < 0.5 else b" "
            parts = bytes(b).split(sep)
            if len(parts) > 1:
                i, j = rng.randrange(len(parts)), rng.randrange(len(parts))
                parts[i], parts[j] = parts[j], parts[i]
                b = bytearray(sep.join(parts))
        elif op == 9 and n >= 2:                            # add/sub a small number to a byte/word
            i = rng.randrange(n - 1)
            v = (int.from_bytes(b[i:i + 2], "big") + rng.randint(-35, 35)) & 0xFFFF
            b[i:i + 2] = v.to_bytes(2, "big")
        elif op == 10 and n:                                # digit run -> another number
            i = rng.randrange(n)
            b[i:i + 1] = str(rng.choice((0, 1, 7, 255, 256, 65535, 65536, 2**31, 2**32, 2**63, 10**30))).encode()
    return bytes(b[:1 << 17])


def load_corpus(target: str) -> list[bytes]:
    out = []
    for sub in ("corpus", "work"):
        d = os.path.join(HERE, sub, target)
        if os.path.isdir(d):
            for n in sorted(os.listdir(d)):
                p = os.path.join(d, n)
                if os.path.isfile(p) and os.path.getsize(p) <= 1 << 20:
                    with open(p, "rb") as fh:
                        out.append(fh.read())
    return out or [b""]


def run_target(name: str, fn, seconds: float | None, runs: int | None, seed: int, timeout: int,
               save: bool = True) -> dict:
    rng = random.Random(f"{seed}:{name}")
    pool = load_corpus(name)
    crashes: list[str] = []
    n = 0
    t0 = time.monotonic()
    old = signal.signal(signal.SIGALRM, _alarm)

    def one(data: bytes) -> None:
        nonlocal n
        n += 1
        signal.alarm(timeout)
        try:
            fn(data)
        except Timeout:
            _report(name, data, "timeout", f"no result within {timeout} s", crashes, save)
        except RecursionError as exc:
            _report(name, data, "RecursionError", str(exc), crashes, save)
        except Exception as exc:
            _report(name, data, type(exc).__name__, traceback.format_exc(), crashes, save)
        finally:
            signal.alarm(0)

    try:
        for data in pool:
            one(data)
        while True:
            if runs is not None and n >= runs:
                break
            if seconds is not None and time.monotonic() - t0 >= seconds:
                break
            one(mutate(rng, rng.choice(pool), pool))
    finally:
        signal.signal(signal.SIGALRM, old)
    return {"target": name, "runs": n, "seconds": round(time.monotonic() - t0, 1), "crashes": crashes}


def _signature(kind: str, tb) -> str:
    """exception type + innermost ctscope frame: one report per distinct bug."""
    where = ""
    for fs in traceback.extract_tb(tb) if tb is not None else ():
        if "/ctscope/" in fs.filename:
            where = f"{fs.filename.rsplit('/ctscope/', 1)[1]}:{fs.lineno}"
    return f"{kind}@{where}"


def _report(name, data, kind, detail, crashes, save) -> None:
    sig = _signature(kind, sys.exc_info()[2])
    if any(c.startswith(sig + " ") for c in crashes):
        return
    digest = hashlib.sha1(data).hexdigest()[:12]
    path = None
    if save:
        d = os.path.join(HERE, "crashes")
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, f"{name}-{kind}-{digest}")
        with open(path, "wb") as fh:
            fh.write(data)
    crashes.append(f"{sig} {path or digest}")
    print(f"CRASH {name} {sig} {path or digest}\n{detail}", file=sys.stderr)


def main(argv=None) -> int:
    from fuzz.targets import TARGETS
    p = argparse.ArgumentParser(prog="python -m fuzz.mutate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("targets", nargs="*", metavar="TARGET", help=f"default: all ({', '.join(TARGETS)})")
    p.add_argument("--seconds", type=float, help="time per target")
    p.add_argument("--runs", type=int, help="inputs per target")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=int, default=10, help="seconds one input may take")
    p.add_argument("--no-save", action="store_true", help="do not write crash reproducers")
    a = p.parse_args(argv)
    names = a.targets or list(TARGETS)
    bad = [t for t in names if t not in TARGETS]
    if bad:
        p.error(f"unknown target(s) {', '.join(bad)}")
    if a.seconds is None and a.runs is None:
        a.seconds = 5.0
    failed = False
    for name in names:
        r = run_target(name, TARGETS[name], a.seconds, a.runs, a.seed, a.timeout, not a.no_save)
        failed |= bool(r["crashes"])
        print(json.dumps(r), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
