"""Ahead-of-time compiled copies of numba entry points, loaded without importing numba.

Why: a command that runs one compiled function once -- ``doctor`` summarising a
262,144-entry table in ~0.15 s -- spends more on ``import numba`` (0.3-0.5 s on these
machines) and its cache load (~0.1 s) than on the work, and more than ``conntrack -L``
takes for the whole table.  numba's own AOT compiler (``numba.pycc``) turns the same
kernel into a plain extension module that needs only numpy to import.

Why numba.pycc and not a hand-written C extension: the kernel stays one source, the
numba function, which is also the fallback (JIT) wherever no copy can be built -- no C
compiler, a read-only install, ``numba.pycc`` gone from a future numba, or
``CTSCOPE_AOT=0``.  Everything here is best effort: a failure means the JIT is used.

Lifecycle of a copy (``load``):

* its name carries a hash of the kernel's sources and of the numpy version, so an edit
  or an upgrade makes a new copy (older copies of the kernel are deleted then); the
  interpreter's ABI is in the file suffix;
* it is built once, on first use, by a child process (``python -m ctscope.aot``: ~15 s,
  compiler output kept off the terminal), under a file lock so concurrent first runs
  build it once, to a temporary name then renamed (never half-written);
* a failed build leaves ``NAME.failed`` with the reason (``last_error``): later loads go
  straight to the JIT instead of paying for the attempt again, until the sources change;
* copies live beside numba's cache, in the kernel package's ``__pycache__``, else in
  the user's cache directory, or in ``CTSCOPE_AOT_DIR``; code is loaded only from
  places owned by this user or root and writable by no one else.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import sys
import sysconfig
from dataclasses import dataclass

_PKG = os.path.dirname(os.path.abspath(__file__))
BUILD_TIMEOUT = 900.0          # s; a build of the table scanner takes ~15 s here


@dataclass(frozen=True)
class Kernel:
    module: str            # importable module holding the numba dispatcher
    function: str          # the dispatcher's name in it
    signature: str         # name of a function in ``module`` returning the numba signature
    sources: tuple[str, ...]       # files (relative to the ctscope package) it is built from

    @property
    def stem(self) -> str:
        return "ctscope_aot_" + self.function.strip("_")


_ERRORS: dict[Kernel, str] = {}
_UNWRITABLE = " (no copy can be built there)"


def last_error(kernel: Kernel) -> str | None:
    """Why ``load(kernel)`` returned None (None if it did not)."""
    return _ERRORS.get(kernel)


def directories(kernel: Kernel) -> list[str]:
    """Where copies live, first choice first: ``CTSCOPE_AOT_DIR`` alone if set; else the
    kernel package's ``__pycache__`` (beside numba's cache), then the user's cache
    (``$XDG_CACHE_HOME/ctscope/aot``) for installs this user cannot write to."""
    env = os.environ.get("CTSCOPE_AOT_DIR")
    if env:
        return [env]
    rel = kernel.module.split(".")[1:-1]          # ctscope.live.scan_kernel -> live
    user = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return [os.path.join(_PKG, *rel, "__pycache__"), os.path.join(user, "ctscope", "aot")]


def _trusted(path: str) -> bool:
    """Code is loaded only from what this user or root owns and no one else can write
    (``sudo -E ctscope doctor`` must not load a .so another user planted in $HOME)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return st.st_uid in (0, os.geteuid()) and not st.st_mode & 0o022


def name(kernel: Kernel) -> str:
    """Module name of the copy matching the current sources (and numpy)."""
    import numpy
    h = hashlib.sha1(numpy.__version__.encode())
    for rel in kernel.sources:
        with open(os.path.join(_PKG, rel), "rb") as fh:
            h.update(fh.read())
    return f"{kernel.stem}_{h.hexdigest()[:16]}"


def load(kernel: Kernel):
    """The compiled function of the copy (built first if missing), or None: use the JIT."""
    _ERRORS.pop(kernel, None)
    if os.environ.get("CTSCOPE_AOT", "1").strip() == "0":
        return _fail(kernel, "turned off (CTSCOPE_AOT=0)")
    try:
        mod = name(kernel)
    except OSError as exc:
        return _fail(kernel, f"cannot read its sources: {exc}")
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    places = directories(kernel)
    found = [d for d in places if os.path.exists(os.path.join(d, mod + suffix))]
    if found:
        where = found[0]
    else:
        why = None
        for where in places:         # the first place it can be built in
            why = _failed(where, mod) or _build(kernel, where, mod, os.path.join(where, mod + suffix))
            if why is None or not why.endswith(_UNWRITABLE):
                break
        if why:
            return _fail(kernel, why)
    path = os.path.join(where, mod + suffix)
    if not (_trusted(where) and _trusted(path)):
        return _fail(kernel, f"{path} or its directory is writable by others or owned by "
                             "another user: not loaded")
    try:
        spec = importlib.util.spec_from_file_location(mod, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.run
    except (ImportError, AttributeError, OSError) as exc:
        _mark_failed(where, mod, f"cannot import {path}: {exc}")
        return _fail(kernel, f"cannot import {path}: {exc}")


def _fail(kernel: Kernel, why: str):
    _ERRORS[kernel] = why
    return None


def _failed(where: str, mod: str) -> str | None:
    try:
        with open(os.path.join(where, mod + ".failed")) as fh:
            return "an earlier build failed: " + fh.read().strip()
    except OSError:
        return None


def _mark_failed(where: str, mod: str, why: str) -> None:
    with contextlib.suppress(OSError):      # unwritable: the next run tries (and fails) again
        with open(os.path.join(where, mod + ".failed"), "w") as fh:
            fh.write(why + "\n")


def _build(kernel: Kernel, where: str, mod: str, path: str) -> str | None:
    """Build the copy in a child process; None on success, else why not."""
    import fcntl
    import glob
    import subprocess
    try:
        os.makedirs(where, mode=0o755, exist_ok=True)
    except OSError as exc:
        return f"cannot create {where}: {exc.strerror}{_UNWRITABLE}"
    if not os.access(where, os.W_OK | os.X_OK):
        return f"{where} is not writable{_UNWRITABLE}"
    with open(os.path.join(where, kernel.stem + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)          # a concurrent first run builds it once
        if os.path.exists(path):
            return None
        why = _failed(where, mod)
        if why:
            return why
        if sys.stderr is not None and sys.stderr.isatty():
            print(f"ctscope: compiling {kernel.function.strip('_')} ahead of time, once "
                  "(~15 s) ...", file=sys.stderr, flush=True)
        try:
            res = subprocess.run([sys.executable, "-m", "ctscope.aot", kernel.module, kernel.function,
                                  kernel.signature, where, mod], capture_output=True, text=True,
                                 timeout=BUILD_TIMEOUT, stdin=subprocess.DEVNULL)
            err = res.stderr.strip().splitlines()[-1:] if res.returncode else None
            if res.returncode == 0 and not os.path.exists(path):
                err = [f"the build made no {os.path.basename(path)}"]
        except (OSError, subprocess.TimeoutExpired) as exc:
            err = [str(exc)]
        if err is not None:
            why = "build failed: " + (err[0] if err else "no message")
            _mark_failed(where, mod, why)
            return why
        for old in glob.glob(os.path.join(where, kernel.stem + "_*")):
            if not os.path.basename(old).startswith(mod):
                with contextlib.suppress(OSError):      # a stale copy left behind costs disk only
                    os.remove(old)
    return None


def build(module: str, function: str, signature: str, where: str, mod: str) -> str:
    """Compile ``module.function`` with ``module.signature()`` into ``where/mod``+suffix
    (the child's side of ``_build``); returns the file written."""
    import importlib
    import shutil
    import tempfile
    import warnings
    warnings.simplefilter("ignore")           # pycc's pending-deprecation notice
    from numba.pycc import CC
    m = importlib.import_module(module)
    tmp = tempfile.mkdtemp(prefix=".build-", dir=where)
    try:
        cc = CC(mod)
        cc.output_dir = tmp
        cc.verbose = False
        cc.export("run", getattr(m, signature)())(getattr(m, function).py_func)
        cc.compile()
        made = os.path.join(tmp, mod + sysconfig.get_config_var("EXT_SUFFIX"))
        final = os.path.join(where, os.path.basename(made))
        os.replace(made, final)
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit("usage: python -m ctscope.aot MODULE FUNCTION SIGNATURE DIR NAME")
    build(*sys.argv[1:])
