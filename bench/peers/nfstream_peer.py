"""nfstream with default settings and ``statistical_analysis=False`` (and, with
``--n-dissections 0``, without nDPI dissection).  Counts the flows it yields.

Usage: ``python -m bench.peers.nfstream_peer FILE.pcap [--n-dissections N]``.
"""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("file")
    parser.add_argument("--n-dissections", type=int, default=None)
    args = parser.parse_args(argv)
    from nfstream import NFStreamer
    kwargs = {"statistical_analysis": False}
    if args.n_dissections is not None:
        kwargs["n_dissections"] = args.n_dissections
    flows = packets = 0
    for flow in NFStreamer(source=args.file, **kwargs):
        flows += 1
        packets += flow.bidirectional_packets
    print(f"flows={flows} packets={packets}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
