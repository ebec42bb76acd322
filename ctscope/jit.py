"""Decorators for compiled hot-path code (the decoder and the engine).

``hot`` is ``numba.njit(cache=True, _nrt=False)``: compiled, cached on disk, and without
numba's reference-counting runtime.  With it, every array passed to a compiled call costs
two atomic reference-count updates; the decoder and the engine make several such calls per
packet, and that was most of their time (measured on the 1M benchmark capture: engine
304 -> 92 ns/packet, decoder 455 -> ~200 ns/packet).  The price is that hot code cannot
allocate arrays -- numba refuses to compile one that does -- and the per-packet path never
needs to: the Python side owns and grows every array.

``hot_inline`` also inlines the function into its callers at numba's IR level, for the
tiny helpers called per packet (byte loads, flag updates, dispatch).
Both run as plain Python with NUMBA_DISABLE_JIT=1.
"""
from numba import njit
from numba.core import config as _config

hot = njit(cache=True, _nrt=False)
hot_inline = njit(cache=True, _nrt=False, inline="always")

# with NUMBA_DISABLE_JIT=1 the hot code runs as Python, where only np.recarray elements
# allow the attribute access (``r.ts``) that compiled code uses on structured arrays
NO_JIT = bool(_config.DISABLE_JIT)
