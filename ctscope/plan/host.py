"""``plan --from-host``: this host's settings and ruleset, read only.

Reads ``/proc/sys/net/netfilter/*`` (and MemTotal) into ``Settings``, the ruleset with
``nft list ruleset`` and ``iptables-save`` / ``ip6tables-save`` into files the rules
package loads, and how nf_conntrack is present (module or built in).  Nothing is
written to the host: the dumps go to a private temporary directory.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field

from ..engine.settings import MODELLED, Settings, host_ram


@dataclass
class HostView:
    settings: Settings
    rule_paths4: list = field(default_factory=list)
    rule_paths6: list = field(default_factory=list)
    conntrack: str = "unknown"          # module, builtin, absent
    cpus: int = 1
    notes: list = field(default_factory=list)
    tmpdir: str | None = None

    def close(self) -> None:
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)


def conntrack_presence(proc_modules: str = "/proc/modules", sys_module: str = "/sys/module/nf_conntrack") -> str:
    """'module' if nf_conntrack is a loaded module, 'builtin' if present but not a module,
    'absent' otherwise (not loaded: it would be loaded as a module on most distributions)."""
    try:
        with open(proc_modules) as fh:
            if any(line.split(" ", 1)[0] == "nf_conntrack" for line in fh):
                return "module"
    except OSError:
        pass
    return "builtin" if os.path.isdir(sys_module) else "absent"


def _dump(cmd: list[str]) -> str | None:
    if shutil.which(cmd[0]) is None:
        return None
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout if r.returncode == 0 else None


def read_host(seed: int = 0) -> HostView:
    from ..live.sysctl import read_sysctls

    reading = read_sysctls()
    s = Settings(ram=host_ram(), seed=seed)
    for name, value in reading.values.items():
        if name in MODELLED and isinstance(value, int):
            s.set(name, str(value), f"/proc/sys/net/netfilter/{name}")
    view = HostView(settings=s, conntrack=conntrack_presence(), cpus=os.cpu_count() or 1)
    if "nf_conntrack_max" not in reading.values:
        view.notes.append("nf_conntrack is not loaded: the kernel defaults for this RAM are assumed")
    view.tmpdir = tempfile.mkdtemp(prefix="ctscope-host-")
    from ..errors import InputError
    from ..rules import load_rules

    for cmd, fname, six in ((["nft", "list", "ruleset"], "ruleset.nft", False),
                            (["iptables-save"], "iptables.rules", False),
                            (["ip6tables-save"], "ip6tables.rules", True)):
        text = _dump(cmd)
        if not text or not text.strip():
            continue
        path = os.path.join(view.tmpdir, fname)
        with open(path, "w") as fh:
            fh.write(text)
        try:          # keep only the dumps the rules package can read
            load_rules([] if six else [path], [path] if six else [])
        except InputError as exc:
            view.notes.append(f"'{' '.join(cmd)}' output not used: {exc}")
            continue
        (view.rule_paths6 if six else view.rule_paths4).append(path)
    return view
