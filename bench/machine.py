"""The machine a result came from."""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
from importlib import metadata


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram() -> str:
    try:
        with open("/proc/meminfo") as fh:
            kb = int(fh.readline().split()[1])
        return f"{kb / 1024 ** 2:.1f} GiB"
    except (OSError, ValueError, IndexError):
        return "unknown"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe() -> dict:
    tshark = "not installed"
    if shutil.which("tshark"):
        first = subprocess.run(["tshark", "--version"], capture_output=True, text=True).stdout
        tshark = first.splitlines()[0] if first else "installed"
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram": _ram(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "numba": _version("numba"),
        "dpkt": _version("dpkt"),
        "nfstream": _version("nfstream"),
        "tshark": tshark,
        "load": " ".join(open("/proc/loadavg").read().split()[:3]) if os.path.exists("/proc/loadavg") else "",
    }
