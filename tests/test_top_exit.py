"""``ctscope top`` quits on Ctrl-C at once: the key wins over textual's own ctrl+c bindings
(App 'help_quit', Screen / Input copy), and a reading under way does not hold up the exit.
The end-to-end runs on a terminal are in tests/test_signals.py."""
from __future__ import annotations

import asyncio
import pty
import subprocess
import sys
import textwrap
import time

import pytest

from ctscope.live.sampler import Sample
from ctscope.tui.top import TopApp
from test_signals import GRACE, ROOT, _env, _Terminal, ctrl_c_on_terminal


class Quick:
    def sample(self, proto=None):
        return Sample(time=time.monotonic(), count=1, max=100)


@pytest.mark.parametrize("focus_filter", [False, True], ids=["table", "filter-input"])
def test_ctrl_c_key_quits_with_130(focus_filter):
    async def drive():
        app = TopApp(Quick(), interval=0.3)
        async with app.run_test(size=(120, 40)) as pilot:
            while app.samples_taken < 1:
                await pilot.pause(0.05)
            if focus_filter:
                await pilot.press("slash", *"10.")
            await pilot.press("ctrl+c")
            await pilot.pause(0.2)
            return app.is_running, app.return_code
    assert asyncio.run(drive()) == (False, 130)


# top with a reading that takes 30 s (a huge table, a slow --netns helper) under way
SLOW = textwrap.dedent("""
    import sys, time
    from ctscope.live.sampler import Sample
    from ctscope.tui.top import TopApp

    class Slow:
        def __init__(self):
            self.n = 0
        def sample(self, proto=None):
            self.n += 1
            if self.n > 1:
                open(sys.argv[1], "w").close()        # (textual captures stderr)
                time.sleep(30)
            return Sample(time=time.monotonic(), count=1, max=100)

    app = TopApp(Slow(), interval=0.5)
    app.run()
    sys.exit(app.return_code)
""")


@pytest.mark.parametrize("how", ["key", "signal"])
def test_reading_under_way_does_not_delay_exit(how, tmp_path):
    mark = tmp_path / "reading"
    master, slave = pty.openpty()
    p = subprocess.Popen([sys.executable, "-c", SLOW, str(mark)], cwd=ROOT, env=dict(_env(), TERM="xterm-256color"),
                         stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    term = _Terminal(master, slave)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not mark.exists() and p.poll() is None:
            time.sleep(0.05)
        assert mark.exists(), bytes(term.got[-500:])
        time.sleep(0.3)
        took, got = ctrl_c_on_terminal(p, term, how)
        assert took <= GRACE, f"exited {took:.2f} s after Ctrl-C, a reading under way"
        assert p.returncode == 130 and b"Traceback" not in got, (p.returncode, got[-500:])
    finally:
        if p.poll() is None:          # a failed assertion must not leave top running
            p.kill()
            p.wait()
