"""Packet input: capture files -> ``PKT_DTYPE`` batches (see ``record.py``).

Public API:

* ``source.open_capture(path, batch_size=65536, local_nets=None, settings=None,
  path_model=True) -> Capture`` -- iterate it for batches; ``interfaces``,
  ``linktypes``, ``bytes_total``, ``bytes_read``, ``summary``;
* ``source.decode_packets(frames, linktype=1, ...)`` -- in-memory frames, same pipeline;
* ``path.apply_path(batch, local_nets=None)`` -- the router / host path model;
* ``defrag.Defragmenter`` -- IPv4/IPv6 reassembly (used by the iterator);
* ``pcapwrite`` -- tiny pcap / pcapng writer and packet builders.

Modules: ``scan`` (pcap/pcapng record walkers + link layers, numba), ``decode`` (IP and
L4, numba), ``checksum`` (RFC 1071 sum, CRC32c, numba).
"""

import glob as _glob
import hashlib as _hashlib
import os as _os


def refresh_numba_cache(directory: str | None = None) -> bool:
    """Drop this package's numba cache files when any of its sources changed.

    numba's ``cache=True`` revalidates an entry against the timestamp of the file that
    defines the function only; a compiled ``decode_l3`` keeps the old body of a helper
    it inlined from another module.  The stamp hashes all sources of the package, so an
    edit anywhere here invalidates every entry.  Returns True if the cache was dropped.
    Best effort: read-only trees and NUMBA_CACHE_DIR set elsewhere are left alone.
    """
    here = directory or _os.path.dirname(_os.path.abspath(__file__))
    h = _hashlib.sha1()
    for path in sorted(_glob.glob(_os.path.join(here, "*.py"))):
        with open(path, "rb") as fh:
            h.update(fh.read())
    digest = h.hexdigest()
    cache = _os.path.join(here, "__pycache__")
    stamp = _os.path.join(cache, "numba-sources.sha1")
    try:
        with open(stamp) as fh:
            if fh.read().strip() == digest:
                return False
    except OSError:
        pass
    for f in _glob.glob(_os.path.join(cache, "*.nb[ic]")):
        try:
            _os.remove(f)
        except OSError:
            pass
    try:
        _os.makedirs(cache, exist_ok=True)
        with open(stamp, "w") as fh:
            fh.write(digest)
    except OSError:
        pass
    return True


if not _os.environ.get("NUMBA_CACHE_DIR"):
    refresh_numba_cache()
