"""Read-only readers of a live host's conntrack state.

Nothing here writes: no sysctl, no rule, no ``conntrack -D/-F``.  Every reader is
optional and returns what it could not read and why (``Problem``) instead of raising.

* ``sysctl.read_sysctls``: /proc/sys/net/netfilter/* (count, max, buckets ...);
* ``tables.read_stat`` / ``tables.read_table``: /proc/net/stat/nf_conntrack, /proc/net/nf_conntrack;
* ``kmsg.kernel_log``: table-full and 'callbacks suppressed' lines (/dev/kmsg or dmesg);
* ``slab.read_slab``: nf_conntrack slab objects; ``module.module_state``: module or built in;
* ``config.scan_config``: sysctl.d, modprobe.d, modules-load.d;
* ``snapshot.collect``: all of the above; ``netns.read_netns``: the same for a named netns.
"""

import os as _os

from .._numba_cache import refresh as _refresh

_HERE = _os.path.dirname(_os.path.abspath(__file__))
# scan_kernel.py is compiled (numba, on-disk cache): drop the cache when the sources change
# (its ahead-of-time copy is named by a hash of its sources: ctscope.aot)
_refresh(_HERE, (_os.path.join(_os.path.dirname(_HERE), "jit.py"),))
