"""Keep numba's on-disk cache consistent with the sources.

numba's ``cache=True`` revalidates an entry against the timestamp of the file that
defines the function only; a compiled caller keeps the old body of a helper it inlined
from another module (seen: a stale checksum helper inside ``decode_l3``).  ``refresh``
hashes every source a package's compiled code depends on and drops the package's cache
files when the hash changes.  Best effort: read-only trees and NUMBA_CACHE_DIR set
elsewhere are left alone.
"""
import glob as _glob
import hashlib as _hashlib
import os as _os


def refresh(directory: str, extra: tuple = ()) -> bool:
    """Drop ``directory``'s numba cache if its *.py (or ``extra`` files) changed.
    Returns True if the cache was dropped."""
    if _os.environ.get("NUMBA_CACHE_DIR"):
        return False
    h = _hashlib.sha1()
    for path in sorted(_glob.glob(_os.path.join(directory, "*.py"))) + list(extra):
        try:
            with open(path, "rb") as fh:
                h.update(fh.read())
        except OSError:
            pass
    digest = h.hexdigest()
    cache = _os.path.join(directory, "__pycache__")
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
