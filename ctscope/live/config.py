"""Conntrack settings in configuration files (read only): sysctl.d, modprobe.d,
modules-load.d.  ``root`` prefixes every path (``/`` on a live host, a directory of
fixture files in tests).

* sysctl.d (sysctl.d(5)): files of /etc, /run, /usr/local/lib, /usr/lib sysctl.d are
  merged by file name (same name: /etc wins), applied in name order, then
  /etc/sysctl.conf; the last assignment of a key wins.
* modprobe.d: ``options nf_conntrack hashsize=N`` (ignored when nf_conntrack is built in),
  ``blacklist``/``install`` lines that stop it from loading.
* modules-load.d and /etc/modules: lines loading nf_conntrack at boot.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from .base import Problem, read_text, why

SYSCTL_DIRS = ("etc/sysctl.d", "run/sysctl.d", "usr/local/lib/sysctl.d", "usr/lib/sysctl.d", "lib/sysctl.d")
MODPROBE_DIRS = ("etc/modprobe.d", "run/modprobe.d", "usr/local/lib/modprobe.d", "usr/lib/modprobe.d",
                 "lib/modprobe.d")
MODLOAD_DIRS = ("etc/modules-load.d", "run/modules-load.d", "usr/local/lib/modules-load.d",
                "usr/lib/modules-load.d", "lib/modules-load.d")
_CT_KEY = re.compile(r"(nf_conntrack|netfilter\.nf_|\bnf_flowtable)")


@dataclass
class Finding:
    path: str
    lineno: int
    kind: str          # sysctl, modprobe-options, modprobe-block, modules-load
    key: str
    value: str


@dataclass
class ConfigReport:
    findings: list[Finding] = field(default_factory=list)
    effective: dict[str, str] = field(default_factory=dict)  # sysctl key -> value after merging
    problems: list[Problem] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"findings": [f.__dict__ for f in self.findings], "effective": self.effective,
                "problems": [p.as_dict() for p in self.problems]}


def _conf_files(root: str, dirs: tuple[str, ...], problems: list[Problem]) -> list[str]:
    """Files by name, the first directory holding a name wins; sorted by name."""
    chosen: dict[str, str] = {}
    for d in dirs:
        path = os.path.join(root, d)
        try:
            names = os.listdir(path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            problems.append(Problem(path, why(exc)))
            continue
        for name in names:
            full = os.path.join(path, name)
            if name.endswith(".conf") and name not in chosen and os.path.exists(full):
                chosen[name] = full      # a dangling symlink (masked file) is skipped
    return [chosen[n] for n in sorted(chosen)]


def _lines(path: str, problems: list[Problem]):
    text = read_text(path, problems)
    for lineno, line in enumerate((text or "").splitlines(), 1):
        s = line.strip()
        if s and s[0] not in "#;":
            yield lineno, s


def scan_config(root: str = "/") -> ConfigReport:
    rep = ConfigReport()
    sysctl_files = _conf_files(root, SYSCTL_DIRS, rep.problems)
    main_conf = os.path.join(root, "etc/sysctl.conf")
    if os.path.exists(main_conf):
        sysctl_files.append(main_conf)
    for path in sysctl_files:
        for lineno, s in _lines(path, rep.problems):
            key, sep, value = s.partition("=")
            key = key.strip().lstrip("-").replace("/", ".")
            if sep and _CT_KEY.search(key):
                rep.findings.append(Finding(path, lineno, "sysctl", key, value.strip()))
                rep.effective[key] = value.strip()
    for path in _conf_files(root, MODPROBE_DIRS, rep.problems):
        for lineno, s in _lines(path, rep.problems):
            words = s.split()
            if len(words) >= 2 and words[1].replace("-", "_") == "nf_conntrack":
                if words[0] == "options":
                    for opt in words[2:]:
                        k, _, v = opt.partition("=")
                        rep.findings.append(Finding(path, lineno, "modprobe-options", k, v))
                elif words[0] in ("blacklist", "install"):
                    rep.findings.append(Finding(path, lineno, "modprobe-block", words[0], " ".join(words[2:])))
    load_files = _conf_files(root, MODLOAD_DIRS, rep.problems)
    if os.path.exists(os.path.join(root, "etc/modules")):
        load_files.append(os.path.join(root, "etc/modules"))
    for path in load_files:
        for lineno, s in _lines(path, rep.problems):
            name = s.split()[0]
            if name.replace("-", "_").startswith(("nf_conntrack", "nf_nat", "xt_conntrack", "xt_state")):
                rep.findings.append(Finding(path, lineno, "modules-load", name, ""))
    return rep
