"""``ctscope top``: a live view of the conntrack table (textual).

A gauge of count/max coloured at the 50 / 75 / 90 % thresholds, new/s, destroyed/s
and drops/s, entries by state and protocol, and the top talkers (sources,
destinations, destination ports, (source, port) pairs).  Keys: ``v`` next talker
view, ``p`` next protocol, ``s`` sort, ``/`` filter the talkers (substring),
``escape`` clear it, ``space`` pause, ``+``/``-`` refresh interval, ``q`` quit;
Ctrl-C (the key, or a SIGINT signal) quits with return code 130.
Readings come from ``live.sampler.Sampler`` in a daemon thread (read only).
"""
from __future__ import annotations

import asyncio
import signal
import threading

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Input, Static

from ..live.doctor import THRESHOLDS
from ..live.sampler import Sample, Sampler

VIEWS = ("sources", "destinations", "dports", "pairs")
PROTOS = (None, "tcp", "udp", "icmp", "icmpv6", "sctp", "gre")
SORTS = ("count", "name")


def colour(usage: float | None) -> str:
    if usage is None:
        return "white"
    return "red" if usage >= THRESHOLDS[2] else "dark_orange" if usage >= THRESHOLDS[1] \
        else "yellow" if usage >= THRESHOLDS[0] else "green"


def gauge_text(s: Sample, width: int = 40) -> str:
    if s.usage is None:
        return f"entries {s.count if s.count is not None else '?'} / max {s.max or '?'}"
    n = min(width, int(s.usage * width + 0.5))
    c = colour(s.usage)
    return (f"[{c}]{'█' * n}[/{c}]{'░' * (width - n)}  [bold {c}]{s.usage:6.1%}[/]  "
            f"{s.count:,} / {s.max:,}")


def talker_rows(s: Sample, view: str) -> list[tuple[str, int]]:
    if s.digest is None:
        return []
    sm = s.digest.summary
    if view == "sources":
        return list(sm.top_sources)
    if view == "destinations":
        return list(sm.top_destinations)
    if view == "dports":
        return list(sm.top_dports)
    return [(f"{a} -> {p}/{d if d is not None else '-'}", n) for a, p, d, n in s.digest.pairs]


class TopApp(App):
    TITLE = "ctscope top"
    CSS = """
    #gauge { height: 1; padding: 0 1; }
    #rates { height: 1; padding: 0 1; }
    #tables { height: 12; }
    #states, #protos { width: 1fr; }
    #talkers { height: 1fr; }
    #filter { display: none; }
    #filter.shown { display: block; }
    #problems { color: $warning; height: auto; padding: 0 1; }
    """
    BINDINGS = [
        # textual turns ISIG off, so Ctrl-C arrives as a key, and App binds it to 'help_quit' (a
        # "press ctrl+q" notice) and Screen/Input to copy: a priority App binding wins over all three.
        Binding("ctrl+c", "interrupt", "quit", show=False, priority=True),
        Binding("q", "quit", "quit"), Binding("space", "pause", "pause"),
        Binding("v", "view", "talkers"), Binding("p", "proto", "protocol"),
        Binding("s", "sort", "sort"), Binding("slash", "filter", "filter"),
        Binding("escape", "clear", "clear filter", show=False),
        Binding("plus", "faster", "+interval", show=False), Binding("minus", "slower", "-interval", show=False),
    ]

    def __init__(self, sampler: Sampler, interval: float = 2.0):
        super().__init__()
        self.sampler, self.interval = sampler, interval
        self.paused = False
        self.view, self.proto_i, self.sort = "dports", 0, "count"
        self.text_filter = ""
        self.sample: Sample | None = None
        self.samples_taken = 0
        self._timer = None
        self._reading = False       # a reading is under way (one at a time)

    def compose(self) -> ComposeResult:
        yield Static("reading ...", id="gauge")
        yield Static("", id="rates")
        with Horizontal(id="tables"):
            yield DataTable(id="states", cursor_type="none")
            yield DataTable(id="protos", cursor_type="none")
        yield DataTable(id="talkers", cursor_type="row")
        yield Input(placeholder="filter talkers (substring), enter to apply", id="filter")
        yield Static("", id="problems")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#states", DataTable).add_columns("state", "entries")
        self.query_one("#protos", DataTable).add_columns("protocol", "entries")
        self.query_one("#talkers", DataTable).add_columns("talker", "entries", "share")
        try:        # a SIGINT signal (kill -INT, or Ctrl-C where ISIG is on) quits like the key
            asyncio.get_running_loop().add_signal_handler(signal.SIGINT, self.action_interrupt)
        except (RuntimeError, ValueError, NotImplementedError):   # App run outside the main thread
            pass
        self.refresh_data()
        self._timer = self.set_interval(self.interval, self.refresh_data)

    def action_interrupt(self) -> None:
        self.exit(return_code=130)

    @property
    def proto(self) -> str | None:
        return PROTOS[self.proto_i]

    def refresh_data(self) -> None:
        """Start a reading in a daemon thread, unless paused or one is under way.  Not a textual
        thread worker: those run in asyncio's default executor, which App.run (asyncio.run) and
        the interpreter join at exit, so quitting would wait for a reading (a big table, a
        --netns helper) to finish; a daemon thread is simply dropped."""
        if self.paused or self._reading:
            return
        self._reading = True
        threading.Thread(target=self._read, args=(self.proto,), name="ctscope-top-reader", daemon=True).start()

    def _read(self, proto: str | None) -> None:
        try:
            sample = self.sampler.sample(proto)
        except Exception as exc:          # a reading failed: say so, keep running
            self._from_thread(self._problem, str(exc))
            return
        self._from_thread(self._deliver, sample, proto)

    def _from_thread(self, callback, *args) -> None:
        try:
            self.call_from_thread(callback, *args)
        except RuntimeError:        # the app has exited meanwhile: drop the reading
            pass

    def _deliver(self, sample: Sample, proto: str | None) -> None:
        self._reading = False
        if proto != self.proto:     # 'p' was pressed while reading: read the new protocol now
            self.refresh_data()
        elif not self.paused:       # a reading that was under way when space was pressed is dropped
            self.show(sample)

    def _problem(self, text: str) -> None:
        self._reading = False
        self.query_one("#problems", Static).update(text)

    def show(self, s: Sample) -> None:
        self.sample = s
        self.samples_taken += 1
        self.query_one("#gauge", Static).update(gauge_text(s))
        rate = lambda v: "-" if v is None else f"{v:,.1f}"   # noqa: E731
        st = s.stats
        self.query_one("#rates", Static).update(
            f"new/s {rate(s.new_per_s)}  destroyed/s {rate(s.destroyed_per_s)}  drops/s {rate(s.drops_per_s)}"
            f"  | drop {st.get('drop', '-')} early_drop {st.get('early_drop', '-')} insert_failed "
            f"{st.get('insert_failed', '-')}  | every {self.interval:g}s  proto {self.proto or 'all'}"
            f"  sort {self.sort}  view {self.view}" + ("  [reverse] PAUSED [/]" if self.paused else ""))
        self._fill_small(s)
        self._fill_talkers()
        self.query_one("#problems", Static).update("\n".join(s.problems))

    def _fill_small(self, s: Sample) -> None:
        states, protos = self.query_one("#states", DataTable), self.query_one("#protos", DataTable)
        states.clear()
        protos.clear()
        if s.digest is None:
            return
        sm = s.digest.summary
        for k, v in sm.by_state.items():
            states.add_row(k, f"{v:,}")
        if sm.flags.get("unreplied"):
            states.add_row("[UNREPLIED]", f"{sm.flags['unreplied']:,}")
        for k, v in sm.by_proto.items():
            protos.add_row(k, f"{v:,}")

    def _fill_talkers(self) -> None:
        table = self.query_one("#talkers", DataTable)
        table.clear()
        if self.sample is None:
            return
        rows = [r for r in talker_rows(self.sample, self.view) if self.text_filter in r[0]]
        rows.sort(key=(lambda r: -r[1]) if self.sort == "count" else (lambda r: r[0]))
        total = self.sample.digest.summary.total if self.sample.digest else 0
        for name, n in rows:
            table.add_row(name, f"{n:,}", f"{n / total:.1%}" if total else "-")

    def talkers(self) -> list[tuple[str, str]]:
        """The talker rows shown now (name, entries) -- for tests and scripts."""
        table = self.query_one("#talkers", DataTable)
        return [(str(table.get_row_at(i)[0]), str(table.get_row_at(i)[1])) for i in range(table.row_count)]

    def _redraw(self) -> None:
        if self.sample is not None:
            self.show(self.sample)
            self.samples_taken -= 1

    # ----------------------------------------------------------- actions
    def action_pause(self) -> None:
        self.paused = not self.paused
        self._redraw()

    def action_view(self) -> None:
        self.view = VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)]
        self._redraw()

    def action_proto(self) -> None:
        self.proto_i = (self.proto_i + 1) % len(PROTOS)
        self.refresh_data()

    def action_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self._redraw()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("shown")
        box.focus()

    def action_clear(self) -> None:
        self.text_filter = ""
        box = self.query_one("#filter", Input)
        box.value = ""
        box.remove_class("shown")
        self._redraw()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.text_filter = event.value.strip()
        event.input.remove_class("shown")
        self.query_one("#talkers", DataTable).focus()
        self._redraw()

    def _retime(self, interval: float) -> None:
        self.interval = max(0.5, min(60.0, interval))
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_interval(self.interval, self.refresh_data)
        self._redraw()

    def action_faster(self) -> None:
        self._retime(self.interval / 2)

    def action_slower(self) -> None:
        self._retime(self.interval * 2)
