"""Network-namespace primitives: create/delete ``ctsc-`` namespaces, enter one for
the current thread, read/write its sysctls, run a tool inside it, sweep leftovers.

Safety rules enforced here:

* only names starting with ``ctsc-`` are ever created or deleted;
* ``entered()`` switches only the calling thread, checks the namespace inode after
  each ``setns`` and always switches back;
* sysctls are written with absolute ``/proc/sys`` paths, only while the thread is
  verifiably in a namespace this module created (never the one we started in),
  and never the global ``nf_conntrack_max``/``buckets``/``expect_max``.
"""
from __future__ import annotations

import ctypes
import os
import re
import subprocess
import threading
import time
from contextlib import contextmanager

from ..errors import PrivilegeError

PREFIX = "ctsc-"
NETNS_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000
GLOBAL_SYSCTLS = ("nf_conntrack_max", "nf_conntrack_buckets", "nf_conntrack_expect_max")
_NAME = re.compile(r"^ctsc-(\d+)-[A-Za-z0-9_-]+$")

_libc = ctypes.CDLL(None, use_errno=True)
HOME_INODE = os.stat("/proc/self/ns/net").st_ino   # the namespace this process started in
_created: set[str] = set()                          # namespaces this process created
_lock = threading.Lock()


def _ns_inode_here() -> int:
    return os.stat("/proc/thread-self/ns/net").st_ino


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"setns: {os.strerror(e)}")


def check_name(name: str) -> None:
    if not _NAME.match(name):
        raise ValueError(f"refusing namespace name {name!r}: must look like ctsc-<pid>-<tag>")


def ns_path(name: str) -> str:
    check_name(name)
    return os.path.join(NETNS_DIR, name)


def ns_inode(name: str) -> int:
    return os.stat(ns_path(name)).st_ino


def run(args: list[str], input: str | None = None, timeout: float = 30.0, check: bool = True) -> str:
    """Run a command (never through a shell); raise RuntimeError with its stderr."""
    r = subprocess.run(args, input=input, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode:
        raise RuntimeError(f"{' '.join(args[:6])}: {r.stderr.strip() or r.stdout.strip()}")
    return r.stdout


def ns_exec(name: str, args: list[str], **kw) -> str:
    """Run a tool inside namespace ``name`` (``ip netns exec``)."""
    return run(["ip", "netns", "exec", ns_path(name).rsplit("/", 1)[1], *args], **kw)


def create(name: str) -> None:
    """Create namespace ``name`` (must carry our prefix and not exist yet)."""
    check_name(name)
    if os.geteuid() != 0:
        raise PrivilegeError("network namespaces need root")
    with _lock:
        _created.add(name)
    run(["ip", "netns", "add", name])
    if ns_inode(name) == HOME_INODE:
        raise RuntimeError(f"{name} resolves to our own namespace")


def delete(name: str) -> bool:
    """Delete namespace ``name`` if it exists; True if it was there."""
    check_name(name)
    with _lock:
        _created.discard(name)
    if not os.path.exists(os.path.join(NETNS_DIR, name)):
        return False
    run(["ip", "netns", "del", name], check=False)
    return True


def exists(name: str) -> bool:
    return os.path.exists(os.path.join(NETNS_DIR, name))


def list_ours() -> list[str]:
    """All namespaces with our prefix (any owner)."""
    try:
        return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(PREFIX))
    except FileNotFoundError:
        return []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_leftovers(include_live: bool = False) -> list[str]:
    """Delete ``ctsc-<pid>-*`` namespaces whose owner process is gone (or all of ours
    with ``include_live``, which may break another harness running right now).
    Names without our prefix are never touched.  Returns the deleted names."""
    gone = []
    for n in list_ours():
        m = _NAME.match(n)
        if not m:
            continue
        pid = int(m.group(1))
        if include_live or (pid != os.getpid() and not _alive(pid)):
            if delete(n):
                gone.append(n)
    return gone


@contextmanager
def entered(name: str):
    """Run the body with the *calling thread* inside namespace ``name``."""
    target = ns_path(name)
    want = os.stat(target).st_ino
    if want == HOME_INODE:
        raise RuntimeError(f"{name} is our own namespace")
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    home_ino = os.fstat(home).st_ino
    fd = os.open(target, os.O_RDONLY)
    try:
        _setns(fd)
        if _ns_inode_here() != want:
            raise RuntimeError(f"setns to {name} did not take effect")
        yield
    finally:
        os.close(fd)
        _setns(home)
        os.close(home)
        if _ns_inode_here() != home_ino:
            raise RuntimeError("could not return to the original network namespace")


def _sysctl_path(key: str) -> str:
    key = key[len("net.netfilter."):] if key.startswith("net.netfilter.") else key
    if key.startswith("nf_"):
        key = "net.netfilter." + key
    # sysctl(8) syntax: dots separate levels; our interface names contain no dots
    return "/proc/sys/" + key.replace(".", "/")


def write_sysctl(name: str, key: str, value) -> None:
    """Write one sysctl of namespace ``name`` (per-netns keys only)."""
    path = _sysctl_path(key)
    if os.path.basename(path) in GLOBAL_SYSCTLS:
        raise PermissionError(f"refusing to write the global {os.path.basename(path)}")
    if name not in _created:
        raise PermissionError(f"refusing to write sysctls of {name}: not created by this process")
    with entered(name):
        if _ns_inode_here() in (HOME_INODE,):
            raise RuntimeError("not inside the target namespace")
        with open(path, "w") as f:
            f.write(f"{value}\n")


def read_sysctl(name: str, key: str) -> str:
    with entered(name):
        with open(_sysctl_path(key)) as f:
            return f.read().strip()


def read_file(name: str, path: str) -> str:
    """Read a per-netns file (use ``/proc/thread-self/net/...`` paths) inside ``name``."""
    if not path.startswith("/"):
        raise ValueError("absolute paths only")
    with entered(name):
        with open(path) as f:
            return f.read()


def wait_gone(names, timeout: float = 5.0) -> bool:
    """Wait (bounded) until the given namespace names are no longer mounted."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(exists(n) for n in names):
            return True
        time.sleep(0.02)
    return False


def created_here() -> list[str]:
    with _lock:
        return sorted(_created)
