"""The peers, the captures and the side-by-side schedule."""
from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import measure

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT) + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    return e


def _has_module(name: str) -> bool:
    old = list(sys.path)
    sys.path.insert(0, str(ROOT))
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False
    finally:
        sys.path[:] = old


@dataclass
class Peer:
    name: str
    what: str
    cmd: Callable[[str], list]
    check: Callable[[], str | None]          # None: available, else why not
    compiles: bool = False                   # has a compile cache to warm first


def _need_module(mod: str, how: str):
    return lambda: None if _has_module(mod) else how


PEERS = [
    Peer("ctscope", "ctscope replay FILE (full fidelity)",
         lambda f: [PY, "-m", "ctscope", "replay", f],
         _need_module("ctscope.commands.replay", "the replay command does not exist yet"), True),
    Peer("numba-floor", "bare numba 5-tuple flow loop (ceiling)",
         lambda f: [PY, "-m", "bench.peers.numba_floor", f],
         _need_module("numba", "numba is not installed"), True),
    Peer("dpkt", "dpkt tracker (issue 2 definition)",
         lambda f: [PY, "-m", "bench.peers.dpkt_tracker", f],
         _need_module("dpkt", "dpkt is not installed (pip install dpkt)")),
    Peer("nfstream", "nfstream defaults, statistical_analysis=False",
         lambda f: [PY, "-m", "bench.peers.nfstream_peer", f],
         _need_module("nfstream", "nfstream is not installed (pip install nfstream)")),
    Peer("nfstream-nodpi", "nfstream, statistical_analysis=False, n_dissections=0",
         lambda f: [PY, "-m", "bench.peers.nfstream_peer", f, "--n-dissections", "0"],
         _need_module("nfstream", "nfstream is not installed (pip install nfstream)")),
    Peer("tshark", "tshark -q -z conv,tcp -z conv,udp",
         lambda f: ["tshark", "-n", "-r", f, "-q", "-z", "conv,tcp", "-z", "conv,udp"],
         lambda: None if shutil.which("tshark") else "tshark is not installed (apt-get install tshark)"),
]


def parse_size(text: str) -> int:
    text = text.strip().lower()
    mult = {"k": 1_000, "m": 1_000_000, "g": 1_000_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("kmg")) * mult)


def label(n: int) -> str:
    for unit, div in (("M", 1_000_000), ("k", 1_000)):
        if n >= div and n % div == 0:
            return f"{n // div}{unit}"
    return str(n)


def generator_digest() -> str:
    h = hashlib.sha1()
    for p in sorted((ROOT / "ctscope" / "synth").glob("*.py")):
        h.update(p.read_bytes())
    return h.hexdigest()[:10]


@dataclass
class Capture:
    packets: int
    path: str
    bytes: int
    synth_wall: float | None = None          # None: taken from the cache


def capture(cache: Path, packets: int, seed: int) -> Capture:
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"mix-{label(packets)}-seed{seed}-us-{generator_digest()}.pcap"
    if path.exists():
        return Capture(packets, str(path), path.stat().st_size)
    r = measure.run([PY, "-m", "ctscope", "synth", "mix", "--packets", str(packets), "--seed", str(seed),
                     "--us", "--quiet", "--out", str(path)], timeout=3600, env=env())
    if r.rc != 0:
        raise SystemExit(f"bench: generating {path} failed:\n{r.err}")
    return Capture(packets, str(path), path.stat().st_size, r.wall)


@dataclass
class Result:
    peer: Peer
    runs: list = field(default_factory=list)
    note: str | None = None


def warm(path: str) -> None:
    """Read the file once so every peer starts with it in the page cache."""
    with open(path, "rb") as fh:
        while fh.read(64 << 20):
            pass
