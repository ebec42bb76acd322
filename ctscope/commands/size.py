"""``ctscope size``: default conntrack table size by kernel era, and its memory."""
from __future__ import annotations

HELP = "default nf_conntrack_max/buckets by kernel era for a RAM size, and their memory"
DESCRIPTION = """\
Show, for a machine with --ram of memory, the default nf_conntrack_buckets and
nf_conntrack_max of every kernel era: the seed blog post's formula as written
(RAM/131072/(ARCH/32), max = 8 x buckets), the 2.6-era default (8192 buckets above
1 GiB), the hlist era (16384, 4x), late 3.x .. 5.14 (65536 above 4 GiB, 4x) and
Linux >= 5.15 (262144 above 4 GiB, max = buckets); the memory each costs when full
(~380 B per entry as a kernel reference, 256 B slab object, plus the bucket heads);
the memory of a requested --max; and this machine's actual values from /proc.

examples:
  ctscope size --ram 48G              # the seed's worked example
  ctscope size --ram 2G --arch 32 --max 262144
  ctscope size --json
"""


def add_arguments(p) -> None:
    p.add_argument("--ram", metavar="SIZE",
                   help="RAM (bytes, or with K/M/G/T = powers of 1024); default: this machine's MemTotal")
    p.add_argument("--arch", type=int, choices=(32, 64), default=64, help="word size in bits (default 64)")
    p.add_argument("--max", type=str, metavar="N", help="also show the memory of nf_conntrack_max = N")
    p.add_argument("--json", action="store_true", help="print JSON")


def _mib(n: int) -> str:
    return f"{n / (1 << 20):,.1f} MiB"


def run(args) -> int:
    import json

    from ..engine.settings import host_ram, parse_size
    from ..errors import InputError
    from ..plan.sizing import era_rows, read_machine, requested_row

    if args.ram:
        try:
            ram = parse_size(args.ram)
        except ValueError as exc:
            raise InputError(str(exc), "--ram") from None
    else:
        ram = host_ram()
    rows = era_rows(ram, args.arch)
    req = None
    if args.max is not None:
        text = args.max.replace(",", "").replace("_", "")
        if not text.isdigit() or not 0 < int(text) <= 2**31 - 1:
            raise InputError(f"{args.max!r} is not a table size (1 .. 2147483647)", "--max")
        req = requested_row(int(text), args.arch)
    machine = read_machine()
    if args.json:
        print(json.dumps({"ram": ram, "arch": args.arch, "eras": [r.as_dict() for r in rows],
                          "requested": req.as_dict() if req else None,
                          "machine": machine.as_dict()}, indent=2))
        return 0
    print(f"RAM {ram / (1 << 30):,.2f} GiB ({ram:,} bytes), {args.arch}-bit")
    print(f"{'':28} {'kernels':22} {'buckets':>10} {'max':>11} {'max/b':>5} "
          f"{'full, ~380 B/entry':>19} {'slab 256 B only':>16}")
    for r in rows + ([req] if req else []):
        print(f"{r.label:28} {r.kernels:22} {r.buckets:>10,} {r.max:>11,} {r.factor:>4g}x "
              f"{_mib(r.memory_at_max):>19} {_mib(r.slab_at_max):>16}")
    print("  (memory = max x bytes per entry + buckets x bucket head; rules:)")
    for r in rows:
        print(f"  {r.label}: {r.rule}")
    print(f"this machine (read from /proc; RAM {machine.ram / (1 << 30):,.2f} GiB, {machine.arch}-bit): "
          f"nf_conntrack_max={_v(machine.max)} nf_conntrack_buckets={_v(machine.buckets)} "
          f"nf_conntrack_count={_v(machine.count)} slab object={_v(machine.slab_objsize)} B")
    for problem in machine.problems:
        print(f"  not read: {problem}")
    return 0


def _v(value) -> str:
    return "?" if value is None else f"{value:,}"
