"""Table-full experiments at the kernel's scale: the engine side of ``kernel.fill``.

``fill_batch(n, kind, first, t0_ns, dt_ns)`` builds, vectorised, the PKT_DTYPE records
of exactly the frames ``kernel.fill.handshake_frames`` sends (SYN, SYN/ACK, ACK per
flow, or lone SYNs), so the engine can be fed a 786k-frame fill in batches without
a pcap round trip.  One flow goes through the real decoder as a template, so new
decoder fields follow; ``tests/test_verify_fill.py`` checks every record.
"""
from __future__ import annotations

import ipaddress

import numpy as np

from ..kernel.fill import FILL_SERVER, handshake_frames

BATCH = 1 << 16


def fill_batch(n: int, kind: str = "assured", first: int = 0, t0_ns: int = 0, dt_ns: int = 1000,
               dport: int = 80) -> np.ndarray:
    """Records of ``kernel.fill.handshake_frames(n, kind, first=first, dport=dport)`` at
    times ``t0_ns + k * dt_ns``: one flow is decoded by the capture decoder and used as
    the template (flags, lengths, options), the per-flow fields are filled in vectorised."""
    from ..packets.source import decode_packets
    if kind not in ("assured", "unassured"):
        raise ValueError("kind must be 'assured' or 'unassured'")
    template = decode_packets([f for _s, f in handshake_frames(1, kind, dport=dport, first=first)])
    per = len(template)
    i = np.arange(first, first + n, dtype=np.int64)
    client = np.uint64(int(ipaddress.IPv4Address("198.18.0.0"))) + ((i >> 8) & 255).astype(np.uint64) * 256 \
        + (i & 255).astype(np.uint64)
    server = np.uint64(int(ipaddress.IPv4Address(FILL_SERVER)))
    cport = (10000 + (i >> 16)).astype(np.uint16)
    isn_c = (1000 + i).astype(np.uint32)
    isn_s = (7_000_000 + i).astype(np.uint32)
    b = np.tile(template, n)
    b["n"] = np.arange(1, n * per + 1)
    b["ts"] = t0_ns + np.arange(n * per, dtype=np.int64) * dt_ns
    # per packet of a flow: (from the client?, seq, ack)
    parts = [(True, isn_c, 0)]
    if per == 3:
        parts += [(False, isn_s, isn_c + np.uint32(1)), (True, isn_c + np.uint32(1), isn_s + np.uint32(1))]
    for k, (from_client, seq, ack) in enumerate(parts):
        sl = slice(k, None, per)
        b["src_lo"][sl], b["dst_lo"][sl] = (client, server) if from_client else (server, client)
        b["sport"][sl], b["dport"][sl] = (cport, dport) if from_client else (dport, cport)
        b["seq"][sl], b["ack"][sl] = seq, ack
    return b


def feed(tracker, batch: np.ndarray, size: int = BATCH) -> int:
    """Run ``batch`` through ``tracker`` in slices; returns the number of CT_DROPPED."""
    from ..engine.layout import CT_DROPPED
    dropped = 0
    for k in range(0, len(batch), size):
        ct, _fate = tracker.process_batch(batch[k:k + size])
        dropped += int(np.count_nonzero(ct == CT_DROPPED))
    return dropped


def sunreclaim() -> int | None:
    """SUnreclaim of /proc/meminfo in bytes (read-only; None if unreadable)."""
    try:
        with open("/proc/meminfo") as f:
            for ln in f:
                if ln.startswith("SUnreclaim:"):
                    return int(ln.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


class FullRun:
    """One table-full experiment on both sides (see ``table_full_experiment``)."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


# The experiment is about a full table, not about expiry: a fill takes about a second
# here but has no upper bound on a loaded machine, and with the default 120-s
# syn_sent timeout its first entries could expire (nf_conntrack_core.c gc_worker)
# before the table is full.  Both sides get timeouts far longer than any fill.
FILL_SETTINGS = {"nf_conntrack_tcp_timeout_syn_sent": 3600, "nf_conntrack_tcp_timeout_syn_recv": 3600}


def table_full_experiment(kind: str, probe: list, limits: dict | None = None) -> FullRun:
    """Fill a fresh namespace and a fresh Tracker to ``nf_conntrack_max`` entries of
    ``kind``, then send ``probe`` = [(t, side, frame)] through both (per-frame verdicts).
    Both sides run with ``FILL_SETTINGS`` so no entry expires during a slow fill."""
    import time

    from ..engine.tracker import Tracker
    from ..kernel import KernelHarness
    from .engine import BASE_NS, decode, engine_settings, host_limits

    limits = limits or host_limits()
    mx = limits["nf_conntrack_max"]
    unreclaim0 = sunreclaim()
    with KernelHarness(FILL_SETTINGS) as h:
        kfill = h.fill(mx, kind)
        kcount_fill = h.count()
        unreclaim1 = sunreclaim()
        kprobe = h.run(probe, read_table=False)
    settings = engine_settings(FILL_SETTINGS, limits)
    tr = Tracker(settings, events=False)
    t = time.monotonic()
    send_ns = max(1, int(kfill.send_seconds * 1e9 / max(1, kfill.frames)))
    feed(tr, fill_batch(mx, kind, t0_ns=BASE_NS, dt_ns=send_ns))
    engine_fill_s = time.monotonic() - t
    estats_fill, ecount_fill = tr.stats(), tr.count
    t_probe = BASE_NS + kfill.frames * send_ns + 1_000_000_000 + kprobe.sent_ns()
    batch, _ = decode([f for _t, _s, f in probe], t_probe, [f.side for f in kprobe.frames], settings)
    ct, fate = tr.process_batch(batch)
    estats = tr.stats()
    return FullRun(kind=kind, max=mx, kernel_fill=kfill, kernel_count_fill=kcount_fill, kernel_probe=kprobe,
                   engine_ct=ct, engine_fate=fate, engine_count_fill=ecount_fill, engine_count=tr.count,
                   engine_stats_fill=estats_fill,
                   engine_stats_probe={k: estats[k] - estats_fill[k] for k in estats},
                   engine_fill_seconds=engine_fill_s, engine_table_bytes=tr.table_bytes(),
                   sunreclaim_delta=unreclaim1 - unreclaim0 if unreclaim0 and unreclaim1 else None)
