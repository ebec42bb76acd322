"""ctscope verify: run a capture through the real kernel and the model, and compare."""
from __future__ import annotations

HELP = "check the model against this machine's kernel: replay a capture through both and compare"
DESCRIPTION = """\
Replay a capture (Ethernet pcap or pcapng, optionally gzip) through the real Linux
conntrack of this machine, inside throw-away network namespaces (named ctsc-*: a
forwarding "firewall" between two veth pairs, deleted afterwards), and through the
model with the same settings and raw-table rules. The model is fed the times at
which the frames were actually injected.

Prints how many frames got the same ctinfo and fate (of those the kernel lets us
score), how many table entries agree (timeouts within 2 s) and whether the
statistics deltas agree; on a difference, the first diverging frame with its entry
before and after on both sides.  Needs root.  Exit status: 0 agree, 1 differ,
2 bad input or not root.

Frames are paced as captured (--max-gap caps idle gaps, e.g. --max-gap 0.5; the
replay may take at most 900 s).  nf_conntrack_max and buckets are the running
kernel's (global: they cannot be set for a namespace).  Rules that match input
interfaces see c0 (the side of the flow's first sender) and s0 (the other side).

examples:
  ctscope verify capture.pcap
  ctscope verify capture.pcap --max-gap 1 --set nf_conntrack_tcp_loose=0 --json
  ctscope verify capture.pcapng --rules raw.nft --rules iptables-save.txt
"""

from ._common import add_settings_arguments


def add_arguments(p) -> None:
    p.add_argument("capture", metavar="CAPTURE", help="pcap or pcapng file (Ethernet; optionally gzip)")
    add_settings_arguments(p, ram=False, local=True)
    p.add_argument("--max-gap", type=float, metavar="SECONDS",
                   help="shorten gaps between frames to at most this (default: keep the capture's timing)")
    p.add_argument("--json", action="store_true", help="print the comparison as one JSON object")


def _config(args):
    """(Config, settings dict) from the options; InputError for what verify cannot honour."""
    from ..engine.settings import GLOBAL_KEYS, canonical_name
    from ..errors import InputError
    from ..verify.engine import host_limits
    from ..verify.runner import Config
    from ._common import settings_from_args

    if getattr(args, "local", None):
        raise InputError("the kernel harness is a forwarding router: the host model (--local) "
                         "cannot be verified", "--local")
    for opt in ("ipset", "ifname"):
        if getattr(args, opt, None):
            raise InputError("not supported by verify", f"--{opt}")
    if args.iface:
        raise InputError("verify names the firewall's interfaces c0 (client side) and s0 (server side)",
                         "--iface")
    for item in args.set:
        if canonical_name(item.partition("=")[0]) in GLOBAL_KEYS:
            raise InputError(f"{item.partition('=')[0].strip()} is global: the kernel cannot honour it "
                             "in a test namespace (verify uses the running kernel's value)", f"--set {item}")
    if args.max_gap is not None and args.max_gap <= 0:
        raise InputError("must be positive", "--max-gap")
    s = settings_from_args(args)
    limits = host_limits()
    for key in GLOBAL_KEYS:
        if key in s.values and s.values[key] != limits.get(key, s.values[key]):
            raise InputError(f"{key}={s.values[key]} differs from the running kernel's {limits[key]}: "
                             "it is global and cannot be set for a test namespace", "--sysctl-file")
    settings = {k: v for k, v in s.values.items() if k not in GLOBAL_KEYS}
    nft, ipt4 = [], []
    for path in args.rules:
        text = _read(path)
        if any(ln.startswith(("*", "-A ", ":")) for ln in text.splitlines()):
            ipt4.append(text)
        else:
            nft.append("\n".join(ln for ln in text.splitlines() if ln.strip() != "flush ruleset"))
    ipt6 = [_read(p) for p in args.rules6]
    return Config.of(settings, nft_ruleset="\n".join(nft) or None, rules_ipt4="".join(ipt4) or None,
                     rules_ipt6="".join(ipt6) or None, realtime=True, max_gap=args.max_gap), limits


def _read(path: str) -> str:
    from ..errors import InputError
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError as exc:
        raise InputError(f"cannot read rules: {exc.strerror}", path) from None
    return text if text.endswith("\n") else text + "\n"


def run(args) -> int:
    import json
    import os

    from ..errors import PrivilegeError
    from ..verify.capture import read_frames
    from ..verify.runner import verify_frames

    if os.geteuid() != 0:
        raise PrivilegeError("needs root: the capture is replayed through the kernel in network namespaces")
    config, limits = _config(args)
    frames = read_frames(args.capture)
    res = verify_frames(frames, config, limits=limits)
    if args.json:
        print(json.dumps(res.to_dict(), indent=2, sort_keys=True, default=str))
    else:
        print(f"capture     {args.capture}")
        print(res.format())
    return 0 if res.agree else 1
