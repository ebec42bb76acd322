"""Conntrack events (NEW / UPDATE / DESTROY), read only, and the churn they show.

Choice: ``conntrack -E`` as a child process, its lines read with ``formats.parse_line``
-- not pyroute2's ctnetlink multicast groups.  Reasons: pyroute2 decodes about one
message per millisecond (kernel/ctnl.py), far below a busy host's event rate, so it
would lose events (ENOBUFS) exactly when churn matters; ``conntrack -E`` is the tool
operators already trust, prints the reference format byte for byte (our default output
*is* its output), has the kernel-side filters (``-p``, ``-s``, ``--dport`` ...,
``-e`` event mask) and ``-b`` for the socket buffer; and subscribing is read only
(``conntrack -E`` never changes the table).  It needs conntrack-tools and
CAP_NET_ADMIN, like ctnetlink itself; without them the reason is reported.
"""
from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from ..errors import InputError, PrivilegeError


def event_command(options: list[str] | None = None, netns: str | None = None) -> list[str]:
    cmd = ["conntrack", "-E", *(options or [])]
    return (["ip", "netns", "exec", netns] if netns else []) + cmd


@dataclass
class Churn:
    """Event counts over ``seconds`` and the busiest destination ports of NEW events."""

    seconds: float = 0.0
    counts: Counter = field(default_factory=Counter)       # NEW / UPDATE / DESTROY
    new_dports: Counter = field(default_factory=Counter)   # "tcp/80"
    unreadable: int = 0
    lost: int = 0                                          # ENOBUFS reports of conntrack -E
    source: str = "conntrack -E"

    def add(self, entry) -> None:
        self.counts[entry.event] += 1
        if entry.event == "NEW":
            port = entry.orig.dport
            self.new_dports[f"{entry.l4}/{port}" if port is not None else entry.l4] += 1

    def rate(self, event: str) -> float:
        return self.counts[event] / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self, top: int = 5) -> dict:
        return {"source": self.source, "seconds": round(self.seconds, 3),
                "new": self.counts["NEW"], "update": self.counts["UPDATE"],
                "destroy": self.counts["DESTROY"],
                "new_per_s": round(self.rate("NEW"), 1), "destroy_per_s": round(self.rate("DESTROY"), 1),
                "top_new_dports": [{"dport": k, "count": n} for k, n in self.new_dports.most_common(top)],
                "unreadable": self.unreadable, "lost": self.lost}

    def summary_lines(self, top: int = 5) -> list[str]:
        c = self.counts
        out = [f"churn over {self.seconds:.1f} s: {c['NEW']} new ({self.rate('NEW'):.1f}/s), "
               f"{c['UPDATE']} update, {c['DESTROY']} destroy ({self.rate('DESTROY'):.1f}/s), "
               f"net {c['NEW'] - c['DESTROY']:+d} entries"]
        if self.new_dports:
            out.append("  busiest new flows: " + ", ".join(f"{k} {n}" for k, n in self.new_dports.most_common(top)))
        if self.lost:
            out.append(f"  {self.lost} times the kernel dropped events (ENOBUFS): counts are low; "
                       "raise -b/--buffer-size")
        return out


def check_available(netns: str | None = None) -> None:
    """Raise the reason events cannot be read (tool missing, not root)."""
    import os
    if shutil.which("conntrack") is None:
        raise InputError("conntrack-tools is not installed ('conntrack -E' reads the events); "
                         "install the conntrack package")
    if os.geteuid() != 0 and netns is None:
        caps = _effective_caps()
        if caps is not None and not caps & (1 << 12):
            raise PrivilegeError("conntrack events (ctnetlink) need CAP_NET_ADMIN: run as root")
    if netns is not None and os.geteuid() != 0:
        raise PrivilegeError("reading another network namespace needs root ('ip netns exec')")


def _effective_caps() -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    return None


class EventReader:
    """``conntrack -E`` in the background; ``lines()`` yields (raw line, Entry or None)."""

    def __init__(self, options: list[str] | None = None, netns: str | None = None,
                 churn: Churn | None = None):
        check_available(netns)
        self.churn = churn or Churn()
        self.cmd = event_command(options, netns)
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, bufsize=1)
        self.started = time.monotonic()
        self.stderr: list[str] = []
        self._err = threading.Thread(target=self._read_stderr, daemon=True)
        self._err.start()

    def _read_stderr(self) -> None:
        for line in self.proc.stderr:
            line = line.strip()
            if "No buffer space" in line or "ENOBUFS" in line:
                self.churn.lost += 1
            elif line and "flow events have been shown" not in line:
                self.stderr.append(line)

    def lines(self):
        from ..formats.text import parse_line
        from ..errors import InputError as _IE
        for raw in self.proc.stdout:
            raw = raw.rstrip("\n")
            if not raw.strip():
                continue
            try:
                e = parse_line(raw, "conntrack -E")
            except _IE:
                self.churn.unreadable += 1
                yield raw, None
                continue
            self.churn.add(e)
            yield raw, e

    def stop(self) -> Churn:
        self.churn.seconds = time.monotonic() - self.started
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._err.join(timeout=2)
        return self.churn

    def failure(self) -> str | None:
        """Why conntrack -E stopped by itself (None while it runs or after stop())."""
        code = self.proc.poll()
        if code in (None, 0, -15):
            return None
        msg = "; ".join(self.stderr[-2:]) or f"exit {code}"
        if "ermission" in msg or "not permitted" in msg:
            msg += " (ctnetlink events need CAP_NET_ADMIN)"
        return msg


def measure_churn(seconds: float, netns: str | None = None, options: list[str] | None = None) -> "ChurnProbe":
    """Start counting events now; ``ChurnProbe.finish()`` waits until ``seconds`` passed."""
    return ChurnProbe(seconds, netns, options)


class ChurnProbe:
    def __init__(self, seconds: float, netns: str | None, options: list[str] | None):
        self.seconds = seconds
        self.error: str | None = None
        self.reader = None
        try:
            self.reader = EventReader(["-o", "timestamp", *(options or [])], netns)
        except (InputError, PrivilegeError) as exc:
            self.error = str(exc)
            return
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        for _ in self.reader.lines():
            pass

    def finish(self) -> dict:
        if self.reader is None:
            return {"source": "unavailable", "why": self.error}
        left = self.seconds - (time.monotonic() - self.reader.started)
        if left > 0:
            time.sleep(left)
        churn = self.reader.stop()
        self.thread.join(timeout=2)
        why = self.reader.failure() or ("; ".join(self.reader.stderr[-2:]) if self.reader.stderr else None)
        if why and not churn.counts:
            return {"source": "unavailable", "why": why}
        return churn.as_dict()
