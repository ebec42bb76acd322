"""``KernelHarness``: run frames through the real kernel conntrack and score them.

    with KernelHarness({"nf_conntrack_udp_timeout": 30}, rules_nft="udp dport 5353 notrack") as h:
        res = h.run([(0.0, "c", frame), (0.1, "s", reply)])
        res.frames[0].fate, res.frames[0].ctinfo      # 'forwarded', 'NEW'
        res.table, res.stats_delta, res.count

Each frame gets a fate ('forwarded', 'local' = delivered to the firewall itself,
'dropped') and a ctinfo name read from the DSCP mark the firewall wrote, or
'unscorable' plus a reason (the frame never came back, or it is a fragment).
Injection times are recorded so a model can be fed the same clock.
"""
from __future__ import annotations

import os
import time
from collections import defaultdict, deque

from ..craft.peek import peek, reverse
from ..errors import InputError
from . import nsutil, table
from .inject import Injector, match_key
from .netns import Topology
from .result import (FrameVerdict, KernelResult, frag_key, frag_span, fragment_groups, icmp_code,
                     strip_atomic_fragment, unmatched_reason)
from .ruleset import TABLE, VERDICTS

PROC_TABLE = "/proc/thread-self/net/nf_conntrack"
PROC_STAT = "/proc/thread-self/net/stat/nf_conntrack"
COUNT = "/proc/sys/net/netfilter/nf_conntrack_count"
OTHER = {"c": "s", "s": "c"}
MAX_REALTIME_S = 900.0
MAX_FRAME = 1514


class KernelHarness:
    """A fresh topology with the given conntrack settings and raw rules."""

    def __init__(self, settings: dict | None = None, rules_nft: str | None = None,
                 rules_ipt4: str | None = None, rules_ipt6: str | None = None):
        self.topo = Topology(settings, rules_nft, rules_ipt4, rules_ipt6)
        try:
            self.inj = Injector(self.topo.inj)
            self.nl = table.CtNetlink(self.topo.fw)
        except BaseException:
            self.topo.close()
            raise

    @classmethod
    def for_scenario(cls, scenario) -> "KernelHarness":
        """A harness with a ``craft.Scenario``'s settings and rules."""
        return cls(scenario.settings, scenario.rules_nft, scenario.rules_ipt4, scenario.rules_ipt6)

    # ------------------------------------------------------------ lifecycle
    def close(self) -> None:
        for closer in (getattr(self, "inj", None), getattr(self, "nl", None)):
            if closer is not None:
                try:
                    closer.close()
                except Exception:
                    pass
        self.topo.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def fw(self) -> str:
        return self.topo.fw

    # ------------------------------------------------------------ reading the firewall
    def count(self) -> int:
        return int(nsutil.read_file(self.fw, COUNT))

    def stats(self) -> dict:
        """Per-CPU sums of the conntrack statistics (conntrack -S names)."""
        return table.parse_proc_stat(nsutil.read_file(self.fw, PROC_STAT))[0]

    def stats_netlink(self) -> dict:
        """The same sums through ctnetlink (``conntrack -S``'s source), via pyroute2."""
        tot = dict.fromkeys(table.STAT_NAMES, 0)
        for cpu in self.nl.sock.stat():
            for name, value in cpu["attrs"]:
                key = name[len("CTA_STATS_"):].lower().replace("chain_toolong", "chaintoolong")
                if key in tot:
                    tot[key] += value
        return tot

    def table_proc(self) -> list[dict]:
        return table.parse_proc(nsutil.read_file(self.fw, PROC_TABLE))

    def table_netlink(self) -> list[dict]:
        return self.nl.dump()

    def read_table(self, netlink: bool = True, attempts: int = 3):
        """(proc entries, netlink entries, count, problems), retried while invalid.
        The count is read after /proc because listing reaps expired entries."""
        for _ in range(attempts):
            proc = self.table_proc()
            count = self.count()
            nl = self.table_netlink() if netlink else None
            problems = table.validate(proc, count, nl)
            if not problems:
                break
            time.sleep(0.05)
        return proc, nl or [], count, problems

    def sysctls(self) -> dict:
        out = {}
        with nsutil.entered(self.fw):
            d = "/proc/sys/net/netfilter"
            for n in sorted(os.listdir(d)):
                try:
                    with open(os.path.join(d, n)) as f:
                        out[n] = f.read().strip()
                except OSError:
                    pass
        return out

    def verdict_counters(self) -> dict:
        """nft counters of the marking rules, by comment ('fwd:v4:NEW', 'in:v6:INVALID'...):
        an independent tally of what the capture-based scoring should find."""
        import json
        out = {}
        for fam, name in (("inet", TABLE), ("ip", f"{TABLE}_in"), ("ip6", f"{TABLE}_in")):
            js = json.loads(nsutil.ns_exec(self.fw, ["nft", "-j", "list", "table", fam, name]))
            for item in js.get("nftables", []):
                rule = item.get("rule")
                if rule and rule.get("comment"):
                    for expr in rule["expr"]:
                        if "counter" in expr:
                            out[rule["comment"]] = expr["counter"]["packets"]
        return out

    def flush(self) -> None:
        """Delete all entries (``conntrack -F`` in the firewall netns)."""
        nsutil.ns_exec(self.fw, ["conntrack", "-F"], check=False)

    def fill(self, n: int, kind: str = "assured", first: int = 0):
        """Bulk mode (no per-frame verdicts), see ``ctscope.kernel.fill``."""
        from .fill import fill
        return fill(self, n, kind, first)

    # ------------------------------------------------------------ running frames
    @staticmethod
    def assign_sides(frames) -> list[str]:
        """Sides for (t, side, frame) items: given ones are kept; for the others the
        first frame of a flow is the client ('c') and replies come from 's'."""
        seen: dict = {}
        out = []
        for i, (_t, side, frame) in enumerate(frames):
            if side not in (None, "c", "s"):
                raise InputError(f"side must be 'c', 's' or None, not {side!r}", where=f"frame {i}")
            p = peek(frame)
            key = p.key
            if side is None:
                side = "c"
                if p.inner is not None and p.inner in seen:        # ICMP error: goes back
                    side = OTHER[seen[p.inner]]                     # to the quoted sender
                elif p.inner is not None and reverse(p.inner) in seen:
                    side = seen[reverse(p.inner)]
                elif key is not None and key in seen:
                    side = seen[key]
                elif key is not None and reverse(key) in seen:
                    side = OTHER[seen[reverse(key)]]
            if key is not None:
                seen.setdefault(key, side)
            out.append(side)
        return out

    def _prepare(self, frames, realtime: bool, max_gap: float | None):
        """Sides, peeks, match keys, wire frames and the send schedule (s from start)."""
        sides = self.assign_sides(frames)
        wire, peeks, keys, sched = [], [], [], []
        t_prev = frames[0][0] if frames else 0.0
        t_eff = 0.0
        for (t, _s, frame), side in zip(frames, sides):
            if len(frame) > MAX_FRAME:
                raise InputError(f"frame of {len(frame)} bytes: the test links carry at most "
                                 f"{MAX_FRAME} (MTU 1500 + Ethernet header)", where=f"frame {len(peeks)}")
            p = peek(frame)
            peeks.append(p)
            atomic = strip_atomic_fragment(p.l3) if p.fragment else None
            keys.append(match_key(atomic, forwarded=True) if atomic else None if p.fragment or p.version == 0
                        else match_key(p.l3, forwarded=True))
            wire.append(self.inj.wire(side, frame))
            gap = max(0.0, t - t_prev)
            t_eff += min(gap, max_gap) if max_gap is not None else gap
            t_prev = t
            sched.append(t_eff)
        if realtime and sched and sched[-1] > MAX_REALTIME_S:
            raise InputError(f"realtime replay would take {sched[-1]:.0f} s (limit {MAX_REALTIME_S:.0f} s); "
                             "use max_gap to shorten idle gaps", where="run")
        return sides, peeks, keys, wire, sched

    def run(self, frames, realtime: bool = False, max_gap: float | None = None,
            read_netlink: bool = True, read_table: bool = True, step: bool = False) -> KernelResult:
        """Inject ``frames`` = [(t_seconds, side 'c'|'s'|None, ethernet frame)] in order.

        ``realtime``: honour the time stamps (relative to the first frame), with
        gaps longer than ``max_gap`` seconds shortened to it; otherwise back to back.
        ``read_table=False`` skips reading the final table (only the count is read).
        ``step=True``: after every frame wait for it (barrier) and read its entry by
        ctnetlink GET (for an ICMP error: the quoted flow's entry) into ``entry``.
        Identical frames (e.g. retransmissions) are matched first in, first out.
        """
        frames = list(frames)
        sides, peeks, keys, wire, sched = self._prepare(frames, realtime, max_gap)
        t_first = frames[0][0] if frames else 0.0
        res = KernelResult(kernel=os.uname().release)
        res.frames = [FrameVerdict(i, sides[i], frames[i][0] - t_first, 0) for i in range(len(frames))]
        frags = fragment_groups(peeks)        # datagram key -> fragment indices per datagram
        inj = self.inj
        inj.capture_only_barriers(False)
        inj.barrier()
        inj.capture_drops()
        res.stats_before = self.stats()
        pending: dict = defaultdict(deque)
        send = {s: inj.tx[s].send for s in inj.tx}
        mono = time.monotonic_ns
        start = mono()
        res.start_monotonic_ns = start
        for i, w in enumerate(wire):
            if realtime:
                target = start + int(sched[i] * 1e9)
                delay = (target - mono()) / 1e9
                if delay > 0.002:
                    time.sleep(delay - 0.001)
                while mono() < target:
                    pass
            side = sides[i]
            send[side](w)
            res.frames[i].t_sent_ns = mono() - start
            if keys[i] is not None:
                pending[keys[i]].append(i)
            if step:
                self._match(inj.barrier(), pending, res, frags)
                p = peeks[i]
                key = p.inner or p.key
                if key is not None and not p.fragment:
                    res.frames[i].entry = self.nl.get(key, icmp_code(p))
                res.frames[i].count = self.count()
            elif i & 255 == 255:
                self._match(inj.drain(), pending, res, frags)
        res.inject_seconds = (mono() - start) / 1e9
        self._match(inj.barrier(), pending, res, frags)
        self._finish(res, frames, peeks, read_table, read_netlink)
        return res

    def _finish(self, res: KernelResult, frames, peeks, read_table: bool, read_netlink: bool) -> None:
        """After the last frame: reasons for lost frames, stats, table, sysctls."""
        res.capture_drops = self.inj.capture_drops()
        for f, p in zip(res.frames, peeks):
            if f.fate == "dropped" and not f.reason:
                f.reason = unmatched_reason(p, frames[f.i][2])
        res.stats_after = self.stats()
        res.t_read_ns = time.monotonic_ns() - res.start_monotonic_ns
        res.stats_delta = {k: res.stats_after[k] - res.stats_before.get(k, 0) for k in res.stats_after}
        if read_table:
            res.table, res.table_netlink, res.count, res.table_problems = self.read_table(read_netlink)
        else:
            res.count = self.count()
        lost = [f for f in res.frames if f.fate == "dropped" and f.reason.startswith("never left")]
        if lost and res.stats_delta.get("drop", 0) >= len(lost):
            for f in lost:
                f.reason = (f"dropped by conntrack (stats drop +{res.stats_delta['drop']} in this run; "
                            "table full or insert failure)")
        res.sysctls = self.sysctls()

    def run_pcap(self, path: str, **kw) -> KernelResult:
        """Replay a classic pcap (Ethernet); sides follow the first frame of each flow."""
        from ..craft.scenario import read_pcap
        recs = read_pcap(path)
        t0 = recs[0][0] if recs else 0
        return self.run([((ts - t0) / 1e9, None, fr) for ts, fr in recs], **kw)

    @staticmethod
    def _match(got, pending, res: KernelResult, frags: dict) -> None:
        for out_side, l3 in got:
            q = pending.get(match_key(l3))
            if q:
                KernelHarness._score(res.frames[q.popleft()], l3, out_side)
                continue
            span = frag_span(l3) if frags else None
            queue = frags.get(frag_key(l3)) if span is not None else None
            if not queue:
                res.unmatched_out += 1
                continue
            if span[0] != 0:
                continue            # a later fragment of a datagram scored on its first one
            # conntrack saw the reassembled datagram: score it on its last fragment
            group = queue.popleft()
            last = res.frames[group[-1]]
            KernelHarness._score(last, l3, out_side)
            last.reason = "fragment: verdict of the reassembled datagram"
            for i in group[:-1]:
                f = res.frames[i]
                f.fate, f.out_side = last.fate, out_side
                f.reason = "fragment held for reassembly (the datagram is scored on its last fragment)"

    @staticmethod
    def _score(f: FrameVerdict, l3: bytes, out_side: str) -> None:
        dscp = (l3[1] >> 2) if l3[0] >> 4 == 4 else ((l3[0] & 0x0F) << 2 | l3[1] >> 6)
        fate, ctinfo = VERDICTS.get(dscp, ("forwarded", None))
        f.fate, f.out_side = fate, out_side
        if ctinfo is None:
            f.ctinfo, f.reason = "unscorable", f"unknown verdict mark DSCP {dscp}"
        else:
            f.ctinfo = ctinfo
