"""Table-full experiments at the kernel's scale: the engine side of ``kernel.fill``.

``fill_batch(n, kind, first, t0_ns, dt_ns)`` builds, vectorised, the PKT_DTYPE records
of exactly the frames ``kernel.fill.handshake_frames`` sends (SYN, SYN/ACK, ACK per
flow, or lone SYNs), so the engine can be fed a 786k-frame fill in batches without
a pcap round trip (``tests/test_verify_fill.py`` checks the records against the decoder).
"""
from __future__ import annotations

import ipaddress

import numpy as np

from ..kernel.fill import FILL_SERVER
from ..packets.record import PF_L4_OK, TH_ACK, TH_SYN, empty_batch

BATCH = 1 << 16


def fill_batch(n: int, kind: str = "assured", first: int = 0, t0_ns: int = 0, dt_ns: int = 1000,
               dport: int = 80) -> np.ndarray:
    """Records of ``kernel.fill.handshake_frames(n, kind, first=first)`` at times
    ``t0_ns + k * dt_ns``."""
    if kind not in ("assured", "unassured"):
        raise ValueError("kind must be 'assured' or 'unassured'")
    per = 3 if kind == "assured" else 1
    i = np.arange(first, first + n, dtype=np.int64)
    client = np.uint64(int(ipaddress.IPv4Address("198.18.0.0"))) + ((i >> 8) & 255).astype(np.uint64) * 256 \
        + (i & 255).astype(np.uint64)
    server = np.uint64(int(ipaddress.IPv4Address(FILL_SERVER)))
    cport = (10000 + (i >> 16)).astype(np.uint16)
    isn_c = (1000 + i).astype(np.uint32)
    isn_s = (7_000_000 + i).astype(np.uint32)
    b = empty_batch(n * per)
    b["n"] = np.arange(1, n * per + 1)
    b["ts"] = t0_ns + np.arange(n * per, dtype=np.int64) * dt_ns
    b["l3"], b["proto"], b["ttl"], b["pflags"] = 4, 6, 64, PF_L4_OK

    def part(k):
        return slice(k, None, per)
    syn = part(0)
    b["src_lo"][syn], b["dst_lo"][syn] = client, server
    b["sport"][syn], b["dport"][syn] = cport, dport
    b["seq"][syn], b["tcpflags"][syn], b["win"][syn] = isn_c, TH_SYN, 64240
    b["iplen"][syn], b["mss"][syn] = 44, 1460
    if per == 3:
        sa, ack = part(1), part(2)
        b["src_lo"][sa], b["dst_lo"][sa] = server, client
        b["sport"][sa], b["dport"][sa] = dport, cport
        b["seq"][sa], b["ack"][sa] = isn_s, isn_c + np.uint32(1)
        b["tcpflags"][sa], b["win"][sa], b["iplen"][sa], b["mss"][sa] = TH_SYN | TH_ACK, 65160, 44, 1460
        b["src_lo"][ack], b["dst_lo"][ack] = client, server
        b["sport"][ack], b["dport"][ack] = cport, dport
        b["seq"][ack], b["ack"][ack] = isn_c + np.uint32(1), isn_s + np.uint32(1)
        b["tcpflags"][ack], b["win"][ack], b["iplen"][ack] = TH_ACK, 64240, 40
    return b


def feed(tracker, batch: np.ndarray, size: int = BATCH) -> int:
    """Run ``batch`` through ``tracker`` in slices; returns the number of CT_DROPPED."""
    from ..engine.layout import CT_DROPPED
    dropped = 0
    for k in range(0, len(batch), size):
        ct, _fate = tracker.process_batch(batch[k:k + size])
        dropped += int(np.count_nonzero(ct == CT_DROPPED))
    return dropped


class FullRun:
    """One table-full experiment on both sides (see ``table_full_experiment``)."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


def table_full_experiment(kind: str, probe: list, limits: dict | None = None) -> FullRun:
    """Fill a fresh namespace and a fresh Tracker to ``nf_conntrack_max`` entries of
    ``kind``, then send ``probe`` = [(t, side, frame)] through both (per-frame verdicts)."""
    import time

    from ..engine.tracker import Tracker
    from ..kernel import KernelHarness
    from .engine import BASE_NS, decode, engine_settings, host_limits

    limits = limits or host_limits()
    mx = limits["nf_conntrack_max"]
    with KernelHarness() as h:
        kfill = h.fill(mx, kind)
        kcount_fill = h.count()
        kprobe = h.run(probe, read_table=False)
    settings = engine_settings({}, limits)
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
                   engine_fill_seconds=engine_fill_s, engine_table_bytes=tr.table_bytes())
