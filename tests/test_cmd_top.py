"""``ctscope top``'s keys driven with Textual's pilot on scripted readings (no
kernel); the live-traffic run is in tests/kernel/test_live_traffic.py."""
from __future__ import annotations

import asyncio

from ctscope.live.digest import digest
from ctscope.live.sampler import Sample, only_protocol
from ctscope.tui.top import TopApp, colour, gauge_text
from test_formats_roundtrip import PROC


class Scripted:
    """Readings of PROC: count grows by one per reading; protocol filter honoured."""

    def __init__(self):
        self.n = 0

    def sample(self, proto=None):
        self.n += 1
        data = PROC.encode()
        return Sample(time=float(self.n), count=90 + self.n, max=100, stats={"drop": self.n},
                      digest=digest(only_protocol(data, proto) if proto else data), new_per_s=1.5,
                      destroyed_per_s=0.5, drops_per_s=1.0)


def test_gauge_colours_at_the_thresholds():
    assert [colour(u) for u in (0.1, 0.5, 0.8, 0.95, None)] == ["green", "yellow", "dark_orange", "red", "white"]
    assert "95.0%" in gauge_text(Sample(0, count=95, max=100)) and "[red]" in gauge_text(Sample(0, count=95, max=100))
    assert gauge_text(Sample(0, count=3)).startswith("entries 3")


def test_keys_filter_sort_view_proto_pause():
    async def drive():
        app = TopApp(Scripted(), interval=0.3)
        seen = {}
        async with app.run_test(size=(120, 40)) as pilot:
            while app.samples_taken < 1:
                await pilot.pause(0.05)
            seen["dports"] = app.talkers()
            await pilot.press("s")
            seen["by_name"] = app.talkers()
            await pilot.press("slash", *"udp", "enter")
            seen["filtered"] = app.talkers()
            await pilot.press("escape", "v")
            seen["pairs"] = app.talkers()
            await pilot.press("p")              # tcp
            await pilot.pause(0.5)
            seen["tcp"] = app.sample.digest.summary.by_proto
            await pilot.press("space")
            n = app.samples_taken
            await pilot.pause(0.8)
            seen["paused"] = app.samples_taken == n
            await pilot.press("q")
        return seen
    seen = asyncio.run(drive())
    assert [n for n, _ in seen["dports"]][:1] and {n for n, _ in seen["dports"]} == {"udp/6000", "tcp/8000", "udp/7000"}
    assert [n for n, _ in seen["by_name"]] == ["tcp/8000", "udp/6000", "udp/7000"]
    assert [n for n, _ in seen["filtered"]] == ["udp/6000", "udp/7000"]
    assert all(" -> " in n for n, _ in seen["pairs"])
    assert seen["tcp"] == {"tcp": 1} and seen["paused"]
