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

import os as _os

from .._numba_cache import refresh as _refresh


def refresh_numba_cache(directory: str | None = None) -> bool:
    """Drop this package's numba cache files when any of its sources changed."""
    here = _os.path.dirname(_os.path.abspath(__file__))
    return _refresh(directory or here, (_os.path.join(_os.path.dirname(here), "jit.py"),))


refresh_numba_cache()
