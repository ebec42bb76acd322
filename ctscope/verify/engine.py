"""The engine side of a differential run: frames -> temporary pcapng -> ``open_capture``
(decoder, defragmentation, path model) -> ``Tracker`` with the harness's settings.

``nf_conntrack_max``/``nf_conntrack_buckets`` are read (never written) from the
running kernel's ``/proc/sys``: a test namespace shares the host's limit.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field

import numpy as np

from ..engine.layout import CT_NOT_SEEN
from ..engine.settings import MODELLED, Settings
from ..engine.tracker import Tracker, _addr
from ..packets.record import empty_batch
from ..packets.source import open_capture
from .pcapng import write_pcapng

NS = 1_000_000_000
BASE_NS = 1_700_000_000 * NS          # pcap time of the harness's first send
SYSCTL_DIR = "/proc/sys/net/netfilter"


def host_limits() -> dict:
    """The global ``nf_conntrack_max`` and ``nf_conntrack_buckets`` (read-only)."""
    from ..errors import CtscopeError
    out = {}
    for name in ("nf_conntrack_max", "nf_conntrack_buckets"):
        try:
            with open(os.path.join(SYSCTL_DIR, name)) as f:
                out[name] = int(f.read())
        except (OSError, ValueError) as exc:
            raise CtscopeError(f"cannot read {name} of the running kernel ({exc}): is nf_conntrack "
                               "available?") from None
    return out


def engine_settings(kernel_settings: dict | None = None, limits: dict | None = None) -> Settings:
    """Settings equal to what the harness pins in its firewall namespace
    (``kernel.netns.PINNED`` overridden by ``kernel_settings``) plus the host limits."""
    from ..kernel.netns import Topology
    full = Topology._check_settings(dict(kernel_settings or {}))
    values = {k: int(v) for k, v in full.items() if k in MODELLED}
    values.update(limits or host_limits())
    return Settings(values=values, events=False)


@dataclass
class EngineRun:
    """The engine's verdicts for one run (``step``: entries around every frame)."""

    tracker: Tracker
    batch: np.ndarray
    ct: np.ndarray
    fate: np.ndarray
    ifnames: dict
    before: list = field(default_factory=list)     # step mode: Entry or None per frame
    after: list = field(default_factory=list)


def decode(frames, t_ns, sides, settings: Settings):
    """Frames through the product's capture reader -> (PKT_DTYPE batch, interface names)."""
    with tempfile.TemporaryDirectory(prefix="ctscope-verify-") as d:
        path = os.path.join(d, "run.pcapng")
        write_pcapng(path, frames, t_ns, sides)
        cap = open_capture(path, settings=settings)
        batches = list(cap)
        ifnames = dict(cap.interfaces)
    batch = np.concatenate(batches) if batches else empty_batch(0)
    if len(batch) != len(frames):
        raise RuntimeError(f"decoder returned {len(batch)} records for {len(frames)} frames")
    return batch, ifnames


def record_key(rec) -> tuple | None:
    """(proto, src, dst, a, b) of a record's flow (an ICMP error: the quoted flow)."""
    if rec["l3"] == 0 or rec["skip"]:
        return None
    l3 = int(rec["l3"])
    if rec["in_proto"] and rec["pflags"] & (1 << 7):
        return (int(rec["in_proto"]), _addr(rec["in_src_hi"], rec["in_src_lo"], l3),
                _addr(rec["in_dst_hi"], rec["in_dst_lo"], l3), int(rec["in_sport"]), int(rec["in_dport"]))
    return (int(rec["proto"]), _addr(rec["src_hi"], rec["src_lo"], l3),
            _addr(rec["dst_hi"], rec["dst_lo"], l3), int(rec["sport"]), int(rec["dport"]))


def _tuple_ab(t) -> tuple:
    if t.type is not None:
        return (t.id or 0, (t.type << 8) | (t.code or 0))
    if t.srckey is not None:
        return (t.srckey, t.dstkey)
    return (t.sport or 0, t.dport or 0)


def find_entry(tracker: Tracker, key: tuple | None):
    """The visible entry holding ``key`` in either direction (None if absent)."""
    if key is None:
        return None
    proto, src, dst, a, b = key
    for e in tracker.entries():
        if e.l4num != proto:
            continue
        for t in (e.orig, e.reply):
            if t.src == src and t.dst == dst and _tuple_ab(t) == (a, b):
                return e
    return None


def run_engine(frames, t_ns, sides, settings: Settings, rules=None, step: bool = False) -> EngineRun:
    """Run ``frames`` (Ethernet bytes) sent at ``t_ns`` on ``sides`` through a Tracker."""
    batch, ifnames = decode(frames, t_ns, sides, settings)
    tr = Tracker(settings, rules, ifnames, events=False)
    if not step:
        ct, fate = tr.process_batch(batch)
        return EngineRun(tr, batch, ct, fate, ifnames)
    n = len(batch)
    ct = np.full(n, CT_NOT_SEEN, np.uint8)
    fate = np.zeros(n, np.uint8)
    run = EngineRun(tr, batch, ct, fate, ifnames)
    for i in range(n):
        key = record_key(batch[i])
        run.before.append(find_entry(tr, key))
        c, f = tr.process_batch(batch[i:i + 1])
        ct[i], fate[i] = c[0], f[0]
        run.after.append(find_entry(tr, key))
    return run
