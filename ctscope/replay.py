"""The replay pipeline: capture -> packets -> path model -> raw table -> engine -> observations.

``ReplayJob`` wires the rooms together for ``ctscope replay`` (and is reused by
``plan``): it streams batches from the capture, runs them through the path model, the
rules and the ``Tracker``, writes the requested observation files atomically, and
builds the summary dict that the terminal and ``--json`` show (keys documented in the
README).  Nothing here knows packet bytes or kernel internals.
"""
from __future__ import annotations

import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .atomic import OutputSet
from .engine.layout import CTINFO_NAMES, CT_NOT_SEEN, FATE_NAMES
from .packets.record import SKIP_REASONS

NS = 1_000_000_000


def _json_line(n: int, ct: int, fate: int, skip: int) -> str:
    if ct == CT_NOT_SEEN:
        return '{"n": %d, "ctinfo": null, "reason": %s}' % (n, json.dumps(SKIP_REASONS.get(skip, "not seen")))
    return '{"n": %d, "ctinfo": "%s", "fate": "%s"}' % (n, CTINFO_NAMES[ct], FATE_NAMES[fate])


@dataclass
class ReplayJob:
    capture: str
    settings: object
    rules: object = None
    local_nets: list | None = None
    verdicts_path: str | None = None
    table_path: str | None = None
    stats_path: str | None = None
    events_path: str | None = None
    events_format: str = "text"
    progress: bool = True
    iface_args: object = None
    tracker: object = None
    _outputs: OutputSet = field(default_factory=OutputSet)
    _counts: Counter = field(default_factory=Counter)
    _capture_obj: object = None

    @classmethod
    def from_args(cls, args) -> "ReplayJob":
        from .commands._common import local_nets_from_args, rules_from_args, settings_from_args

        settings = settings_from_args(args)
        settings.events = bool(args.events)
        rules = rules_from_args(args)
        return cls(capture=args.capture, settings=settings, rules=rules,
                   local_nets=local_nets_from_args(args), verdicts_path=args.verdicts,
                   table_path=args.table, stats_path=args.stats, events_path=args.events,
                   events_format=args.events_format,
                   progress=not args.no_progress and sys.stderr.isatty(), iface_args=args)

    # --- running ---------------------------------------------------------------------
    def run(self) -> dict:
        from .commands._common import ifnames_from_args
        from .engine.tracker import Tracker
        from .errors import CtscopeError
        from .packets.prefetch import prefetch
        from .packets.source import open_capture

        try:
            # the capture applies defragmentation and the path model (router / --local host)
            cap = open_capture(self.capture, local_nets=self.local_nets, settings=self.settings)
            self._capture_obj = cap
            ifnames = ifnames_from_args(self.iface_args, getattr(cap, "interfaces", {})) if self.iface_args else dict(getattr(cap, "interfaces", {}))
            self.tracker = tr = Tracker(self.settings, self.rules, ifnames)
            vfh = self._outputs.open(self.verdicts_path) if self.verdicts_path else None
            efh = self._outputs.open(self.events_path) if self.events_path else None
            t0 = time.perf_counter()
            with self._progress(cap) as advance:
                for batch in prefetch(cap):        # decoded in a worker thread, one batch ahead
                    ct, fate = tr.process_batch(batch)
                    self._count(batch, ct, fate)
                    if vfh is not None:
                        vfh.write("".join(_json_line(int(n), int(c), int(f), int(s)) + "\n" for n, c, f, s in
                                          zip(batch["n"], ct, fate, batch["skip"])))
                    if efh is not None:
                        self._write_events(efh)
                    advance(cap)
            elapsed = time.perf_counter() - t0
            result = self._summary(elapsed)
            if self.table_path:
                self._write_table()
            if self.stats_path:
                self._outputs.open(self.stats_path).write(json.dumps(tr.stats(), indent=2, sort_keys=True) + "\n")
            self._outputs.commit()
            return result
        except (CtscopeError, KeyboardInterrupt, Exception):
            self._outputs.discard()
            raise

    def discard_outputs(self) -> None:
        self._outputs.discard()

    def partial_summary(self) -> dict | None:
        if self.tracker is None:
            return None
        try:
            s = self._summary(None)
            s["partial"] = True
            return s
        except Exception:  # pragma: no cover - best effort on Ctrl-C
            return None

    def _progress(self, cap):
        import contextlib

        total = getattr(cap, "bytes_total", None)
        if not self.progress or not total:
            return contextlib.nullcontext(lambda c: None)
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

        @contextlib.contextmanager
        def bar():
            with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                          TimeRemainingColumn(), transient=True, console=None) as prog:
                task = prog.add_task("replaying", total=total)
                yield lambda c: prog.update(task, completed=getattr(c, "bytes_read", 0))
        return bar()

    def _count(self, batch, ct, fate) -> None:
        c = self._counts
        c["frames"] += len(batch)
        for code, k in zip(*np.unique(ct, return_counts=True)):
            c["ct:" + (CTINFO_NAMES.get(int(code)) or "not_seen")] += int(k)
        for code, k in zip(*np.unique(fate, return_counts=True)):
            if int(code):
                c["fate:" + FATE_NAMES[int(code)]] += int(k)
        skipped = batch["skip"][ct == CT_NOT_SEEN]
        for code, k in zip(*np.unique(skipped, return_counts=True)):
            c["skip:" + SKIP_REASONS.get(int(code), str(int(code)))] += int(k)
        ip = batch["l3"] != 0
        c["csum_bad"] += int(np.count_nonzero(batch["pflags"][ip] & 2))
        c["l4_checked"] += int(np.count_nonzero(np.isin(batch["proto"][ip], (6, 17))))

    def _write_events(self, fh) -> None:
        from .formats.io import format_entry

        for ev in self.tracker.drain_events():
            if self.events_format == "json":
                d = ev.entry.to_dict()
                d.update(event=ev.kind, ts=ev.ts / NS)
                if ev.reason:
                    d["reason"] = ev.reason
                fh.write(json.dumps(d, sort_keys=True) + "\n")
            elif ev.kind != "TABLE_FULL":
                e = ev.entry
                e.event = ev.kind
                e.event_usec = ev.ts // 1000
                e.use = e.mark = None   # conntrack -E prints neither
                fh.write(format_entry(e, "events") + "\n")

    def _write_table(self) -> None:
        from .formats.io import format_entry

        fh = self._outputs.open(self.table_path)
        for e in self.tracker.entries():
            fh.write(format_entry(e, "proc") + "\n")

    # --- summary -------------------------------------------------------------------
    def _summary(self, elapsed: float | None) -> dict:
        tr = self.tracker
        c = self._counts
        s = self.settings
        summ = tr.summary()
        visible, assured, unreplied = tr.flag_counts()
        frames = c["frames"]
        ctinfo = {k[3:]: v for k, v in c.items() if k.startswith("ct:") and k != "ct:not_seen"}
        cap = self._capture_obj
        capsum = dict(getattr(cap, "summary", {}) or {}) if cap is not None else {}
        first, last = summ["first_ts"], summ["last_ts"]
        result = {
            "capture": self.capture,
            "frames": frames,
            "capture_summary": capsum,
            "ctinfo": ctinfo,
            "tracked": sum(v for k, v in ctinfo.items() if k not in ("INVALID", "UNTRACKED", "DROPPED")),
            "untracked": ctinfo.get("UNTRACKED", 0),
            "invalid": ctinfo.get("INVALID", 0),
            "dropped": ctinfo.get("DROPPED", 0),
            "not_seen": {k[5:]: v for k, v in c.items() if k.startswith("skip:")},
            "fates": {k[5:]: v for k, v in c.items() if k.startswith("fate:")},
            "first_ts": first / NS if first is not None else None,
            "last_ts": last / NS if last is not None else None,
            "duration_s": (last - first) / NS if first is not None else 0.0,
            "entries_end": tr.count,
            "visible_end": visible,
            "assured_end": assured,
            "unreplied_end": unreplied,
            "state_mix_end": tr.state_mix(),
            "peak_entries": summ["peak_entries"],
            "peak_ts": summ["peak_ts"] / NS if summ["peak_ts"] is not None else None,
            "table_full_drops": summ["table_full_drops"],
            "first_table_full_ts": summ["first_table_full_ts"] / NS if summ["first_table_full_ts"] is not None else None,
            "seconds_above_75pct": summ["seconds_above_75"],
            "seconds_above_90pct": summ["seconds_above_90"],
            "seconds_at_max": summ["seconds_at_max"],
            "stats": tr.stats(),
            "settings": {"ram_bytes": s.ram_bytes, "nf_conntrack_max": s.get("nf_conntrack_max"),
                         "nf_conntrack_buckets": s.get("nf_conntrack_buckets"),
                         "changed": dict(s.values), "ignored": list(s.ignored)},
            "model": "host" if self.local_nets else "router",
            "table_bytes_per_entry": round(tr.tbl.dtype.itemsize + 4 * len(tr.heads) / max(1, s.get("nf_conntrack_max") or 1), 1),
            "hints": self._hints(capsum),
        }
        if elapsed is not None:
            result["elapsed_s"] = round(elapsed, 3)
            result["packets_per_s"] = round(frames / elapsed) if elapsed > 0 else None
        if self.rules is not None:
            result["rules"] = {"modelled": len(getattr(self.rules, "modelled", []) or []),
                               "not_modelled": len(getattr(self.rules, "not_modelled", []) or [])}
        return result

    def _hints(self, capsum) -> list[str]:
        hints = []
        c = self._counts
        bad, checked = c["csum_bad"], c["l4_checked"]
        if bad >= 10 and bad * 20 >= checked:
            hints.append(f"{bad} of {checked} TCP/UDP packets have bad checksums: a capture taken on a "
                         "sending host with checksum offload looks like this; if so, replay with "
                         "--set nf_conntrack_checksum=0")
        if capsum.get("ts_backwards"):
            hints.append(f"{capsum['ts_backwards']} timestamps went backwards and were clamped")
        if capsum.get("truncated_frames"):
            hints.append(f"{capsum['truncated_frames']} frames were cut by the snaplen: their checksums "
                         "were not verified")
        nat, unrep = self.tracker.nat_suspects()
        if nat >= 10 and nat * 5 >= unrep:
            hints.append(f"{nat} unreplied flows have 'replies' arriving at another address: the capture "
                         "is probably from a NAT box (NAT is not modelled), so these flows look unreplied")
        if c["ct:DROPPED"]:
            hints.append("packets were dropped because the table was full: try 'ctscope plan' on this capture")
        return hints


def _fmt_ts(ts: float | None, first: float | None = None) -> str:
    if ts is None:
        return "-"
    text = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) + f".{int((ts % 1) * 1000):03d} UTC"
    return f"+{ts - first:.1f} s ({text})" if first is not None else text


def format_summary(r: dict) -> str:
    """The human summary printed by ``ctscope replay``."""
    st = r["settings"]
    lines = []
    add = lines.append
    add(f"capture     {r['capture']}: {r['frames']:,} frames over {r['duration_s']:.1f} s"
        + (" (partial: interrupted)" if r.get("partial") else ""))
    add(f"model       {r['model']}; RAM {st['ram_bytes'] / 2**30:.2f} GiB -> nf_conntrack_max "
        f"{st['nf_conntrack_max']:,}, buckets {st['nf_conntrack_buckets']:,}")
    if st["changed"]:
        add("settings    " + ", ".join(f"{k}={v}" for k, v in sorted(st["changed"].items())))
    if st["ignored"]:
        add("ignored     " + ", ".join(sorted(set(st["ignored"]))) + " (not used by the model)")
    ct = r["ctinfo"]
    add(f"packets     tracked {r['tracked']:,}  untracked {r['untracked']:,}  invalid {r['invalid']:,}  "
        f"dropped {r['dropped']:,}  not seen {sum(r['not_seen'].values()):,}")
    if ct:
        add("ctinfo      " + "  ".join(f"{k} {v:,}" for k, v in sorted(ct.items(), key=lambda kv: -kv[1])))
    for reason, n in sorted(r["not_seen"].items(), key=lambda kv: -kv[1]):
        add(f"  not seen  {n:,} {reason}")
    mx = st["nf_conntrack_max"]
    pct = f" ({100 * r['peak_entries'] / mx:.0f} % of max)" if mx else ""
    add(f"peak        {r['peak_entries']:,} entries{pct} at {_fmt_ts(r['peak_ts'], r['first_ts'])}")
    add(f"end         {r['entries_end']:,} entries counted, {r['visible_end']:,} visible "
        f"({r['assured_end']:,} assured, {r['unreplied_end']:,} unreplied)")
    if r["state_mix_end"]:
        add("state mix   " + ", ".join(f"{k} {v:,}" for k, v in list(r["state_mix_end"].items())[:8]))
    add(f"early drop  {r['stats']['early_drop']:,} entries evicted")
    if r["table_full_drops"]:
        add(f"TABLE FULL  {r['table_full_drops']:,} packets dropped ('nf_conntrack: table full, dropping "
            f"packet'), first at {_fmt_ts(r['first_table_full_ts'], r['first_ts'])}; {r['seconds_at_max']:.1f} s at max")
    else:
        add("table full  never")
    s = r["stats"]
    add("stats       " + " ".join(f"{k}={v}" for k, v in s.items()))
    if "packets_per_s" in r and r["packets_per_s"]:
        add(f"speed       {r['elapsed_s']:.2f} s, {r['packets_per_s']:,} packets/s")
    for h in r["hints"]:
        add(f"note        {h}")
    return "\n".join(lines)
