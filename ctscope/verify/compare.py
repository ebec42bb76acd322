"""Comparing a kernel run with an engine run: per-frame verdicts, tables, statistics.

Entries on both sides are brought to the harness's dict shape (``kernel.table``):
``{"family", "protonum", "zone", "state", "flags", "timeout", "orig": {...}, "reply": {...}}``
and matched by their canonical key (family, protocol, zone, ORIGINAL tuple).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..engine.layout import CT_NOT_SEEN, CTINFO_NAMES, FATE_NAMES, FATE_ROUTING_DROP
from ..kernel.table import tuple_key
from ..packets.record import SKIP_REASONS

TIMEOUT_SLACK_S = 2
COMPARED_STATS = ("invalid", "drop", "early_drop", "insert_failed", "error")
ENTRY_FIELDS = ("state", "flags", "mark")


def ct_name(code: int) -> str:
    return CTINFO_NAMES.get(int(code), "not seen")


def fate_name(code: int) -> str:
    return FATE_NAMES.get(int(code), "none")


def _tuple_dict(t, packets, nbytes) -> dict:
    d = {"src": t.src, "dst": t.dst}
    if t.type is not None:
        d.update(type=t.type, code=t.code, id=t.id)
    elif t.srckey is not None:
        d.update(sport=t.srckey, dport=t.dstkey)
    elif t.sport is not None:
        d.update(sport=t.sport, dport=t.dport)
    if packets is not None:
        d.update(packets=packets, bytes=nbytes)
    return d


def entry_dict(e) -> dict | None:
    """A ``formats.Entry`` in the harness's entry shape (None stays None)."""
    if e is None:
        return None
    flags = (["ASSURED"] if e.assured else []) + (["UNREPLIED"] if e.unreplied else [])
    return {"family": e.l3, "proto": e.l4, "protonum": e.l4num, "timeout": e.timeout,
            "state": e.state, "flags": sorted(flags),
            "orig": _tuple_dict(e.orig, e.orig_packets, e.orig_bytes),
            "reply": _tuple_dict(e.reply, e.reply_packets, e.reply_bytes),
            "mark": e.mark or 0, "zone": e.zone or 0}


def show_entry(e: dict | None) -> str:
    """One line, /proc-like, for reports."""
    if e is None:
        return "(no entry)"

    def tup(t):
        return " ".join(f"{k}={v}" for k, v in t.items())
    parts = [e["family"], e.get("proto", str(e["protonum"]))]
    if e.get("timeout") is not None:
        parts.append(str(e["timeout"]))
    if e.get("state"):
        parts.append(e["state"])
    parts += [tup(e["orig"]), tup(e["reply"])] + [f"[{f}]" for f in e["flags"]]
    if e.get("zone"):
        parts.append(f"zone={e['zone']}")
    return " ".join(parts)


@dataclass
class FrameDiff:
    """One frame whose verdicts differ (``i``: index in the compared frame list)."""

    i: int
    kernel: tuple           # (ctinfo, fate, reason)
    engine: tuple           # (ctinfo, fate, skip reason)

    def __str__(self) -> str:
        k, e = self.kernel, self.engine
        return f"frame {self.i}: kernel {k[0]}/{k[1]}  engine {e[0]}/{e[1]}" + (f" ({e[2]})" if e[2] else "")


@dataclass
class Comparison:
    frames: int = 0
    scorable: int = 0
    matched: int = 0
    frame_diffs: list = field(default_factory=list)
    unscorable: dict = field(default_factory=dict)     # kernel reason -> frames
    table_kernel: int = 0
    table_engine: int = 0
    table_matched: int = 0
    table_diffs: list = field(default_factory=list)
    stats_diffs: dict = field(default_factory=dict)    # name -> (kernel, engine)
    problems: list = field(default_factory=list)       # harness read-back problems

    @property
    def agree(self) -> bool:
        return not (self.frame_diffs or self.table_diffs or self.stats_diffs or self.problems)

    def to_dict(self) -> dict:
        return {"agree": self.agree, "frames": self.frames, "scorable": self.scorable,
                "matched": self.matched, "unscorable": self.unscorable,
                "frame_diffs": [{"i": d.i, "kernel": list(d.kernel), "engine": list(d.engine)}
                                for d in self.frame_diffs],
                "table": {"kernel": self.table_kernel, "engine": self.table_engine,
                          "matched": self.table_matched, "diffs": self.table_diffs},
                "stats_diffs": {k: list(v) for k, v in self.stats_diffs.items()},
                "problems": self.problems}


def compare_frames(kres, eng, idx, out: Comparison) -> None:
    """Verdicts of the frames ``idx`` (indices into both runs)."""
    k_ct, k_fate = kres.codes()
    for i in idx:
        f = kres.frames[i]
        out.frames += 1
        kc, kf, ec, ef = int(k_ct[i]), int(k_fate[i]), int(eng.ct[i]), int(eng.fate[i])
        skip = SKIP_REASONS.get(int(eng.batch["skip"][i]), "")
        diff = FrameDiff(i, (ct_name(kc), fate_name(kf), f.reason), (ct_name(ec), fate_name(ef), skip))
        if kc == CT_NOT_SEEN:
            reason = (f.reason or "unscorable").split(":")[0]
            out.unscorable[reason] = out.unscorable.get(reason, 0) + 1
            # what the kernel tells even so: a routing drop (TTL) is one in the engine too
            if kf == FATE_ROUTING_DROP and ef != FATE_ROUTING_DROP:
                out.frame_diffs.append(diff)
            continue
        out.scorable += 1
        if kc == ec and kf == ef:
            out.matched += 1
        else:
            out.frame_diffs.append(diff)


def compare_tables(ktable: list, etable: list, out: Comparison, slack: int = TIMEOUT_SLACK_S) -> None:
    """Membership by canonical key, then state/flags/mark/tuples/counters, timeout +-slack."""
    kmap = {tuple_key(e): e for e in ktable}
    emap = {tuple_key(e): e for e in etable}
    out.table_kernel += len(kmap)
    out.table_engine += len(emap)
    for key in sorted(set(kmap) | set(emap), key=repr):
        k, e = kmap.get(key), emap.get(key)
        if k is None or e is None:
            side = "engine only" if k is None else "kernel only"
            out.table_diffs.append(f"{side}: {show_entry(k or e)}")
            continue
        bad = [f for f in ENTRY_FIELDS if k.get(f) != e.get(f)]
        bad += [f for f in ("orig", "reply") if k[f] != e[f]]
        if k.get("timeout") is not None and e.get("timeout") is not None \
                and abs(k["timeout"] - e["timeout"]) > slack:
            bad.append("timeout")
        if bad:
            out.table_diffs.append(f"differ in {', '.join(bad)}:\n    kernel {show_entry(k)}\n"
                                   f"    engine {show_entry(e)}")
        else:
            out.table_matched += 1


def compare_stats(kdelta: dict, estats: dict, out: Comparison, names=COMPARED_STATS) -> None:
    for n in names:
        k, e = int(kdelta.get(n, 0)), int(estats.get(n, 0))
        if k != e:
            out.stats_diffs[n] = (k, e)


def owners_mask(table: list, sources: set) -> list:
    """Entries whose ORIGINAL source address is one of ``sources``."""
    return [e for e in table if e["orig"].get("src") in sources]


def ctinfo_counts(codes: np.ndarray) -> dict:
    names, counts = np.unique(codes, return_counts=True)
    return {ct_name(c): int(n) for c, n in zip(names, counts)}
