"""Is nf_conntrack a loadable module or built into the kernel?  (read only)

Evidence: ``/proc/modules`` lists loaded modules; ``/sys/module/nf_conntrack`` exists
for both, but only a loadable module has ``initstate``/``refcnt`` there;
``/lib/modules/$(uname -r)/modules.builtin`` names built-in ones.  Built in means
``/etc/modprobe.d`` options are ignored: only ``nf_conntrack.hashsize=`` on the kernel
command line or a write to ``/sys/module/nf_conntrack/parameters/hashsize`` apply.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from .base import Problem, read_text


@dataclass
class ModuleState:
    kind: str = "unknown"          # module-loaded, module-available, builtin, absent, unknown
    evidence: list[str] = field(default_factory=list)
    cmdline_options: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["problems"] = [p.as_dict() for p in self.problems]
        return d


def module_state(proc_modules: str = "/proc/modules", sys_module: str = "/sys/module",
                 lib_modules: str | None = None, cmdline: str = "/proc/cmdline") -> ModuleState:
    st = ModuleState()
    lib_modules = lib_modules or os.path.join("/lib/modules", os.uname().release)
    text = read_text(proc_modules, st.problems)
    if text is not None and any(line.split()[:1] == ["nf_conntrack"] for line in text.splitlines()):
        st.kind = "module-loaded"
        st.evidence.append(f"{proc_modules} lists nf_conntrack")
    mod = os.path.join(sys_module, "nf_conntrack")
    if os.path.isdir(mod):
        if os.path.exists(os.path.join(mod, "initstate")):
            st.kind = "module-loaded"
            st.evidence.append(f"{mod}/initstate exists (loadable module)")
        elif st.kind == "unknown":
            st.kind = "builtin"
            st.evidence.append(f"{mod} exists without initstate (built in)")
    builtin = read_text(os.path.join(lib_modules, "modules.builtin"), st.problems)
    if builtin is not None and any(line.endswith("/nf_conntrack.ko") for line in builtin.splitlines()):
        st.kind = "builtin" if st.kind == "unknown" else st.kind
        st.evidence.append("modules.builtin names nf_conntrack.ko")
    dep = read_text(os.path.join(lib_modules, "modules.dep"), st.problems)
    if dep is not None and any("/nf_conntrack.ko" in line.split(":")[0] for line in dep.splitlines()):
        st.evidence.append("modules.dep has nf_conntrack.ko (loadable)")
        if st.kind == "unknown":
            st.kind = "module-available"
    text = read_text(cmdline, st.problems)
    if text:
        st.cmdline_options = [w for w in text.split() if w.startswith("nf_conntrack.")]
    if st.kind == "unknown" and not os.path.exists("/proc/sys/net/netfilter/nf_conntrack_max"):
        st.kind = "absent"
    return st
