"""The reader child: reads one network namespace and answers with a JSON snapshot.

    python -m ctscope.exporter.reader [--enter /run/netns/NAME | /proc/PID/ns/net]
                                      [--top N] [--source auto|proc|ctnetlink]

It reads a line from stdin, answers with one JSON line on stdout, and repeats until
stdin closes.  With ``--enter`` it first joins that network namespace with
``setns(CLONE_NEWNET)`` (needs CAP_SYS_ADMIN) and checks the namespace inode.  The
child is single-threaded, and every per-namespace file is opened through
``/proc/thread-self/net`` anyway, so nothing can be read from the wrong namespace.

Sources (kernel-conntrack.md §3.4, §8.1, §8.3):

* ``/proc/sys/net/netfilter/nf_conntrack_{count,max,buckets}`` -- world readable;
* ``/proc/net/stat/nf_conntrack`` -- world readable, absent without
  CONFIG_NF_CONNTRACK_PROCFS; fallback ``conntrack -S`` (ctnetlink, CAP_NET_ADMIN);
* ``/proc/net/nf_conntrack`` -- mode 0440 root; fallback ``conntrack -L`` (CAP_NET_ADMIN);
* the ``nf_conntrack`` slab object size, for the memory estimate.

What cannot be read is listed under ``missing`` with the reason and the metrics it
costs; the rest is still returned.  Only reads: nothing is written anywhere.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import time

from ..errors import InputError
from ..formats.stats import parse_conntrack_s
from ..formats.summary import summarize
from ..live.base import read_text, why
from ..live.slab import read_slab
from ..live.tables import read_stat

PROC_NET = "/proc/thread-self/net"
SYSCTL_DIR = "/proc/sys/net/netfilter"
CLONE_NEWNET = 0x40000000
SOURCES = ("auto", "proc", "ctnetlink")

TABLE_METRICS = ("ctscope_nf_conntrack_listed_entries, ctscope_nf_conntrack_entries_by_protocol, "
                 "ctscope_nf_conntrack_entries_by_state, ctscope_nf_conntrack_assured_entries, "
                 "ctscope_nf_conntrack_unreplied_entries, ctscope_nf_conntrack_top_*")
STAT_METRICS = "node_nf_conntrack_stat_*, ctscope_nf_conntrack_stat_*_total"


def netns_inode() -> int | None:
    try:
        return os.stat("/proc/thread-self/ns/net").st_ino
    except OSError:
        return None


def enter(path: str) -> int:
    """Join the network namespace of ``path`` (a /run/netns file or /proc/PID/ns/net)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        want = os.fstat(fd).st_ino
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({path}): {os.strerror(err)} (needs CAP_SYS_ADMIN)")
    finally:
        os.close(fd)
    if netns_inode() != want:
        raise OSError(0, f"setns({path}) did not switch the namespace")
    return want


def _missing(what: str, reason: str, metrics: str) -> dict:
    return {"source": what, "reason": reason, "metrics": metrics}


def _read_int(name: str, missing: list) -> int | None:
    path = f"{SYSCTL_DIR}/{name}"
    problems: list = []
    text = read_text(path, problems)
    if text is None or not text.strip().isdigit():
        reason = problems[0].why if problems else "not a number"
        missing.append(_missing(path, reason, f"(value of {name})"))
        return None
    return int(text.strip())


def _conntrack(args: list[str], timeout: float = 120) -> str:
    """stdout of ``conntrack ARGS`` (ctnetlink; needs CAP_NET_ADMIN); raises OSError."""
    exe = shutil.which("conntrack")
    if exe is None:
        raise OSError(2, "the conntrack tool is not installed")
    out = subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise OSError(1, out.stderr.strip().splitlines()[-1] if out.stderr.strip() else
                      f"conntrack exited {out.returncode}")
    return out.stdout


def read_stats(source: str, missing: list) -> tuple[dict | None, str]:
    """Statistics summed over CPUs (conntrack -S names) and where they came from."""
    path = f"{PROC_NET}/stat/nf_conntrack"
    reasons = []
    if source != "ctnetlink":
        table, problems = read_stat(path)
        if table is not None:
            return table.totals(), path
        reasons += [p.why for p in problems]
    if source != "proc":
        try:
            return parse_conntrack_s(_conntrack(["-S"]).splitlines()).totals(), "conntrack -S"
        except (OSError, subprocess.TimeoutExpired, InputError) as exc:
            reasons.append(f"conntrack -S: {exc}")
    missing.append(_missing(path if source != "ctnetlink" else "conntrack -S", "; ".join(reasons),
                            STAT_METRICS))
    return None, ""


def _table_bytes(source: str, reasons: list) -> tuple[bytes | None, str, str]:
    path = f"{PROC_NET}/nf_conntrack"
    if source != "ctnetlink":
        try:
            with open(path, "rb") as fh:
                return fh.read(), "proc", path
        except OSError as exc:
            reasons.append(why(exc))
    if source != "proc":
        try:
            text = "".join(_conntrack(["-L", "-o", "extended", "-f", fam]) for fam in ("ipv4", "ipv6"))
            return text.encode(), "extended", "conntrack -L"
        except (OSError, subprocess.TimeoutExpired) as exc:
            reasons.append(f"conntrack -L: {exc}")
    return None, "", path


def read_table(source: str, top: int, missing: list) -> dict | None:
    """Counts by protocol/state/flag and the top-N talkers of the table, or None."""
    reasons: list[str] = []
    data, fmt, where = _table_bytes(source, reasons)
    if data is None:
        missing.append(_missing(where if source != "ctnetlink" else "conntrack -L",
                                "; ".join(reasons), TABLE_METRICS))
        return None
    try:
        s = summarize(data, top=top, fmt=fmt) if data else summarize(b"", top=top, fmt="empty")
    except InputError as exc:
        missing.append(_missing(where, f"unreadable line: {exc}", TABLE_METRICS))
        return None
    d = s.as_dict()
    d.pop("top_pairs", None)
    d.pop("unique", None)
    d["source"] = where
    return d


def snapshot(top: int = 10, source: str = "auto") -> dict:
    """Everything the exporter needs about this thread's network namespace."""
    t0 = time.monotonic()
    missing: list[dict] = []
    out: dict = {"netns_inode": netns_inode(), "source": source}
    for key in ("count", "max", "buckets"):
        out[key] = _read_int(f"nf_conntrack_{key}", missing)
    out["stat"], out["stat_source"] = read_stats(source, missing)
    out["table"] = read_table(source, top, missing)
    slab = read_slab()
    out["slab_objsize"] = slab.objsize
    if slab.objsize is None:
        missing.append(_missing("/proc/slabinfo", "; ".join(p.why for p in slab.problems) or "no line",
                                "ctscope_nf_conntrack_memory_estimate_bytes (320 B/entry assumed)"))
    out["missing"] = missing
    out["read_seconds"] = time.monotonic() - t0
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ctscope.exporter.reader",
                                description="answer each stdin line with a JSON conntrack snapshot")
    p.add_argument("--enter", metavar="PATH", help="/run/netns/NAME or /proc/PID/ns/net to join first")
    p.add_argument("--top", type=int, default=10)
    p.add_argument("--source", choices=SOURCES, default="auto")
    a = p.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the parent's; EOF on stdin ends us
    if a.enter:
        try:
            enter(a.enter)
        except OSError as exc:
            print(f"ctscope exporter reader: {exc.strerror or exc}", file=sys.stderr)
            return 3
    try:
        os.nice(5)          # a table read must not compete with scrapes
    except OSError:
        pass
    for line in sys.stdin:
        if line.strip() == "quit":
            break
        try:
            snap = snapshot(a.top, a.source)
        except Exception as exc:       # report, keep serving the next request
            snap = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(snap) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
