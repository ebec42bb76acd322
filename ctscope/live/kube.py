"""kube-proxy's conntrack settings, where kube-proxy runs on this host (read only).

kube-proxy writes ``nf_conntrack_max = max(maxPerCore x CPUs, min)`` at every start
(only ever raising it), overriding /etc/sysctl.d (ecosystem.md §6.4).  Flags
``--conntrack-max-per-core`` / ``--conntrack-min`` or the KubeProxyConfiguration
file (``--config``: ``conntrack: {maxPerCore, min}``); ``maxPerCore: 0`` = leave as is.
Defaults: 32768 per core, minimum 131072.
"""
from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field

DEFAULT_PER_CORE, DEFAULT_MIN = 32768, 131072
_YAML = {"maxPerCore": "max_per_core", "min": "min"}


@dataclass
class KubeProxy:
    found: bool = False
    pid: int | None = None
    source: str = ""
    max_per_core: int | None = None
    min: int | None = None
    implied_max: int | None = None      # what kube-proxy writes at its next start
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _flags(argv: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for i, a in enumerate(argv):
        if a.startswith("--"):
            k, sep, v = a[2:].partition("=")
            if not sep and i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                v = argv[i + 1]
            out[k] = v
    return out


def parse_config(text: str) -> dict[str, int]:
    """``maxPerCore`` / ``min`` of a KubeProxyConfiguration's conntrack section."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        m = re.match(r"^\s*(maxPerCore|min)\s*:\s*(\d+)\s*$", line)
        if m:
            out[_YAML[m.group(1)]] = int(m.group(2))
    return out


def find_kube_proxy(proc: str = "/proc", cpus: int | None = None) -> KubeProxy:
    kp = KubeProxy()
    try:
        pids = [p for p in os.listdir(proc) if p.isdigit()]
    except OSError as exc:
        kp.problems.append(f"{proc}: {exc.strerror}")
        return kp
    for pid in pids:
        try:
            with open(os.path.join(proc, pid, "cmdline"), "rb") as fh:
                argv = [a.decode("utf-8", "replace") for a in fh.read().split(b"\0") if a]
        except OSError:
            continue
        if not argv or os.path.basename(argv[0]) != "kube-proxy":
            continue
        kp.found, kp.pid, kp.source = True, int(pid), "command line"
        flags = _flags(argv[1:])
        if flags.get("config"):
            try:
                with open(flags["config"]) as fh:
                    for k, v in parse_config(fh.read()).items():
                        setattr(kp, k, v)
                kp.source = flags["config"]
            except OSError as exc:
                kp.problems.append(f"{flags['config']}: {exc.strerror} (a path inside its container?)")
        for flag, attr in (("conntrack-max-per-core", "max_per_core"), ("conntrack-min", "min")):
            if flags.get(flag, "").isdigit():
                setattr(kp, attr, int(flags[flag]))
        break
    if kp.found:
        per = DEFAULT_PER_CORE if kp.max_per_core is None else kp.max_per_core
        low = DEFAULT_MIN if kp.min is None else kp.min
        kp.implied_max = max(per * (cpus or os.cpu_count() or 1), low) if per else None
    return kp
