"""atheris (libFuzzer) driver for one target of fuzz/targets.py.

    NUMBA_DISABLE_JIT=1 python -m fuzz.run TARGET [-runs=N] [-max_total_time=S] [libFuzzer flags]

Runs on the pure-Python path (the numba scanner and decoder run interpreted, so atheris
instruments them).  Seeds come from fuzz/corpus/TARGET; new interesting inputs go to
fuzz/work/TARGET (not kept in the repo; merge the useful ones with -merge=1 if small);
crash reproducers to fuzz/crashes/TARGET-*.  Prints "Done N runs in S second(s)" at the end.
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault("NUMBA_DISABLE_JIT", "1")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

# modules the targets reach, imported under instrumentation
INSTRUMENT = [
    "ctscope.errors", "ctscope.packets.stream", "ctscope.packets.scan", "ctscope.packets.decode",
    "ctscope.packets.l4", "ctscope.packets.defrag", "ctscope.packets.source", "ctscope.packets.path",
    "ctscope.packets.checksum", "ctscope.packets.wire",
    "ctscope.formats.entry", "ctscope.formats.text", "ctscope.formats.xml_flow", "ctscope.formats.jsonl",
    "ctscope.formats.io", "ctscope.formats.stats", "ctscope.formats.summary",
    "ctscope.rules.nft", "ctscope.rules.iptables", "ctscope.rules.ipset", "ctscope.rules.ruleset",
    "ctscope.rules.model", "ctscope.rules.addr", "ctscope.rules.names",
    "ctscope.engine.settings", "ctscope.plan.rates", "ctscope.plan.usertoml",
    "ctscope.live.inputs", "ctscope.live.digest", "ctscope.live.doctor",
]


def main() -> int:
    import importlib

    import atheris

    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    name = sys.argv[1]
    with atheris.instrument_imports(include=["ctscope"]):
        for mod in INSTRUMENT:
            importlib.import_module(mod)
    from fuzz.targets import TARGETS
    if name not in TARGETS:
        print(f"unknown target {name!r}; targets: {', '.join(TARGETS)}", file=sys.stderr)
        return 2
    target = TARGETS[name]
    work = os.path.join(HERE, "work", name)
    os.makedirs(work, exist_ok=True)
    os.makedirs(os.path.join(HERE, "crashes"), exist_ok=True)
    flags = [a for a in sys.argv[2:] if a.startswith("-")]
    dirs = [a for a in sys.argv[2:] if not a.startswith("-")] or [work, os.path.join(HERE, "corpus", name)]
    if not any(f.startswith("-artifact_prefix=") for f in flags):
        flags.append(f"-artifact_prefix={os.path.join(HERE, 'crashes', name)}-")
    if not any(f.startswith("-timeout=") for f in flags):
        flags.append("-timeout=20")
    if not any(f.startswith("-rss_limit_mb=") for f in flags):
        flags.append("-rss_limit_mb=2048")
    if not any(f.startswith("-max_len=") for f in flags):
        flags.append("-max_len=65536")
    atheris.Setup([sys.argv[0]] + flags + dirs, target)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main())
