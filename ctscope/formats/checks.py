"""Validation shared by the readers: numbers, addresses, complete tuples."""
from __future__ import annotations

import ipaddress
from functools import lru_cache

from ..errors import InputError
from .entry import ICMP_PROTOS, PORT_PROTOS, Entry, Tuple


def uint(text: str, what: str, where: str, limit: int = 2**64 - 1) -> int:
    """A plain ASCII decimal in 0..limit (no sign, no '_', no other digits)."""
    if not (text.isascii() and text.isdigit()) or len(text) > 20:
        raise InputError(f"{what}: {text[:40]!r} is not a number", where)
    value = int(text)
    if value > limit:
        raise InputError(f"{what}: {value} is out of range (0 .. {limit})", where)
    return value


@lru_cache(maxsize=1 << 16)
def _canonical(text: str) -> tuple[int, str] | None:
    """(IP version, canonical text) of an address, None if it is not one (cached:
    tables repeat the same few addresses thousands of times)."""
    try:
        a = ipaddress.ip_address(text)
    except ValueError:
        return None
    return a.version, str(a)


def address(text: str, where: str) -> tuple[int, str]:
    """(version, canonical text) of an IPv4 or IPv6 address."""
    found = _canonical(text)
    if found is None:
        raise InputError(f"not an IP address: {text[:60]!r}", where)
    return found


def check_tuple(e: Entry, t: Tuple | None, name: str, where: str, icmp_fields: bool = True) -> None:
    """A tuple is complete for its protocol; addresses canonicalised, of the entry's family."""
    if t is None:
        raise InputError(f"the {name} tuple is missing", where)
    if t.src is None or t.dst is None:
        raise InputError(f"the {name} tuple has no src=/dst=", where)
    want = {"ipv4": 4, "ipv6": 6}.get(e.l3)
    (v1, src), (v2, dst) = address(t.src, where), address(t.dst, where)
    if want is not None and (v1 != want or v2 != want):
        raise InputError(f"address {src if v1 != want else dst} is not an {e.l3} address", where)
    t.src, t.dst = src, dst
    if e.l4 in PORT_PROTOS:
        need = ("sport", "dport")
    elif e.l4 in ICMP_PROTOS:
        need = ("type", "code", "id") if icmp_fields else ()
    elif e.l4 == "gre":
        need = ("srckey", "dstkey")
    else:
        need = ()
    for key in need:
        if getattr(t, key) is None:
            raise InputError(f"the {name} tuple has no '{key}='", where)
