"""``python -m bench``: generate the captures and run ctscope and its peers side by side.

    python -m bench                          # the mix at 100k, 1M and 5M packets and 1 M
                                             # concurrent flows (flows1M), 3 runs each
    python -m bench --sizes 100k,1M --only dpkt,numba-floor --repeat 5
    python -m bench --sizes 1M --no-extras   # the peer table only
    python -m bench --sizes 100k,flows100k --repeat 1 --no-extras --out /tmp/bench-small.md

Captures (--sizes): ``100k``, ``1M``, ``5M`` (or ``mix5M``): the benchmark mix with that
many packets (~2,000 concurrent sessions); ``flows1M``, ``flows100k``, ...: that many
flows all open at the same time (``ctscope synth flows``, ~5.1 packets per flow), which
ctscope replays with a table that holds them all (nf_conntrack_max = buckets = the
power of two >= 2 x flows).

Besides the peer table it measures (bench/extras.py): cold and warm replay start-up,
table bytes per entry, summarising a 262,144-entry table against conntrack -L (root),
and the exporter's scrape cost.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from . import machine, measure, report, suite


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default=suite.DEFAULT_SPECS, metavar="SPECS",
                   help="comma-separated captures: the mix by packet count (100k, 1M, 5M, mix5M) "
                        f"or N concurrent flows (flows1M, flows100k); default {suite.DEFAULT_SPECS}")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per peer and capture (default 3; medians need >= 3)")
    p.add_argument("--only", help="comma-separated peers: " + ",".join(x.name for x in suite.PEERS))
    p.add_argument("--cache", default="/tmp/ctscope-bench", help="capture cache directory")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--timeout", type=float, default=900, help="seconds per run before it is killed")
    p.add_argument("--out", default=str(suite.ROOT / "docs" / "performance.md"),
                   help="markdown report (default docs/performance.md); '-' for none")
    p.add_argument("--no-extras", action="store_true", help="skip the measurements of bench/extras.py")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be >= 1")
    peers = suite.PEERS
    if args.only:
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        unknown = set(wanted) - {x.name for x in suite.PEERS}
        if unknown:
            p.error(f"unknown peers: {', '.join(sorted(unknown))}")
        peers = [x for x in suite.PEERS if x.name in wanted]
    started = time.time()
    try:
        specs = suite.parse_specs(args.sizes)
    except ValueError as exc:
        p.error(f"--sizes: {exc}")
    cache = Path(args.cache)

    available, missing = [], {}
    for peer in peers:
        why = peer.check()
        if why:
            missing[peer.name] = why
            print(f"bench: skipping {peer.name}: {why}", file=sys.stderr)
        else:
            available.append(peer)

    captures, all_results = {}, {}
    warmed = set()
    for spec in specs:
        name = spec.label
        print(f"bench: capture {name} ({spec.describe()}) ...", file=sys.stderr, flush=True)
        cap = captures[name] = suite.capture(cache, spec, args.seed)
        if cap.synth_wall is not None:
            print(f"bench:   generated in {cap.synth_wall:.1f} s ({cap.packets:,} packets, "
                  f"{cap.bytes:,} bytes)", file=sys.stderr)
        suite.warm(cap.path)
        results = [suite.Result(peer, note=missing.get(peer.name)) for peer in peers]
        live = [r for r in results if r.peer in available]
        for r in live:
            if r.peer.compiles and r.peer.name not in warmed:
                warmed.add(r.peer.name)
                measure.run(r.peer.cmd(cap.path, spec), args.timeout, suite.env())   # fill the compile cache
        for rep in range(args.repeat):
            for r in live:
                if r.runs and r.runs[-1].rc != 0:
                    continue
                run = measure.run(r.peer.cmd(cap.path, spec), args.timeout, suite.env())
                r.runs.append(run)
                state = "ok" if run.rc == 0 else f"rc={run.rc}"
                if run.rc == 0:
                    r.facts = r.peer.facts(run.out)
                said = " ".join(f"{k}={v}" for k, v in r.facts.items() if k in suite.SHOWN_FACTS)
                print(f"bench:   {name} {r.peer.name:15s} run {rep + 1}: {run.wall:8.2f} s "
                      f"{run.maxrss / 2 ** 20:7.0f} MB {state} {said or run.out.strip()[:60]}",
                      file=sys.stderr, flush=True)
        all_results[name] = results

    startup = None
    if any(x.name == "ctscope" for x in peers):
        walls = [measure.run([suite.PY, "-m", "ctscope", "--help"], 60, suite.env()).wall for _ in range(5)]
        startup = {"median": statistics.median(walls), "n": len(walls)}

    text = report.page(machine.describe(), started, args.repeat, captures, all_results, startup, peers)
    if not args.no_extras:
        from . import extras
        text += "\n" + "\n".join(extras.all_sections(cache))
    print(text)
    raw = {name: {"capture": {"packets": captures[name].packets, "bytes": captures[name].bytes,
                              "spec": vars(captures[name].spec)},
                  "peers": {r.peer.name: {"facts": r.facts,
                                          "runs": [vars(x) | {"out": x.out[-200:], "err": x.err[-200:]}
                                                   for x in r.runs]} for r in results}}
           for name, results in all_results.items()}
    (cache / "results.json").write_text(json.dumps(raw, indent=1))
    if args.out != "-":
        from ctscope.atomic import write_text_atomic
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(args.out, text + "\n")
        print(f"bench: wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
