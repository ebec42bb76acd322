"""``Tracker``: the engine's Python face.

    from ctscope.engine import Tracker, Settings
    t = Tracker(Settings(ram=1 << 30))
    ctinfo, fate = t.process_batch(batch)        # PKT_DTYPE batch, capture order
    for entry in t.entries(): ...                # /proc order, as formats.Entry
    t.stats(); snap = t.snapshot(); Tracker.restore(snap)

The tracker owns the arrays that hold the whole engine state and grows them between
compiled calls (the compiled loop stops and asks when a buffer is full).  The raw-table
rules, when given, are applied to each batch before the engine sees it.  It does no
I/O: events are handed out as ``Event`` records by ``drain_events()``.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..jit import NO_JIT
from ..packets.record import PKT_DTYPE, RULE_DROP, SKIP_RAW_DROP, empty_batch
from . import settings as K
from .core import STOP_CAPACITY, STOP_EVENTS, STOP_SERIES, process_batch
from .layout import (
    ACCT_DTYPE, CTINFO_NAMES, DESTROY_REASONS, EF_ACCT, EF_TSTAMP, ENTRY_DTYPE, EV_NAMES,
    EV_TABLE_FULL, FATE_NAMES, IPS_ASSURED, IPS_OFFLOAD, IPS_SEEN_REPLY, N_STATS, STAT_NAMES,
    SCTP_STATE_NAMES, TCP_STATE_NAMES,
)
from .settings import Settings
from .table import (
    M_COUNT, M_EV_N, M_FIRST_TS, M_FULL_FIRST, M_FULL_LAST, M_FULL_N, M_GC_PASSES, M_GC_REAPED,
    M_HWM, M_LAST_TS, M_PEAK, M_PEAK_TS, M_SER_N, M_SER_NEXT, M_SER_STEP, M_T75, M_T90, M_T100, NS, invert_l4,
    live_order, new_meta,
)

EVENT_CAPACITY = 1 << 16
TRACKED_PROTOS = frozenset({1, 6, 17, 47, 58, 132, 136})   # protocols with a 6.18 tracker
INITIAL_SLOTS = 1 << 12
MAX_SERIES = 1 << 20        # occupancy samples kept (8 MB); beyond, the step doubles


@dataclass
class Event:
    """One conntrack event (NEW/UPDATE/DESTROY) or a table-full occurrence."""

    ts: int            # ns
    kind: str          # NEW, UPDATE, DESTROY or TABLE_FULL
    reason: str | None # DESTROY reason (expired, early-dropped, rst, re-open, gc-early-dropped)
    entry: object      # formats.Entry snapshot (timeout as at the event)


@dataclass
class Verdict:
    """What conntrack did with one packet."""

    ctinfo: str | None  # NEW, ESTABLISHED, ... INVALID, UNTRACKED, DROPPED; None: not seen
    fate: str | None


def _rec(arr: np.ndarray) -> np.ndarray:
    """With NUMBA_DISABLE_JIT=1 the engine runs as plain Python, where only
    ``np.recarray`` elements allow attribute access (``pk.ts``); compiled code takes
    the plain structured arrays."""
    return arr.view(np.recarray) if NO_JIT else arr


def _addr(hi: int, lo: int, l3: int) -> str:
    if l3 == 4:
        return str(ipaddress.IPv4Address(int(lo) & 0xFFFFFFFF))
    return str(ipaddress.IPv6Address((int(hi) << 64) | int(lo)))


def _grown(arr: np.ndarray, n: int) -> np.ndarray:
    """``arr`` with ``n`` slots, the new ones zeroed (in place when ``arr`` owns its data)."""
    if arr.base is None and arr.flags.c_contiguous:
        arr.resize(n, refcheck=False)      # numpy zero-fills the new part
        return arr
    out = np.zeros(n, arr.dtype)
    out[:len(arr)] = arr
    return out


class Tracker:
    def __init__(self, settings: Settings | None = None, rules=None, ifnames: dict | None = None,
                 *, events: bool | None = None):
        self.settings = settings or Settings()
        if events is not None:
            self.settings.events = events
        self.S = self.settings.vector()
        self.rules = rules
        self.ifnames = ifnames or {}
        mx = int(self.S[K.K_MAX])
        buckets = int(self.S[K.K_BUCKETS])
        cap = min(mx + 2, INITIAL_SLOTS) if mx else INITIAL_SLOTS
        self.tbl = np.zeros(cap, ENTRY_DTYPE)
        self.heads = np.full(buckets, -1, np.int32)
        self.meta = new_meta()
        self.stats_arr = np.zeros(N_STATS, np.int64)
        self.acct = np.zeros(cap if self.S[K.K_ACCT] else 0, ACCT_DTYPE)
        self.tstamp = np.zeros(cap if self.S[K.K_TSTAMP] else 0, np.int64)
        evcap = EVENT_CAPACITY if self.settings.events else 0
        self.evtbl = np.zeros(evcap, ENTRY_DTYPE)
        self.evi = np.zeros((evcap, 3), np.int64)
        self.evacct = np.zeros(evcap if self.S[K.K_ACCT] else 0, ACCT_DTYPE)
        self.series = np.zeros(1024, np.int64)
        self._events: list[tuple] = []
        self._sctp = np.zeros(0, np.uint8)

    # --- processing ------------------------------------------------------------
    def process_batch(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run a PKT_DTYPE batch through the raw table and the engine.
        Returns (ctinfo codes, fate codes), uint8 arrays (see layout.CT_*, FATE_*)."""
        if self.rules is not None and len(batch):
            self.rules.apply(batch, self.ifnames)
            drop = batch["rule"] == RULE_DROP
            batch["skip"][drop & (batch["skip"] == 0)] = SKIP_RAW_DROP
        n = len(batch)
        out_ct = np.zeros(n, np.uint8)
        out_fate = np.zeros(n, np.uint8)
        i = 0
        while True:
            with np.errstate(over="ignore"):   # uint64 hash arithmetic wraps (pure-Python mode)
                i, why = process_batch(_rec(batch), i, _rec(self.tbl), self.heads, self.meta, self.stats_arr,
                                       (_rec(self.acct), self.tstamp), (_rec(self.evtbl), self.evi, _rec(self.evacct)),
                                       self._sctp, self.series, self.S, out_ct, out_fate)
            if i >= n:
                break
            if why == STOP_EVENTS:
                self._flush_events()
                need = int(self.meta[M_COUNT]) + 1024
                if need > len(self.evtbl):
                    self._grow_events(max(need * 5 // 4, 2 * len(self.evtbl)))
            elif why == STOP_SERIES:
                if len(self.series) < MAX_SERIES:
                    self.series = np.concatenate([self.series, np.zeros(len(self.series), np.int64)])
                else:
                    self._coarsen_series()
            elif why == STOP_CAPACITY:
                self._grow_table()
            else:  # pragma: no cover - defensive
                raise RuntimeError(f"engine stopped for unknown reason {why}")
        self._flush_events()
        return out_ct, out_fate

    def process(self, packet) -> Verdict:
        """Process one packet record (a PKT_DTYPE scalar or a 1-element batch)."""
        batch = empty_batch(1)
        batch[0] = packet
        ct, fate = self.process_batch(batch)
        return Verdict(CTINFO_NAMES.get(int(ct[0])), FATE_NAMES.get(int(fate[0])))

    def _grow_table(self) -> None:
        """Double the slot arrays in place.  ``ndarray.resize`` reallocates, and for
        arrays this size glibc's realloc moves pages with mremap instead of copying,
        so a 1 M-entry table never holds its old and new copies at once (peak RSS
        ~ the table, not 1.5x it).  ``refcheck=False`` is safe: the arrays are owned
        here, compiled calls keep no reference, and no view outlives a method."""
        mx = int(self.S[K.K_MAX])
        old = len(self.tbl)
        new = old * 2
        if mx:
            new = min(new, mx + 2)
        for name in ("tbl", "acct", "tstamp"):
            arr = getattr(self, name)
            if len(arr):
                arr = _grown(arr, new)
                arr[old - 1] = np.zeros((), arr.dtype)     # the old scratch slot (the last one)
                setattr(self, name, arr)

    def _grow_events(self, cap: int) -> None:
        self.evtbl = np.zeros(cap, ENTRY_DTYPE)
        self.evi = np.zeros((cap, 3), np.int64)
        self.evacct = np.zeros(cap if len(self.evacct) else 0, ACCT_DTYPE)

    def _flush_events(self) -> None:
        k = int(self.meta[M_EV_N])
        if k:
            self._events.append((self.evtbl[:k].copy(), self.evi[:k].copy(),
                                 self.evacct[:k].copy() if len(self.evacct) else None))
            self.meta[M_EV_N] = 0

    def drain_events(self) -> Iterator[Event]:
        """Events recorded so far, in order (each is handed out once)."""
        chunks, self._events = self._events, []
        for evtbl, evi, evacct in chunks:
            for k in range(len(evtbl)):
                ts, kind, reason = (int(x) for x in evi[k])
                acct = evacct[k] if evacct is not None else None
                name = "TABLE_FULL" if kind == EV_TABLE_FULL else EV_NAMES[kind]
                entry = self._entry(evtbl[k], acct, None, ts, with_timeout=name != "DESTROY")
                yield Event(ts, name, DESTROY_REASONS.get(reason), entry)

    # --- reading the state -----------------------------------------------------
    @property
    def now(self) -> int:
        """The engine clock: timestamp (ns) of the last packet processed."""
        return int(self.meta[M_LAST_TS])

    @property
    def count(self) -> int:
        """nf_conntrack_count: includes expired entries not yet reaped."""
        return int(self.meta[M_COUNT])

    def stats(self) -> dict[str, int]:
        out = {name: int(self.stats_arr[i]) for i, name in enumerate(STAT_NAMES)}
        out["entries"] = self.count
        return out

    def summary(self) -> dict:
        m = self.meta
        return {
            "peak_entries": int(m[M_PEAK]),
            "peak_ts": int(m[M_PEAK_TS]) if m[M_PEAK] else None,
            "table_full_drops": int(m[M_FULL_N]),
            "first_table_full_ts": int(m[M_FULL_FIRST]) if m[M_FULL_FIRST] >= 0 else None,
            "last_table_full_ts": int(m[M_FULL_LAST]) if m[M_FULL_FIRST] >= 0 else None,
            "seconds_above_75": m[M_T75] / NS,
            "seconds_above_90": m[M_T90] / NS,
            "seconds_at_max": m[M_T100] / NS,
            "gc_passes": int(m[M_GC_PASSES]),
            "gc_reaped": int(m[M_GC_REAPED]),
            "first_ts": int(m[M_FIRST_TS]) if m[M_FIRST_TS] >= 0 else None,
            "last_ts": self.now if m[M_FIRST_TS] >= 0 else None,
        }

    def _coarsen_series(self) -> None:
        """Keep every other sample at twice the step: the occupancy series stays below
        MAX_SERIES points whatever the capture's time span (a crafted capture jumping
        decades ahead used to grow it to tens of GB: one point per second)."""
        m, n = self.meta, int(self.meta[M_SER_N])
        kept = self.series[0:n:2].copy()
        self.series[:] = 0
        self.series[:len(kept)] = kept
        m[M_SER_N] = len(kept)
        m[M_SER_STEP] *= 2
        m[M_SER_NEXT] = m[M_FIRST_TS] + len(kept) * m[M_SER_STEP]

    def occupancy(self) -> tuple[int, int, np.ndarray]:
        """(first sample ns, step ns, counts): the count sampled every step of capture time."""
        return int(self.meta[M_FIRST_TS]), int(self.meta[M_SER_STEP]), self.series[: int(self.meta[M_SER_N])].copy()

    def live_slots(self, now: int | None = None) -> np.ndarray:
        """Indices of confirmed, unexpired entries in /proc order."""
        return live_order(_rec(self.tbl), self.heads, self.now if now is None else now)

    def state_mix(self, now: int | None = None) -> dict[str, int]:
        """Visible entries by protocol and state, e.g. {"tcp TIME_WAIT": 812, "udp": 40}."""
        from ..formats.entry import l4_name

        slots = self.live_slots(now)       # two fields only: a row copy of 1 M entries is 123 MB
        out: dict[str, int] = {}
        keys = self.tbl["proto"][slots].astype(np.int64) * 256 + self.tbl["state"][slots]
        for key, n in zip(*np.unique(keys, return_counts=True)):
            proto, state = int(key) >> 8, int(key) & 0xFF
            name = l4_name(proto) if proto in TRACKED_PROTOS else "unknown"
            if proto == 6:
                name += " " + TCP_STATE_NAMES[state]
            elif proto == 132:
                name += " " + SCTP_STATE_NAMES[state]
            out[name] = out.get(name, 0) + int(n)
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def nat_suspects(self, now: int | None = None) -> tuple[int, int]:
        """(unreplied flows whose mirror image arrives at another address, unreplied flows).

        In a capture from a NAT box the reply of a translated flow A->B:p comes back as
        B:p->X with X != A (the translated address), so both look unreplied."""
        slots = self.live_slots(now)
        r = self.tbl[slots[(self.tbl["status"][slots] & IPS_SEEN_REPLY) == 0]]
        r = r[np.isin(r["proto"], (6, 17, 132, 136))]
        src = list(zip(r["src_hi"].tolist(), r["src_lo"].tolist()))
        dst = list(zip(r["dst_hi"].tolist(), r["dst_lo"].tolist()))
        proto, sport, dport = r["proto"].tolist(), r["sport"].tolist(), r["dport"].tolist()
        client = {(p, d, dp, sp): s for p, s, d, sp, dp in zip(proto, src, dst, sport, dport)}
        hits = 0
        for p, s, d, sp, dp in zip(proto, src, dst, sport, dport):
            c = client.get((p, s, sp, dp))
            if c is not None and c != d:
                hits += 1
        return hits, len(r)

    def flag_counts(self, now: int | None = None) -> tuple[int, int, int]:
        """(visible entries, ASSURED, UNREPLIED)."""
        st = self.tbl["status"][self.live_slots(now)]
        return len(st), int(np.count_nonzero(st & IPS_ASSURED)), int(np.count_nonzero((st & IPS_SEEN_REPLY) == 0))

    def entries(self, now: int | None = None, unreplied_only: bool = False) -> Iterator:
        """The table as ``formats.Entry`` objects, in /proc order (expired entries are
        not shown, as the kernel's dump reaps them)."""
        now = self.now if now is None else now
        slots = self.live_slots(now)
        if unreplied_only:
            slots = slots[(self.tbl["status"][slots] & IPS_SEEN_REPLY) == 0]
        for e in slots:
            acct = self.acct[e] if len(self.acct) and self.tbl[e]["eflags"] & EF_ACCT else None
            ts = int(self.tstamp[e]) if len(self.tstamp) and self.tbl[e]["eflags"] & EF_TSTAMP else None
            yield self._entry(self.tbl[e], acct, ts, now)

    def _entry(self, r, acct, tstart, now, with_timeout=True):
        from ..formats.entry import Entry, Tuple, l4_name

        l3 = int(r["l3"])
        proto = int(r["proto"])
        src = _addr(r["src_hi"], r["src_lo"], l3)
        dst = _addr(r["dst_hi"], r["dst_lo"], l3)
        sport, dport = int(r["sport"]), int(r["dport"])
        # l4proto_name(): protocols without a tracker in 6.18 (DCCP included, removed in
        # 6.16) are "unknown" and their tuple has no ports (nf_ct_get_tuple())
        name = l4_name(proto) if proto in TRACKED_PROTOS else "unknown"
        if name in ("icmp", "icmpv6"):
            _, isport, idport = invert_l4(proto, sport, dport)
            orig = Tuple(src, dst, type=dport >> 8, code=dport & 0xFF, id=sport)
            reply = Tuple(dst, src, type=int(idport) >> 8, code=int(idport) & 0xFF, id=sport)
        elif name == "gre":
            orig = Tuple(src, dst, srckey=sport, dstkey=dport)
            reply = Tuple(dst, src, srckey=dport, dstkey=sport)
        elif name == "unknown":
            orig, reply = Tuple(src, dst), Tuple(dst, src)
        else:
            orig = Tuple(src, dst, sport=sport, dport=dport)
            reply = Tuple(dst, src, sport=dport, dport=sport)
        status = int(r["status"])
        state = None
        if proto == 6:
            state = TCP_STATE_NAMES[int(r["state"])]
        elif proto == 132:
            state = SCTP_STATE_NAMES[int(r["state"])]
        timeout = None
        if with_timeout:
            # displayed value: floor(remaining jiffies / HZ), i.e. whole seconds
            timeout = max(0, (int(r["expires"]) - now) // NS)
        ent = Entry(orig=orig, reply=reply, l3="ipv4" if l3 == 4 else "ipv6", l3num=2 if l3 == 4 else 10,
                    l4=name, l4num=proto, timeout=timeout, state=state,
                    unreplied=not status & IPS_SEEN_REPLY, assured=bool(status & IPS_ASSURED),
                    offload=bool(status & IPS_OFFLOAD), mark=0, zone=int(r["zone"]), use=2)
        if name == "gre":
            ent.gre_timeout = int(self.S[K.K_T_GRE] // NS)
            ent.gre_stream_timeout = int(self.S[K.K_T_GRE_STREAM] // NS)
        if acct is not None:
            ent.orig_packets, ent.orig_bytes = int(acct["pk0"]), int(acct["by0"])
            ent.reply_packets, ent.reply_bytes = int(acct["pk1"]), int(acct["by1"])
        if tstart is not None:
            ent.delta_time = max(0, (now - tstart) // NS)
        return ent

    # --- snapshot / restore ----------------------------------------------------------
    def snapshot(self) -> dict:
        """The whole engine state as plain arrays (copies) plus the settings."""
        self._flush_events()
        hwm = int(self.meta[M_HWM])
        return {
            "settings": {"values": dict(self.settings.values), "ram": self.settings.ram_bytes,
                         "seed": self.settings.seed, "events": self.settings.events,
                         "gc": self.settings.gc, "chain_limit": self.settings.chain_limit},
            "S": self.S.copy(), "tbl": self.tbl.copy(), "heads": self.heads.copy(),
            "meta": self.meta.copy(), "stats": self.stats_arr.copy(), "acct": self.acct.copy(),
            "tstamp": self.tstamp.copy(), "series": self.series.copy(), "hwm": hwm,
        }

    @classmethod
    def restore(cls, snap: dict, rules=None, ifnames=None) -> "Tracker":
        s = snap["settings"]
        settings = Settings(values=dict(s["values"]), ram=s["ram"], seed=s["seed"], events=s["events"],
                            gc=s["gc"], chain_limit=s["chain_limit"])
        t = cls(settings, rules, ifnames)
        if not np.array_equal(t.S, snap["S"]):
            raise ValueError("snapshot settings do not match")
        t.tbl = snap["tbl"].copy()
        t.heads = snap["heads"].copy()
        t.meta = snap["meta"].copy()
        t.stats_arr = snap["stats"].copy()
        t.acct = snap["acct"].copy()
        t.tstamp = snap["tstamp"].copy()
        t.series = snap["series"].copy()
        return t

    def table_bytes(self) -> int:
        """Bytes of the arrays that hold the table (entries, buckets, extensions)."""
        return self.tbl.nbytes + self.heads.nbytes + self.acct.nbytes + self.tstamp.nbytes


__all__ = ["Tracker", "Settings", "Verdict", "Event", "PKT_DTYPE"]
