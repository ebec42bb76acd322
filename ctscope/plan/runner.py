"""Replay one capture under several scenarios at once.

The capture is decoded once: each batch is copied (the raw-table rules write into
their batch) and fed to one ``Tracker`` per scenario.  Batches are kept in memory up
to ``cache_frames`` frames so that a later round of scenarios (the candidates built
from what the first round saw) reuses them; above that the capture is decoded again
for the later round.

Each ``RunResult`` keeps what ``plan`` shows and the report plots: the summary
figures, the 1-s occupancy series, table-full drops per second, early drops per
batch, and the state mix (and the table's composition) at the peak.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..engine.layout import CT_DROPPED, CT_UNTRACKED

NS = 1_000_000_000
BATCH = 4096
CACHE_FRAMES = 2_000_000
PORT_PROTOS = (6, 17, 33, 132, 136)


@dataclass
class RunResult:
    """What one scenario's replay produced (plain data; ``as_dict`` for JSON)."""

    name: str
    max: int
    buckets: int
    frames: int = 0
    untracked: int = 0
    dropped: int = 0
    summary: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)
    state_mix_peak: dict = field(default_factory=dict)
    composition: dict = field(default_factory=dict)    # top contributors at the peak
    series: tuple = (0, NS, np.zeros(0, np.int64))     # (first ns, step ns, counts)
    drops_at: dict = field(default_factory=dict)       # second offset -> table-full drops
    early_at: dict = field(default_factory=dict)       # second offset -> early drops

    @property
    def peak(self) -> int:
        return int(self.summary.get("peak_entries", 0))

    @property
    def drops(self) -> int:
        return int(self.summary.get("table_full_drops", 0))

    @property
    def early_drops(self) -> int:
        return int(self.stats.get("early_drop", 0))

    def as_dict(self) -> dict:
        first, step, counts = self.series
        s = self.summary
        return {
            "nf_conntrack_max": self.max, "nf_conntrack_buckets": self.buckets,
            "frames": self.frames, "untracked": self.untracked,
            "peak_entries": self.peak,
            "peak_pct_of_max": round(100 * self.peak / self.max, 1) if self.max else None,
            "seconds_above_75pct": s.get("seconds_above_75", 0.0),
            "seconds_above_90pct": s.get("seconds_above_90", 0.0),
            "seconds_at_max": s.get("seconds_at_max", 0.0),
            "table_full_drops": self.drops, "early_drops": self.early_drops,
            "first_table_full_s": ((s["first_table_full_ts"] - first) / NS
                                   if s.get("first_table_full_ts") is not None else None),
            "state_mix_at_peak": self.state_mix_peak,
            "stats": self.stats,
        }


class _Lane:
    """One scenario's tracker plus the bookkeeping around it."""

    def __init__(self, name, settings, rules, ifnames, composition: bool):
        from ..engine.tracker import Tracker

        settings.events = False
        self.tr = Tracker(settings, rules, ifnames)
        self.res = RunResult(name, settings.get("nf_conntrack_max"), settings.get("nf_conntrack_buckets"))
        self.want_composition = composition
        self.snap_peak = -1
        self.early_seen = 0

    def feed(self, batch: np.ndarray) -> None:
        b = batch.copy() if self.tr.rules is not None else batch
        ct, _fate = self.tr.process_batch(b)
        r = self.res
        r.frames += len(b)
        r.untracked += int(np.count_nonzero(ct == CT_UNTRACKED))
        drop = ct == CT_DROPPED
        if drop.any():
            r.dropped += int(np.count_nonzero(drop))
            first = self.tr.summary()["first_ts"] or 0
            secs, n = np.unique((b["ts"][drop] - first) // NS, return_counts=True)
            for s_, k in zip(secs, n):
                r.drops_at[int(s_)] = r.drops_at.get(int(s_), 0) + int(k)
        early = int(self.tr.stats_arr[_early_index()])
        if early > self.early_seen and len(b):
            first = self.tr.summary()["first_ts"] or 0
            sec = int((int(b["ts"][-1]) - first) // NS)
            r.early_at[sec] = r.early_at.get(sec, 0) + early - self.early_seen
            self.early_seen = early
        peak = int(self.tr.summary()["peak_entries"])
        # the state mix at the peak: taken after the batch in which the peak grew (by 2 %+)
        if peak > self.snap_peak and (self.snap_peak <= 0 or peak >= self.snap_peak * 1.02
                                      or peak >= self.res.max):
            self.snap_peak = peak
            r.state_mix_peak = self.tr.state_mix()
            if self.want_composition:
                r.composition = composition(self.tr)

    def finish(self) -> RunResult:
        r = self.res
        r.summary = self.tr.summary()
        r.stats = self.tr.stats()
        r.series = self.tr.occupancy()
        if not r.state_mix_peak:
            r.state_mix_peak = self.tr.state_mix()
        return r


_EARLY = None


def _early_index() -> int:
    global _EARLY
    if _EARLY is None:
        from ..engine.layout import STAT_NAMES
        _EARLY = list(STAT_NAMES).index("early_drop")
    return _EARLY


def composition(tr, top: int = 12) -> dict:
    """Who holds the visible entries: by (protocol, server port), by destination and by
    source address (top ``top`` of each), and the total."""
    from ..engine.tracker import _addr
    from ..formats.entry import l4_name

    rec = tr.tbl[tr.live_slots()]
    out = {"total": int(len(rec)), "ports": [], "daddrs": [], "saddrs": []}
    if not len(rec):
        return out
    proto = rec["proto"].astype(np.int64)
    has_ports = np.isin(proto, PORT_PROTOS)
    key = proto * 65536 + np.where(has_ports, rec["dport"].astype(np.int64), 0)
    keys, n = np.unique(key, return_counts=True)
    for i in np.argsort(-n, kind="stable")[:top]:
        p, port = divmod(int(keys[i]), 65536)
        out["ports"].append({"proto": l4_name(p), "protonum": p,
                             "port": port if p in PORT_PROTOS else None, "entries": int(n[i])})
    for side in ("d", "s"):
        hi, lo, l3 = rec[f"{'dst' if side == 'd' else 'src'}_hi"], rec[f"{'dst' if side == 'd' else 'src'}_lo"], rec["l3"]
        arr = np.zeros(len(rec), dtype=[("hi", np.uint64), ("lo", np.uint64), ("l3", np.uint8)])
        arr["hi"], arr["lo"], arr["l3"] = hi, lo, l3
        keys, n = np.unique(arr, return_counts=True)
        for i in np.argsort(-n, kind="stable")[:top]:
            out[f"{side}addrs"].append({"addr": _addr(keys[i]["hi"], keys[i]["lo"], int(keys[i]["l3"])),
                                        "entries": int(n[i])})
    return out


class MultiReplay:
    """Decode a capture once and replay it under several scenarios."""

    def __init__(self, capture: str, settings, local_nets=None, iface_args=None,
                 batch_size: int = BATCH, cache_frames: int = CACHE_FRAMES):
        self.capture = capture
        self.settings = settings          # for the path model (defrag limits)
        self.local_nets = local_nets
        self.iface_args = iface_args
        self.batch_size = batch_size
        self.cache_frames = cache_frames
        self._cache: list | None = None
        self.ifnames: dict = {}
        self.capture_summary: dict = {}
        self.rounds = 0

    def _batches(self):
        if self._cache is not None:
            yield from self._cache
            return
        if self.rounds and not isinstance(self.capture, str) or self.rounds and self.capture == "-":
            from ..errors import InputError
            raise InputError(f"a capture read from stdin is replayed several times and must fit in "
                             f"{self.cache_frames:,} frames: give it as a file", "-")
        from ..commands._common import ifnames_from_args
        from ..packets.prefetch import prefetch
        from ..packets.source import open_capture

        cap = open_capture(self.capture, batch_size=self.batch_size, local_nets=self.local_nets,
                           settings=self.settings)
        ifn = dict(getattr(cap, "interfaces", {}) or {})
        self.ifnames = ifnames_from_args(self.iface_args, ifn) if self.iface_args is not None else ifn
        keep: list | None = [] if self.rounds == 0 else None
        frames = 0
        for batch in prefetch(cap):          # decoded in a worker thread, one batch ahead
            batch = batch.copy()
            if keep is not None:
                frames += len(batch)
                if frames <= self.cache_frames:
                    keep.append(batch)
                else:
                    keep = None
            yield batch
        self.capture_summary = dict(getattr(cap, "summary", {}) or {})
        self._cache = keep

    def run(self, scenarios, composition_for=()) -> dict:
        """Replay every scenario (objects with ``name``, ``settings``, ``rules``);
        returns {name: RunResult}."""
        lanes = None
        for batch in self._batches():
            if lanes is None:
                lanes = [_Lane(s.name, s.settings, s.rules, self.ifnames, s.name in composition_for)
                         for s in scenarios]
            for lane in lanes:
                lane.feed(batch)
        self.rounds += 1
        if lanes is None:
            lanes = [_Lane(s.name, s.settings, s.rules, self.ifnames, False) for s in scenarios]
        return {lane.res.name: lane.finish() for lane in lanes}
