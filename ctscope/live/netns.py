"""Read another named network namespace (``--netns NAME``).

Choice: a helper subprocess, ``ip netns exec NAME python -m ctscope.live.snapshot``,
rather than ``setns()`` in a thread.  Reasons: /proc/net is a link to the *process's*
(thread-group leader's) netns, so a thread that called setns() must use
/proc/thread-self/net and can never use helpers that open /proc/net; /proc/sys/net is
resolved at open time per thread, an easy source of silent mix-ups; ``ip netns exec``
also remounts /sys for the namespace and applies /etc/netns/NAME; and a crash or hang
in the helper cannot leave this process in the wrong namespace.  The helper only reads
(same readers as the local snapshot) and prints JSON.  Needs root, like ``ip netns exec``.
A helper still reading when this process exits (Ctrl-C in ``top`` during a reading
of a big table) is killed at exit, not left to run to its timeout.
"""
from __future__ import annotations

import atexit
import json
import os
import re
import subprocess
import sys
import threading

from ..errors import InputError, PrivilegeError

_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _helper_env(name: str) -> dict:
    """Check that ``name`` is a named netns we may enter; the environment in which a
    child ``python -m ctscope...`` finds this very package."""
    if not _NAME_RE.match(name) or name in (".", ".."):
        raise InputError(f"not a network namespace name: {name!r}", "--netns")
    if not os.path.exists(f"/run/netns/{name}"):
        raise InputError(f"no network namespace named {name!r} (see 'ip netns list')", "--netns")
    if os.geteuid() != 0:
        raise PrivilegeError("reading another network namespace needs root ('ip netns exec')", "--netns")
    pkg_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [pkg_root, os.environ.get("PYTHONPATH")]))}


def helper_command(name: str, args: list[str] | None = None) -> list[str]:
    return ["ip", "netns", "exec", name, sys.executable, "-m", "ctscope.live.snapshot", *(args or [])]


_helpers: set = set()             # helper processes still running
_helpers_lock = threading.Lock()


@atexit.register
def _kill_helpers() -> None:
    with _helpers_lock:
        alive = [p for p in _helpers if p.poll() is None]
    for p in alive:
        p.kill()          # ``ip netns exec`` execs python: this PID is the helper itself


def _run_helper(cmd: list[str], env: dict, timeout: float) -> tuple[int, str, str]:
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    with _helpers_lock:
        _helpers.add(p)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise
    finally:
        with _helpers_lock:
            _helpers.discard(p)
    return p.returncode, out, err


def read_netns(name: str, args: list[str] | None = None, timeout: float = 120) -> dict:
    """The snapshot of netns ``name`` (``ip netns list`` names)."""
    env = _helper_env(name)
    try:
        rc, out, err = _run_helper(helper_command(name, args), env, timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(f"helper failed: {exc}", "--netns") from None
    if rc != 0:
        raise InputError(f"helper failed: {err.strip()[-300:]}", "--netns")
    try:
        return json.loads(out)
    except ValueError:
        raise InputError("helper printed no JSON", "--netns") from None


def strip_netns(argv: list[str]) -> list[str]:
    """``argv`` without its ``--netns NAME`` / ``--netns=NAME``."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--netns":
            skip = True
        elif not a.startswith("--netns="):
            out.append(a)
    return out


def run_in_netns(name: str, ctscope_args: list[str]) -> int:
    """Run ``ctscope ARGS`` inside netns ``name`` (output passed through); its exit code.
    Used by commands that stream (list, top's reader): the same read-only code runs
    there, so there is one code path for the current and a named namespace."""
    env = _helper_env(name)
    cmd = ["ip", "netns", "exec", name, sys.executable, "-m", "ctscope", *ctscope_args]
    return subprocess.run(cmd, env=env).returncode
