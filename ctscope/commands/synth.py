"""``ctscope synth PROFILE --out FILE.pcap``: write a deterministic synthetic capture."""
from __future__ import annotations

import sys

HELP = "write a deterministic synthetic capture (benchmark mix or a table-filling profile)"
DESCRIPTION = """\
Write a seeded, deterministic pcap (Ethernet, correct checksums).  Same options, same bytes.

profiles (--rate unit, default rate and duration):
  mix                the benchmark mix of issue 2: --packets N (default 100,000) over
                     --duration S (default 300 s per million packets), ~2,000 concurrent
                     sessions; --rate is packets/s (an alternative to --duration)
  flows              --flows N (alias --concurrency; default 100,000) flows all open at the
                     same time: they open over the first 40 % of --duration (default 20 s,
                     at most 60 s), each sends a request and gets a response 0.4 x duration
                     later, 20 % then close (FINs or RST); 80 % TCP, 20 % UDP (DNS),
                     ~20 % IPv6, ~5.1 packets per flow; --rate is flows opened/s
  http-no-keepalive  short HTTP/1.0-style connections, server closes: TIME_WAIT pile-up
                     (connections/s, 200, 60 s)
  dns-resolver       a caching resolver and its upstream queries (client queries/s, 1000, 60 s)
  gateway            a gateway in front of 20,000 clients, mixed traffic (sessions/s, 500, 60 s)
  syn-flood          spoofed SYNs to one port (SYNs/s, 5000, 30 s)
  udp-scan           a UDP port sweep of a /24 answered by ICMP port unreachable
                     (probes/s, 1000, 60 s)
For profiles other than mix, --packets keeps only the first N frames.
  e.g. ctscope synth flows --flows 1000000 --out flows-1M.pcap   (~5.1 M frames)
"""


def add_arguments(parser) -> None:
    parser.add_argument("profile", metavar="PROFILE",
                        choices=["mix", "flows", "http-no-keepalive", "dns-resolver", "gateway", "syn-flood",
                                 "udp-scan"], help="traffic profile (see above)")
    parser.add_argument("--out", "-o", required=True, metavar="FILE.pcap", help="output capture")
    parser.add_argument("--packets", type=int, metavar="N", help="number of frames (mix) or a cap")
    parser.add_argument("--duration", type=float, metavar="S", help="seconds of traffic")
    parser.add_argument("--rate", type=float, metavar="R", help="rate, in the profile's unit")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--concurrency", "--flows", type=int, metavar="N", dest="concurrency",
                        help="mix: concurrent sessions (default 2000); flows: flows open at the "
                             "same time (default 100,000)")
    parser.add_argument("--us", action="store_true",
                        help="microsecond timestamps (default: nanosecond pcap)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")


class _Progress:
    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.shown = -1

    def __call__(self, done: int, total: int) -> None:
        pct = 100 * done // max(total, 1)
        if self.enabled and pct != self.shown:
            self.shown = pct
            end = "\n" if done >= total else ""
            print(f"\rctscope synth: {done:,}/{total:,} frames ({pct}%)", end=end, file=sys.stderr,
                  flush=True)


def run(args) -> int:
    import time

    from ..atomic import OutputSet
    from ..errors import InputError
    from ..synth import generate, pcap

    for name in ("packets", "duration", "rate", "concurrency"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise InputError(f"--{name} must be positive, not {value}")
    params = {}
    if args.concurrency is not None:
        if args.profile not in ("mix", "flows"):
            raise InputError("--concurrency/--flows applies to the mix and flows profiles only")
        params["concurrency"] = args.concurrency
    if args.profile == "flows":
        from ..synth.flows import DEFAULT_DURATION, MIN_DURATION, OPEN_SHARE
        n = args.concurrency or 100_000
        duration = args.duration or (n / args.rate / OPEN_SHARE if args.rate else DEFAULT_DURATION)
        if not MIN_DURATION <= duration <= 60:
            raise InputError(f"flows: the duration must be between {MIN_DURATION} and 60 s (shorter, the "
                             f"phases overlap; longer, UDP flows reach their 30 s timeout), not {duration:g} s")
    started = time.monotonic()
    rows = generate(args.profile, packets=args.packets, duration=args.duration, rate=args.rate,
                    seed=args.seed, **params)
    progress = _Progress(not args.quiet and len(rows) >= 200_000)
    with OutputSet() as out:
        size = pcap.write(out.open(args.out, "wb"), rows, args.seed, not args.us, progress)
    if not args.quiet:
        span = (rows["ts"][-1] - rows["ts"][0]) / 1e9 if len(rows) else 0.0
        print(f"ctscope synth: wrote {args.out}: {len(rows):,} frames, {size:,} bytes, "
              f"{span:.1f} s of traffic, in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return 0
