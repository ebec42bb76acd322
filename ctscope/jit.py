"""Decorators for compiled hot-path code (the decoder and the engine).

``hot`` is ``numba.njit(cache=True, _nrt=False)``: compiled, cached on disk, and without
numba's reference-counting runtime.  With it, every array passed to a compiled call costs
two atomic reference-count updates; the decoder and the engine make several such calls per
packet, and that was most of their time (measured on the 1M benchmark capture: engine
304 -> 92 ns/packet, decoder 455 -> ~200 ns/packet).  The price is that hot code cannot
allocate arrays -- numba refuses to compile one that does -- and the per-packet path never
needs to: the Python side owns and grows every array.

``nogil``: compiled calls release the GIL, so the capture can be decoded in a worker
thread while the main thread runs the engine on the previous batch
(``packets.prefetch``).

``hot_inline`` also inlines the function into its callers at numba's IR level, for the
tiny helpers called per packet (byte loads, flag updates, dispatch).
Both run as plain Python with NUMBA_DISABLE_JIT=1.

Loading from the on-disk cache, fast (``_fast_cache_load``): numba's
``Cache.load_overload`` first calls ``target_context.refresh()``, which imports and
installs every implementation registry numba has (linalg, random, typed containers,
unicode...: 0.37 s here, a third of a warm 1,000-packet replay).  Those registries are
needed to *compile*, and numba's compiler refreshes the contexts itself before it
compiles (numba/core/compiler.py, ``compile_extra``); cached machine code needs only
numba's runtime to be initialised (``rtsys.initialize``, 0.04 s).  So a cache load does
just that.  The shortcut is applied only when numba's ``Cache`` has the shape it was
written against (checked below) and can be turned off with
``CTSCOPE_NUMBA_FULL_REFRESH=1``; the whole test suite runs with it on.
"""
import os as _os

from numba import njit
from numba.core import config as _config

hot = njit(cache=True, _nrt=False, nogil=True)
hot_inline = njit(cache=True, _nrt=False, nogil=True, inline="always")

# with NUMBA_DISABLE_JIT=1 the hot code runs as Python, where only np.recarray elements
# allow the attribute access (``r.ts``) that compiled code uses on structured arrays
NO_JIT = bool(_config.DISABLE_JIT)


def _fast_cache_load() -> bool:
    """Make numba cache loads skip the registry refresh (see the module docstring)."""
    if _os.environ.get("CTSCOPE_NUMBA_FULL_REFRESH") == "1" or _config.DISABLE_JIT:
        return False
    try:
        from numba.core.caching import Cache
        from numba.core.runtime import rtsys
    except ImportError:
        return False
    if not all(hasattr(Cache, a) for a in ("load_overload", "_load_overload",
                                           "_guard_against_spurious_io_errors")):
        return False

    def load_overload(self, sig, target_context):
        rtsys.initialize(target_context)        # what cached code needs of the refresh
        with self._guard_against_spurious_io_errors():
            return self._load_overload(sig, target_context)

    Cache.load_overload = load_overload
    return True


FAST_CACHE_LOAD = _fast_cache_load()
