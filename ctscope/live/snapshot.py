"""Everything the live readers can read, as one JSON-ready dict; also the helper
process run inside another network namespace (``python -m ctscope.live.snapshot``).

Each part is optional: what could not be read is listed under ``problems`` with the
reason, and the other parts still come back.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from .config import scan_config
from .kmsg import kernel_log
from .module import module_state
from .slab import read_slab
from .sysctl import read_sysctls
from .tables import read_stat, read_table


def collect(table: bool = True, log: bool = True, config: bool = True, top: int = 10) -> dict:
    """Read this process's network namespace (and the host-wide files)."""
    out: dict = {"netns_inode": _netns_inode()}
    sysctls = read_sysctls()
    out["sysctl"] = sysctls.as_dict()
    stat, problems = read_stat()
    out["stat"] = None if stat is None else {"entries": stat.entries, "totals": stat.totals(),
                                             "cpus": len(stat.cpus)}
    out["stat_problems"] = [p.as_dict() for p in problems]
    if table:
        out["table"] = read_table(count=sysctls.count, top=top).as_dict()
    if log:
        out["kernel_log"] = kernel_log().as_dict()
    out["slab"] = read_slab().as_dict()
    out["module"] = module_state().as_dict()
    if config:
        out["config"] = scan_config().as_dict()
    return out


def _netns_inode() -> int | None:
    try:
        return os.stat("/proc/thread-self/ns/net").st_ino
    except OSError:
        return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ctscope.live.snapshot",
                                description="read-only snapshot of this netns's conntrack state, as JSON")
    p.add_argument("--no-table", action="store_true")
    p.add_argument("--no-log", action="store_true")
    p.add_argument("--top", type=int, default=10)
    a = p.parse_args(argv)
    json.dump(collect(table=not a.no_table, log=not a.no_log, top=a.top), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
