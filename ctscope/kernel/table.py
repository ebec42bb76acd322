"""Reading the firewall's conntrack table and statistics: /proc, ctnetlink (raw + pyroute2).

The /proc line parser here is deliberately minimal and private to the harness
(``ctscope.formats.proc`` is the product's parser).  Both readers produce the same
entry shape::

    {"family": "ipv4", "proto": "tcp", "protonum": 6, "timeout": 431999,
     "state": "ESTABLISHED" | None, "flags": ["ASSURED"],        # sorted, UNREPLIED/ASSURED
     "orig": {"src": .., "dst": .., "sport": .., "dport": .., "packets": .., "bytes": ..},
     "reply": {...}, "mark": 0, "zone": 0}

ICMP tuples carry ``type``/``code``/``id``; GRE keys are reported as sport/dport.
IPv6 addresses are compressed text.
"""
from __future__ import annotations

import functools
import ipaddress
import json
from collections import Counter

from pyroute2.netlink.nfnetlink.nfctsocket import NFCTSocket

from .ctnl import PROTO_NAMES, SCTP_STATES, TCP_STATES, RawCtnl

STAT_COLUMNS = {"clashres": "clash_resolve", "found": "found", "invalid": "invalid",
                "insert": "insert", "insert_failed": "insert_failed", "drop": "drop",
                "early_drop": "early_drop", "icmp_error": "error", "search_restart": "search_restart",
                "chainlength": "chaintoolong"}
STAT_NAMES = ("found", "invalid", "insert", "insert_failed", "drop", "early_drop", "error",
              "search_restart", "clash_resolve", "chaintoolong")
_INT_KEYS = ("sport", "dport", "type", "code", "id", "packets", "bytes")


# ---------------------------------------------------------------- /proc
@functools.lru_cache(maxsize=1 << 16)
def _compress6(addr: str) -> str:
    """/proc prints IPv6 fully expanded; use the compressed form."""
    return str(ipaddress.IPv6Address(addr))


def parse_proc_line(line: str) -> dict | None:
    """One line of /proc/net/nf_conntrack -> entry dict (None if not an entry line)."""
    toks = line.split()
    if len(toks) < 6 or toks[0] not in ("ipv4", "ipv6"):
        return None
    e = {"family": toks[0], "proto": toks[2], "protonum": int(toks[3]), "timeout": None,
         "state": None, "flags": [], "orig": {}, "reply": {}, "mark": 0, "zone": 0}
    i = 4
    if toks[i].isdigit():
        e["timeout"] = int(toks[i])
        i += 1
    if "=" not in toks[i] and not toks[i].startswith("["):
        e["state"] = toks[i]
        i += 1
    cur = None
    for t in toks[i:]:
        if t.startswith("["):
            e["flags"].append(t.strip("[]"))
            continue
        k, _, v = t.partition("=")
        if k == "src":
            cur = e["orig"] if cur is None else e["reply"]
        if cur is not None and k in ("src", "dst"):
            cur[k] = _compress6(v) if ":" in v else v
        elif cur is not None and k in ("srckey", "dstkey"):
            cur["sport" if k == "srckey" else "dport"] = int(v, 16)
        elif cur is not None and k in _INT_KEYS:
            cur[k] = int(v)
        elif k in ("mark", "zone"):
            e[k] = int(v)
    e["flags"] = sorted(f for f in e["flags"] if f in ("ASSURED", "UNREPLIED", "OFFLOAD", "HW_OFFLOAD"))
    return e


def parse_proc(text: str) -> list[dict]:
    return [e for e in map(parse_proc_line, text.splitlines()) if e]


def parse_proc_stat(text: str) -> tuple[dict, int]:
    """/proc/net/stat/nf_conntrack -> (per-CPU sums by conntrack -S name, entries)."""
    lines = text.split("\n")
    cols = lines[0].split()
    tot = dict.fromkeys(STAT_NAMES, 0)
    entries = 0
    for ln in lines[1:]:
        vals = ln.split()
        if len(vals) != len(cols):
            continue
        for c, v in zip(cols, vals):
            if c == "entries":
                entries = int(v, 16)
            elif c in STAT_COLUMNS:
                tot[STAT_COLUMNS[c]] += int(v, 16)
    return tot, entries


# ---------------------------------------------------------------- ctnetlink
def _nl_tuple(t) -> dict:
    ip = t.get_attr("CTA_TUPLE_IP")
    pr = t.get_attr("CTA_TUPLE_PROTO")
    out = {}
    for name, key in (("CTA_IP_V4_SRC", "src"), ("CTA_IP_V4_DST", "dst"),
                      ("CTA_IP_V6_SRC", "src"), ("CTA_IP_V6_DST", "dst")):
        v = ip.get_attr(name)
        if v is not None:
            out[key] = str(ipaddress.ip_address(v))
    for name, key in (("CTA_PROTO_SRC_PORT", "sport"), ("CTA_PROTO_DST_PORT", "dport"),
                      ("CTA_PROTO_ICMP_TYPE", "type"), ("CTA_PROTO_ICMP_CODE", "code"),
                      ("CTA_PROTO_ICMP_ID", "id"), ("CTA_PROTO_ICMPV6_TYPE", "type"),
                      ("CTA_PROTO_ICMPV6_CODE", "code"), ("CTA_PROTO_ICMPV6_ID", "id")):
        v = pr.get_attr(name)
        if v is not None:
            out[key] = v
    return out, pr.get_attr("CTA_PROTO_NUM")


def decode_nl(msg) -> dict:
    """A pyroute2 ``nfct_msg`` -> entry dict (plus ``status`` and ``tcp`` detail)."""
    orig, protonum = _nl_tuple(msg.get_attr("CTA_TUPLE_ORIG"))
    reply, _ = _nl_tuple(msg.get_attr("CTA_TUPLE_REPLY"))
    status = msg.get_attr("CTA_STATUS") or 0
    e = {"family": "ipv6" if msg["nfgen_family"] == 10 else "ipv4",
         "proto": PROTO_NAMES.get(protonum, "unknown"), "protonum": protonum,
         "timeout": msg.get_attr("CTA_TIMEOUT"), "state": None,
         "flags": sorted((["ASSURED"] if status & 4 else []) + ([] if status & 2 else ["UNREPLIED"])),
         "orig": orig, "reply": reply, "mark": msg.get_attr("CTA_MARK") or 0,
         "zone": msg.get_attr("CTA_ZONE") or 0, "status": status}
    for key, d in (("CTA_COUNTERS_ORIG", orig), ("CTA_COUNTERS_REPLY", reply)):
        c = msg.get_attr(key)
        if c is not None:
            d["packets"] = c.get_attr("CTA_COUNTERS_PACKETS")
            d["bytes"] = c.get_attr("CTA_COUNTERS_BYTES")
    pi = msg.get_attr("CTA_PROTOINFO")
    if pi is not None:
        tcp = pi.get_attr("CTA_PROTOINFO_TCP")
        sctp = pi.get_attr("CTA_PROTOINFO_SCTP")
        if tcp is not None:
            st = tcp.get_attr("CTA_PROTOINFO_TCP_STATE")
            e["state"] = TCP_STATES[st] if st < len(TCP_STATES) else str(st)
            e["tcp"] = {"wscale_orig": tcp.get_attr("CTA_PROTOINFO_TCP_WSCALE_ORIGINAL"),
                        "wscale_reply": tcp.get_attr("CTA_PROTOINFO_TCP_WSCALE_REPLY")}
        elif sctp is not None:
            st = sctp.get_attr("CTA_PROTOINFO_SCTP_STATE")
            e["state"] = SCTP_STATES[st] if st < len(SCTP_STATES) else str(st)
    return e


class CtNetlink:
    """ctnetlink of one namespace.

    ``dump()``/``get()`` use the fast raw client (``ctnl.RawCtnl``); ``dump_pyroute2()``
    and ``sock`` (stats) use pyroute2, whose socket is created inside the netns by a
    forked helper (``flags=0``: never create the netns)."""

    def __init__(self, netns: str):
        self.netns = netns
        self.sock = NFCTSocket(nfgen_family=0, netns=netns, flags=0)
        self.raw = RawCtnl(netns)

    def dump(self) -> list[dict]:
        return self.raw.dump()

    def dump_pyroute2(self) -> list[dict]:
        """The same dump decoded by pyroute2 (about 1.3 ms per entry: small tables)."""
        return [decode_nl(m) for m in self.sock.dump()]

    def get(self, key: tuple, code: int = 0) -> dict | None:
        """The entry holding a packet tuple (either direction); ``key`` is a
        ``craft.peek`` key (proto, src bytes, dst bytes, a, b).  None if absent."""
        return self.raw.get(key, code)

    def close(self) -> None:
        self.sock.close()
        self.raw.close()


# ---------------------------------------------------------------- checks
def tuple_key(e: dict) -> tuple:
    """Identity of an entry: family, protocol, zone and the ORIGINAL tuple."""
    o = e["orig"]
    return (e["family"], e["protonum"], e.get("zone", 0),
            tuple(sorted((k, v) for k, v in o.items() if k not in ("packets", "bytes"))))


def canon(entries: list[dict], keep_timeout: bool = False) -> list[dict]:
    """Sorted entries without volatile fields (timeout unless asked, use, id, status)."""
    drop = {"use", "id", "status", "tcp"} | (set() if keep_timeout else {"timeout"})
    out = [{k: v for k, v in e.items() if k not in drop} for e in entries]
    return sorted(out, key=lambda c: json.dumps(c, sort_keys=True))


def validate(proc: list[dict], count: int, netlink: list[dict] | None = None) -> list[str]:
    """Problems with one table read: duplicate tuples, line count != count, and
    (if given) a ctnetlink dump that does not hold the same entries."""
    problems = []
    keys = Counter(tuple_key(e) for e in proc)
    dup = sum(n - 1 for n in keys.values() if n > 1)
    if dup:
        problems.append(f"{dup} duplicate original tuples in /proc")
    if len(proc) != count:
        problems.append(f"/proc has {len(proc)} lines but nf_conntrack_count is {count}")
    if netlink is not None:
        nk = Counter(tuple_key(e) for e in netlink)
        if nk != keys:
            problems.append(f"ctnetlink dump ({len(netlink)}) and /proc ({len(proc)}) differ "
                            f"in {len(set(nk) ^ set(keys))} tuples")
        else:
            # same tuples: also same state/flags/counters
            by = {tuple_key(e): e for e in canon(netlink)}
            diff = sum(1 for e in canon(proc) if by.get(tuple_key(e)) != e)
            if diff:
                problems.append(f"{diff} entries differ between ctnetlink and /proc")
    return problems
