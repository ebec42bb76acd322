"""Everything the live readers can read, as one JSON-ready dict; also the helper
process run inside another network namespace (``python -m ctscope.live.snapshot``).

Each part is optional: what could not be read is listed under ``problems`` with the
reason, and the other parts still come back.  ``collect(table_text=True, rules=True)``
is the content of a ``ctscope snapshot`` file (``KIND``/``VERSION`` mark it).
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time

from .config import scan_config
from .kmsg import kernel_log
from .module import module_state
from .slab import read_slab
from .sysctl import read_sysctls
from .tables import TABLE_PATH, read_stat, read_table

KIND, VERSION = "ctscope-snapshot", 1
COUNT_PATH = "/proc/sys/net/netfilter/nf_conntrack_count"


def collect(table: bool = True, log: bool = True, config: bool = True, top: int = 10,
            table_text: bool = False, rules: bool = False, kube: bool = True) -> dict:
    """Read this process's network namespace (and the host-wide files).

    ``table_text``: also the raw /proc/net/nf_conntrack text (``"table_text"``);
    ``rules``: the ruleset dumps (``"rules"``)."""
    out: dict = {"kind": KIND, "version": VERSION, "time": time.time(),
                 "hostname": socket.gethostname(), "kernel": os.uname().release,
                 "netns_inode": _netns_inode()}
    sysctls = read_sysctls()
    out["sysctl"] = sysctls.as_dict()
    stat, problems = read_stat()
    out["stat"] = None if stat is None else {"entries": stat.entries, "totals": stat.totals(),
                                             "cpus": len(stat.cpus)}
    out["stat_problems"] = [p.as_dict() for p in problems]
    if table:
        reading = read_table(TABLE_PATH, count=sysctls.count, top=top, keep_text=table_text,
                             count_path=COUNT_PATH)
        out["table"] = reading.as_dict()
        if table_text and reading.text is not None:
            out["table_text"] = reading.text.decode("utf-8", "replace")
    if log:
        out["kernel_log"] = kernel_log().as_dict()
    out["slab"] = read_slab().as_dict()
    out["module"] = module_state().as_dict()
    if config:
        out["config"] = scan_config().as_dict()
    if rules:
        from .ruleset import read_rules
        out["rules"] = read_rules()
    if kube:
        from .kube import find_kube_proxy
        out["kube_proxy"] = find_kube_proxy().as_dict()
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
    p.add_argument("--table-text", action="store_true", help="include the raw table")
    p.add_argument("--rules", action="store_true", help="include the ruleset dumps")
    a = p.parse_args(argv)
    json.dump(collect(table=not a.no_table, log=not a.no_log, top=a.top, table_text=a.table_text,
                      rules=a.rules), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
