"""What to export: the exporter's own namespace, named namespaces, a process's namespace.

Each ``Target`` owns one reader child (``python -m ctscope.exporter.reader``) that
lives as long as the exporter and is asked for a snapshot on every refresh.  A child
that dies, hangs past the timeout or prints garbage is ended (by its PID) and
started again on the next refresh; the error is counted, the last good snapshot
stays served (its age tells it is old).
"""
from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import time
from dataclasses import dataclass, field

from ..errors import InputError

NETNS_DIR = "/run/netns"
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass
class Target:
    """One namespace to export; ``label`` is the ``netns`` label value or None."""

    label: str | None
    enter: str | None = None            # path handed to setns, None = our own namespace
    top: int = 10
    source: str = "auto"
    timeout: float = 60.0
    snapshot: dict | None = None        # last good snapshot (+ "monotonic", "read_duration")
    reads: int = 0
    errors: int = 0
    last_error: str = ""
    up: bool = False
    _proc: subprocess.Popen | None = field(default=None, repr=False)

    # ------------------------------------------------------------ child process
    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "ctscope.exporter.reader", "--top", str(self.top),
               "--source", self.source]
        return cmd + (["--enter", self.enter] if self.enter else [])

    def _start(self) -> subprocess.Popen:
        pkg_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [pkg_root, os.environ.get("PYTHONPATH")]))}
        return subprocess.Popen(self.command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                env=env, close_fds=True)

    def stop(self) -> None:
        """End our reader child (only that PID), politely first."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if proc.stdout:
            proc.stdout.close()

    @property
    def child_pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    # ------------------------------------------------------------ one read
    def _ask(self) -> dict:
        if self._proc is None or self._proc.poll() is not None:
            self.stop()
            self._proc = self._start()
        proc = self._proc
        proc.stdin.write(b"read\n")
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], self.timeout)
        if not ready:
            raise TimeoutError(f"reader gave no answer in {self.timeout:g} s")
        line = proc.stdout.readline()
        if not line:
            code = proc.wait(timeout=5)
            raise RuntimeError(f"reader exited with status {code}" +
                               (" (setns needs CAP_SYS_ADMIN)" if self.enter and code == 3 else ""))
        doc = json.loads(line)
        if "error" in doc:
            raise RuntimeError(doc["error"])
        return doc

    def _check_namespace(self) -> None:
        """The child holds the namespace it joined: if the name is gone or now names
        another namespace (deleted, re-created), end the child so it lets go/re-joins."""
        if not self.enter:
            return
        try:
            inode = os.stat(self.enter).st_ino
        except OSError:
            self.stop()
            raise FileNotFoundError(f"{self.enter} is gone (namespace deleted, or the process exited)")
        if self.snapshot is not None and self._proc is not None and self.snapshot.get("netns_inode") != inode:
            self.stop()

    def refresh(self) -> bool:
        """Ask the child for a snapshot; keep the old one on failure.  True if read."""
        t0 = time.monotonic()
        self.reads += 1
        try:
            self._check_namespace()
            doc = self._ask()
        except (OSError, ValueError, RuntimeError, subprocess.TimeoutExpired) as exc:
            self.errors += 1
            self.up = False
            self.last_error = str(exc)
            self.stop()
            return False
        doc["monotonic"] = time.monotonic()
        doc["read_duration"] = doc["monotonic"] - t0
        self.snapshot, self.up, self.last_error = doc, True, ""
        return True


def local_target(top: int = 10, source: str = "auto") -> Target:
    return Target(label=None, top=top, source=source)


def netns_target(name: str, top: int = 10, source: str = "auto") -> Target:
    """A namespace by its ``ip netns`` name (a file under /run/netns)."""
    if not _NAME_RE.match(name) or name in (".", ".."):
        raise InputError(f"not a network namespace name: {name!r}", "--netns")
    path = os.path.join(NETNS_DIR, name)
    if not os.path.exists(path):
        raise InputError(f"no network namespace named {name!r} (see 'ip netns list')", "--netns")
    return Target(label=name, enter=path, top=top, source=source)


def pid_target(pid: int, top: int = 10, source: str = "auto") -> Target:
    """The namespace of process ``pid``; labelled ``pid:PID``.  Note that the label
    stays while the PID may be reused after that process exits."""
    path = f"/proc/{pid}/ns/net"
    if pid <= 0 or not os.path.lexists(path):
        raise InputError(f"no process {pid}", "--netns-pid")
    return Target(label=f"pid:{pid}", enter=path, top=top, source=source)
