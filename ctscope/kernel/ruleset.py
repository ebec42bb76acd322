"""The nftables ruleset of the firewall netns: it writes each packet's ctinfo into
its DSCP field so that the copy seen leaving the firewall tells what conntrack made
of it.

* FORWARD hook: DSCP 32 + ctinfo (32 ESTABLISHED, 33 RELATED, 34 NEW,
  35 ESTABLISHED_REPLY, 36 RELATED_REPLY), 39 UNTRACKED, 48 INVALID.
* INPUT hook (a router without addresses still delivers 255.255.255.255 and the
  all-nodes/all-routers groups locally): DSCP 8 + ctinfo, 15 UNTRACKED, 24 INVALID;
  the packet is then duplicated (``dup to``) back out of the interface it came in
  on, so the injector sees it too.  ``nf_dup`` detaches conntrack from the clone.
* ``raw_pre`` (prerouting, priority raw): notracks the barrier packets, then jumps
  to ``user_raw`` where a case's own raw rules go.
* The firewall itself sends nothing but those clones (output: mark-matched accept,
  everything else dropped: no ICMP errors, no IGMP/MLD reports).
"""
from __future__ import annotations

TABLE = "ctsc"
BARRIER_SRC = ("100.127.255.253", "100.127.255.254")   # client side, server side
BARRIER_PORT = 9
DUP_MARK = 0x63747363
FWD_BASE, FWD_UNTRACKED, FWD_INVALID = 32, 39, 48
LOC_BASE, LOC_UNTRACKED, LOC_INVALID = 8, 15, 24
CTINFO = {0: "ESTABLISHED", 1: "RELATED", 2: "NEW", 3: "ESTABLISHED_REPLY", 4: "RELATED_REPLY"}

# DSCP -> (fate, ctinfo name)
VERDICTS: dict[int, tuple[str, str]] = {}
for _k, _n in CTINFO.items():
    VERDICTS[FWD_BASE + _k] = ("forwarded", _n)
    VERDICTS[LOC_BASE + _k] = ("local", _n)
VERDICTS.update({FWD_UNTRACKED: ("forwarded", "UNTRACKED"), FWD_INVALID: ("forwarded", "INVALID"),
                 LOC_UNTRACKED: ("local", "UNTRACKED"), LOC_INVALID: ("local", "INVALID")})


def _marks(fam: str, base: int, untracked: int, invalid: int, tag: str) -> list[str]:
    v = "v4" if fam == "ip" else "v6"
    out = [f'ct state invalid {fam} dscp set {invalid} counter comment "{tag}:{v}:INVALID"',
           f'ct state untracked {fam} dscp set {untracked} counter comment "{tag}:{v}:UNTRACKED"']
    for code, st in ((0, "established"), (1, "related"), (2, "new")):
        out.append(f"ct direction original ct state {st} {fam} dscp set {base + code} counter"
                   f' comment "{tag}:{v}:{CTINFO[code]}"')
    for code, st in ((3, "established"), (4, "related")):
        out.append(f"ct direction reply ct state {st} {fam} dscp set {base + code} counter"
                   f' comment "{tag}:{v}:{CTINFO[code]}"')
    return out


def _input_table(fam: str, sides: dict) -> str:
    """The INPUT marking lives in per-family tables: ``dup`` is not available in inet."""
    ind = "\n        "
    marks = _marks(fam, LOC_BASE, LOC_UNTRACKED, LOC_INVALID, "in")
    gw = 1 if fam == "ip" else 2
    dups = [f'iifname "{v[0]}" dup to {v[gw]} device "{v[0]}"' for v in sides.values()]
    return f"""table {fam} {TABLE}_in {{
    chain mark_input {{
        type filter hook input priority filter; policy accept;
        {ind.join(marks)}
        meta mark set {DUP_MARK:#x}
        {ind.join(dups)}
    }}
}}
"""


def ruleset(sides: dict, user_raw: str | None = None) -> str:
    """The ruleset text.  ``sides``: side -> (fw ifname, IPv4 gateway, IPv6 gateway)
    of the fake neighbour behind that interface (used as the ``dup`` target)."""
    b = ", ".join(BARRIER_SRC)
    barrier = f"ip saddr {{ {b} }} udp dport {BARRIER_PORT}"
    ind = "\n        "
    user = ind.join(line.strip() for line in (user_raw or "").splitlines() if line.strip())
    fwd = _marks("ip", FWD_BASE, FWD_UNTRACKED, FWD_INVALID, "fwd") + \
        _marks("ip6", FWD_BASE, FWD_UNTRACKED, FWD_INVALID, "fwd")
    return f"""table inet {TABLE} {{
    chain raw_pre {{
        type filter hook prerouting priority raw; policy accept;
        {barrier} notrack
        jump user_raw
    }}
    chain user_raw {{
        {user}
    }}
    chain raw_out {{
        type filter hook output priority raw; policy accept;
        notrack
    }}
    chain mark_forward {{
        type filter hook forward priority filter; policy accept;
        {barrier} accept
        {ind.join(fwd)}
    }}
    chain filter_output {{
        type filter hook output priority filter; policy drop;
        meta mark {DUP_MARK:#x} accept
    }}
}}
""" + _input_table("ip", sides) + _input_table("ip6", sides)
