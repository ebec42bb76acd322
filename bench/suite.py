"""The peers, the captures and the side-by-side schedule."""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
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


def _kv(out: str) -> dict:
    """``key=value`` words of a peer's summary line (ints where they parse)."""
    facts = {}
    for word in out.split():
        k, sep, v = word.partition("=")
        if sep:
            try:
                facts[k] = int(v)
            except ValueError:
                facts[k] = v
    return facts


@dataclass
class Peer:
    name: str
    what: str
    cmd: Callable[[str, "Spec"], list]        # (capture path, its spec) -> argv
    check: Callable[[], str | None]          # None: available, else why not
    compiles: bool = False                   # has a compile cache to warm first
    facts: Callable[[str], dict] = _kv       # what its output says (flows, peak entries, ...)


def _need_module(mod: str, how: str):
    return lambda: None if _has_module(mod) else how


CTSCOPE_FACTS = ("frames", "peak_entries", "entries_end", "invalid", "dropped", "table_full_drops",
                 "table_bytes_per_entry")


def _ctscope_facts(out: str) -> dict:
    """From ``ctscope replay --json``: the peak table and what it cost."""
    try:
        d = json.loads(out)
    except ValueError:
        return {}
    facts = {k: d[k] for k in CTSCOPE_FACTS if k in d}
    st = d.get("settings") or {}
    facts["nf_conntrack_max"] = st.get("nf_conntrack_max")
    facts["nf_conntrack_buckets"] = st.get("nf_conntrack_buckets")
    if "peak_entries" in d and "table_bytes_per_entry" in d:
        facts["table_bytes"] = int(d["peak_entries"] * d["table_bytes_per_entry"])
    return facts


PEERS = [
    Peer("ctscope", "ctscope replay --json FILE (full fidelity; flows captures: a table big enough "
         "for every flow, see Method)",
         lambda f, spec: [PY, "-m", "ctscope", "replay", "--json", "--no-progress", *spec.replay_args(), f],
         _need_module("ctscope.commands.replay", "the replay command does not exist yet"), True,
         _ctscope_facts),
    Peer("numba-floor", "bare numba 5-tuple flow loop (ceiling)",
         lambda f, spec: [PY, "-m", "bench.peers.numba_floor", f],
         _need_module("numba", "numba is not installed"), True),
    Peer("dpkt", "dpkt tracker (issue 2 definition)",
         lambda f, spec: [PY, "-m", "bench.peers.dpkt_tracker", f],
         _need_module("dpkt", "dpkt is not installed (pip install dpkt)")),
    Peer("nfstream", "nfstream defaults, statistical_analysis=False",
         lambda f, spec: [PY, "-m", "bench.peers.nfstream_peer", f],
         _need_module("nfstream", "nfstream is not installed (pip install nfstream)")),
    Peer("nfstream-nodpi", "nfstream, statistical_analysis=False, n_dissections=0",
         lambda f, spec: [PY, "-m", "bench.peers.nfstream_peer", f, "--n-dissections", "0"],
         _need_module("nfstream", "nfstream is not installed (pip install nfstream)")),
    Peer("tshark", "tshark -q -z conv,tcp -z conv,udp",
         lambda f, spec: ["tshark", "-n", "-r", f, "-q", "-z", "conv,tcp", "-z", "conv,udp"],
         lambda: None if shutil.which("tshark") else "tshark is not installed (apt-get install tshark)"),
]

DEFAULT_SPECS = "100k,1M,5M,flows1M"
_MULT = {"": 1, "k": 1_000, "m": 1_000_000, "g": 1_000_000_000}
_SPEC_RE = re.compile(r"^(mix|flows)?(\d+(?:\.\d+)?)([kmg]?)$")


def parse_size(text: str) -> int:
    """A count with an optional k/M/G suffix: ``100k`` -> 100000."""
    m = _SPEC_RE.match(text.strip().lower())
    if not m or m.group(1):
        raise ValueError(f"not a size: {text!r} (e.g. 100k, 1M, 2500)")
    return int(float(m.group(2)) * _MULT[m.group(3)])


def label(n: int) -> str:
    for unit, div in (("M", 1_000_000), ("k", 1_000)):
        if n >= div and n % div == 0:
            return f"{n // div}{unit}"
    return str(n)


FLOWS_PER_TABLE = 2          # ctscope's table for a flows capture: max = buckets >= 2 x flows


@dataclass(frozen=True)
class Spec:
    """One benchmark capture: ``mix`` with ``n`` packets (``5M``, ``mix5M``) or ``flows``
    with ``n`` flows open at the same time (``flows1M``: ~5.1 packets per flow)."""
    profile: str
    n: int

    @property
    def label(self) -> str:
        return label(self.n) if self.profile == "mix" else f"flows{label(self.n)}"

    def synth_args(self) -> list[str]:
        if self.profile == "mix":
            return ["mix", "--packets", str(self.n)]
        return ["flows", "--flows", str(self.n)]

    def table_max(self) -> int | None:
        """nf_conntrack_max (= buckets) that holds every flow: the power of two >= 2 n."""
        if self.profile != "flows":
            return None
        return max(1 << 18, 1 << (FLOWS_PER_TABLE * self.n - 1).bit_length())

    def replay_args(self) -> list[str]:
        mx = self.table_max()
        if mx is None:
            return []
        return ["--set", f"nf_conntrack_max={mx}", "--set", f"nf_conntrack_buckets={mx}"]

    def describe(self) -> str:
        if self.profile == "mix":
            return "mix, ~2,000 concurrent sessions"
        return f"flows, {self.n:,} open at once"


def parse_spec(text: str) -> Spec:
    """``100k``/``1M``/``5M``/``mix5M``: the mix with that many packets; ``flows1M``,
    ``flows100k``, ``flows2500``: that many flows open at the same time."""
    m = _SPEC_RE.match(text.strip().lower())
    if not m:
        raise ValueError(f"not a capture spec: {text!r} (e.g. 100k, 5M, mix1M, flows1M, flows100k)")
    n = int(float(m.group(2)) * _MULT[m.group(3)])
    if n < 1:
        raise ValueError(f"not a capture spec: {text!r} (the count must be positive)")
    return Spec(m.group(1) or "mix", n)


def parse_specs(text: str) -> list[Spec]:
    specs = []
    for part in text.split(","):
        if part.strip():
            spec = parse_spec(part)
            if spec not in specs:
                specs.append(spec)
    if not specs:
        raise ValueError("no capture given")
    return specs


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
    spec: Spec | None = None


def _count_frames(path: Path) -> int:
    """Records of a classic pcap (used when a cached capture has no frame count beside it)."""
    import struct
    n, block = 0, 64 << 20
    with open(path, "rb") as fh:
        fh.seek(24)
        buf, pos = fh.read(block), 0
        while True:
            if pos + 16 > len(buf):
                more = fh.read(block)
                if not more:
                    return n
                buf, pos = buf[pos:] + more, 0
                continue
            caplen = struct.unpack_from("<I", buf, pos + 8)[0]
            if pos + 16 + caplen > len(buf):
                more = fh.read(block)
                if not more:
                    return n
                buf, pos = buf[pos:] + more, 0
                continue
            pos += 16 + caplen
            n += 1


_WROTE_RE = re.compile(r"wrote .*?: ([\d,]+) frames")


def capture(cache: Path, spec: "Spec | int", seed: int) -> Capture:
    """The capture of ``spec`` (an int: the mix with that many packets), cached by the
    generator's source digest."""
    if isinstance(spec, int):
        spec = Spec("mix", spec)
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"{spec.profile}-{label(spec.n)}-seed{seed}-us-{generator_digest()}.pcap"
    count = cache / (path.name + ".frames")
    wall = None
    if not path.exists():
        r = measure.run([PY, "-m", "ctscope", "synth", *spec.synth_args(), "--seed", str(seed),
                         "--us", "--out", str(path)], timeout=3600, env=env())
        if r.rc != 0:
            raise SystemExit(f"bench: generating {path} failed:\n{r.err}")
        wall = r.wall
        m = _WROTE_RE.search(r.err)
        count.write_text(m.group(1).replace(",", "") if m else str(_count_frames(path)))
    if spec.profile == "mix":
        packets = spec.n
    else:
        if not count.exists():
            count.write_text(str(_count_frames(path)))
        packets = int(count.read_text())
    return Capture(packets, str(path), path.stat().st_size, wall, spec)


@dataclass
class Result:
    peer: Peer
    runs: list = field(default_factory=list)
    note: str | None = None
    facts: dict = field(default_factory=dict)     # the last successful run's (Peer.facts)


SHOWN_FACTS = ("flows", "packets", "active", "peak_entries", "invalid", "dropped", "table_full_drops")


def warm(path: str) -> None:
    """Read the file once so every peer starts with it in the page cache."""
    with open(path, "rb") as fh:
        while fh.read(64 << 20):
            pass
