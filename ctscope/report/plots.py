"""The report's plots, rendered with matplotlib (Agg) to PNG bytes.

* ``occupancy_png``: entries over time for every scenario against its max line, with
  table-full drops (red crosses on the max line, area ~ drops that second) and early
  drops (orange triangles) marked;
* ``state_mix_png``: the state mix at each scenario's peak, as stacked bars;
* ``rates_png``: the analytical planner's steady state per scenario against max.
"""
from __future__ import annotations

import io

import numpy as np

NS = 1_000_000_000
COLORS = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
          "#ff7f0e", "#d62728", "#aec7e8", "#98df8a"]


def _plt():
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    _plt().close(fig)
    return buf.getvalue()


def occupancy_png(plan) -> bytes:
    plt = _plt()
    names = [s.name for s in plan.scenarios]
    n = len(names)
    fig, axes = plt.subplots(n, 1, figsize=(10, 1.9 * n + 0.8), sharex=True, squeeze=False)
    base_first = plan.results[names[0]].series[0]
    for ax, name, color in zip(axes[:, 0], names, COLORS):
        r = plan.results[name]
        first, step, counts = r.series
        off = (first - base_first) / NS if first and base_first else 0.0
        x = off + np.arange(len(counts)) * step / NS
        ax.fill_between(x, counts, step="post", color=color, alpha=0.25)
        ax.step(x, counts, where="post", color=color, lw=1.4, label="entries")
        ax.axhline(r.max, color="#d62728", ls="--", lw=1.2, label=f"max {r.max:,}")
        top = max(r.max, int(counts.max()) if len(counts) else 0)
        if r.drops_at:
            xs = np.array(sorted(r.drops_at)) + off
            ks = np.array([r.drops_at[k] for k in sorted(r.drops_at)])
            ax.scatter(xs, np.full(len(xs), r.max), marker="x", color="#d62728",
                       s=20 + 80 * ks / ks.max(), zorder=5, label=f"table-full drops ({r.drops:,})")
        if r.early_at:
            xs = np.array(sorted(r.early_at)) + off
            ax.scatter(xs, np.full(len(xs), r.max * 0.97), marker="v", color="#ff7f0e", s=25, zorder=5,
                       label=f"early drops ({r.early_drops:,})")
        ax.set_ylim(0, top * 1.15 if top else 1)
        ax.set_ylabel("entries")
        ax.set_title(f"{name}: peak {r.peak:,} / max {r.max:,}, drops {r.drops:,}, early drops "
                     f"{r.early_drops:,}", fontsize=9, loc="left")
        ax.legend(loc="upper left", fontsize=7, ncol=4, framealpha=0.8)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("seconds into the capture")
    fig.tight_layout()
    return _png(fig)


def state_mix_png(plan) -> bytes:
    plt = _plt()
    names = [s.name for s in plan.scenarios]
    mixes = [plan.results[n].state_mix_peak for n in names]
    states: list[str] = []
    for m in mixes:
        for k in m:
            if k not in states:
                states.append(k)
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(names) + 1.6))
    left = np.zeros(len(names))
    for i, st in enumerate(states):
        vals = np.array([m.get(st, 0) for m in mixes], dtype=float)
        ax.barh(names, vals, left=left, color=COLORS[i % len(COLORS)], label=st)
        left += vals
    for y, n in enumerate(names):
        ax.text(left[y], y, f" {int(left[y]):,}", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("entries at the peak (visible, by protocol and state)")
    ax.set_xlim(0, max(left.max() * 1.15, 1))
    if states:
        ax.legend(fontsize=7, ncol=4, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def rates_png(rates: dict) -> bytes:
    plt = _plt()
    rows = rates["scenarios"]
    names = [r["name"] for r in rows]
    fig, ax = plt.subplots(figsize=(10, 0.55 * len(rows) + 1.6))
    states = []
    for r in rows:
        for k in r["visible"]:
            if k not in states:
                states.append(k)
    left = np.zeros(len(rows))
    for i, st in enumerate(states):
        vals = np.array([r["visible"].get(st, 0) for r in rows])
        ax.barh(names, vals, left=left, color=COLORS[i % len(COLORS)], label=st)
        left += vals
    lag = np.array([r["count"] for r in rows]) - left
    ax.barh(names, lag, left=left, color="#cccccc", hatch="//", label="expired, not yet reaped (top)")
    for y, r in enumerate(rows):
        ax.plot([r["nf_conntrack_max"]] * 2, [y - 0.4, y + 0.4], color="#d62728", lw=2)
    ax.plot([], [], color="#d62728", lw=2, label="nf_conntrack_max")
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("entries in steady state (log)")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return _png(fig)
