"""The sans-I/O nf_conntrack model.

Start with ``tracker.Tracker`` (the Python API) and ``core.py`` (the per-packet path and
its theory of operation); ``layout.py`` holds the table layout and constants,
``settings.py`` the sysctls, ``table.py`` hashing/early drop/GC, and one module per
protocol: ``tcp``, ``udp``, ``icmp``, ``sctp``, ``generic`` (generic and GRE).
"""
import os as _os

from .._numba_cache import refresh as _refresh

_HERE = _os.path.dirname(_os.path.abspath(__file__))
# the engine bakes constants from packets/record.py into its compiled code
_refresh(_HERE, (_os.path.join(_os.path.dirname(_HERE), "packets", "record.py"),
                 _os.path.join(_os.path.dirname(_HERE), "jit.py")))
