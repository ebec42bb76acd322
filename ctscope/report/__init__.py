"""Reports of ``ctscope plan``: one self-contained HTML page (PNG plots embedded as
base64, no external resource) and the same plots as PNG files for tickets.

    write_report(plan, "plan.html", "plots/")        # a replayed plan
    write_report(None, "rates.html", None, rates=d)  # the analytical planner
"""
from __future__ import annotations

import os


def write_report(plan, html_path: str | None, png_dir: str | None, rates: dict | None = None,
                 out=None) -> dict:
    """Render the plots once and write the page and/or the PNGs atomically (with
    ``out``, an OutputSet, they are committed by the caller with its other files)."""
    from ..atomic import OutputSet
    from . import html, plots

    if rates is not None:
        pngs = {"steady-state.png": plots.rates_png(rates)}
        page = html.rates_page(rates, pngs) if html_path else None
    else:
        pngs = {"occupancy.png": plots.occupancy_png(plan), "state-mix.png": plots.state_mix_png(plan)}
        page = html.plan_page(plan, pngs) if html_path else None
    own = out is None
    out = out or OutputSet()
    try:
        if html_path:
            fh = out.open(html_path)
            os.fchmod(fh.fileno(), 0o644)
            fh.write(page)
        if png_dir:
            os.makedirs(png_dir, exist_ok=True)
            for name, data in pngs.items():
                fh = out.open(os.path.join(png_dir, name), "wb")
                os.fchmod(fh.fileno(), 0o644)
                fh.write(data)
    except BaseException:
        out.discard()
        raise
    if own:
        out.commit()
    return {"html": html_path, "pngs": sorted(pngs) if png_dir else []}


__all__ = ["write_report"]
