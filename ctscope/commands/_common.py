"""Options shared by the commands that run the engine (replay, verify, plan)."""
from __future__ import annotations

import argparse
import ipaddress

from ..errors import InputError


def add_settings_arguments(p: argparse.ArgumentParser, *, ram: bool = True, local: bool = True) -> None:
    g = p.add_argument_group("settings (sysctls; Linux 6.18 defaults)")
    g.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="a conntrack sysctl, with or without 'net.netfilter.' (repeatable; "
                        "overrides --sysctl-file), e.g. --set nf_conntrack_max=8192")
    g.add_argument("--sysctl-file", action="append", default=[], metavar="FILE",
                   help="sysctl.conf syntax, or 'sysctl -a' output as pasted (the last line wins)")
    if ram:
        g.add_argument("--ram", metavar="SIZE",
                       help="the host's RAM (MemTotal) for the kernel's default nf_conntrack_max and "
                            "buckets: bytes or K/M/G/T (powers of 1024); default: this machine's")
    g.add_argument("--seed", type=int, default=0,
                   help="hash seed (the kernel's is random per boot; it decides early-drop victims)")
    r = p.add_argument_group("raw-table rules (NOTRACK, zones, drops before conntrack)")
    r.add_argument("--rules", action="append", default=[], metavar="FILE",
                   help="nft ruleset or iptables-save file (repeatable)")
    r.add_argument("--rules6", action="append", default=[], metavar="FILE",
                   help="ip6tables-save file (repeatable)")
    r.add_argument("--ipset", action="append", default=[], metavar="FILE",
                   help="'ipset save' output for -m set matches")
    r.add_argument("--iface", metavar="NAME",
                   help="interface name of a capture taken on one interface (for -i / iifname rules)")
    r.add_argument("--ifname", action="append", default=[], metavar="IDX=NAME",
                   help="name of an interface index (SLL2 captures)")
    if local:
        p.add_argument("--local", metavar="ADDR[,ADDR...]",
                       help="host model: these addresses/CIDRs are this host's (default: a forwarding "
                            "router with no addresses of its own)")


def settings_from_args(args):
    from ..engine.settings import Settings, parse_size

    ram = None
    if getattr(args, "ram", None):
        try:
            ram = parse_size(args.ram)
        except ValueError as exc:
            raise InputError(str(exc), "--ram") from None
    s = Settings(ram=ram, seed=args.seed)
    for path in args.sysctl_file:
        s.load_file(path)
    for item in args.set:
        if "=" not in item:
            raise InputError(f"expected NAME=VALUE, got {item!r}", "--set")
        name, _, value = item.partition("=")
        s.set(name, value, f"--set {item}")
    if s.get("nf_conntrack_buckets") < 1:
        raise InputError("nf_conntrack_buckets must be at least 1", "--set")
    return s


def local_nets_from_args(args):
    text = getattr(args, "local", None)
    if not text:
        return None
    nets = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            nets.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise InputError(f"not an address or CIDR: {part!r}", "--local") from None
    return nets


def ifnames_from_args(args, capture_ifnames: dict) -> dict:
    names = dict(capture_ifnames or {})
    for item in getattr(args, "ifname", []) or []:
        idx, sep, name = item.partition("=")
        if not sep or not idx.strip().isdigit() or not name.strip():
            raise InputError(f"expected IDX=NAME, got {item!r}", "--ifname")
        names[int(idx)] = name.strip()
    iface = getattr(args, "iface", None)
    if iface:
        names = {k: iface for k in (names or {0: iface})}
        names.setdefault(0, iface)
    return names


def rules_from_args(args):
    if not (args.rules or args.rules6):
        return None
    from ..rules import load_rules

    return load_rules(args.rules, args.rules6, args.ipset)
