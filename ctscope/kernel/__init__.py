"""The real kernel as an oracle: run frames through nf_conntrack in throw-away
network namespaces (all named ``ctsc-<pid>-...``) and read back per-frame verdicts,
the table and the statistics.  Needs root; touches nothing outside its namespaces.

    from ctscope.kernel import KernelHarness
    with KernelHarness({"nf_conntrack_tcp_be_liberal": 0}) as h:
        result = h.run(frames)          # frames: [(t_seconds, 'c'|'s'|None, ethernet bytes)]
"""
from .fill import FillResult, fill, slab
from .harness import KernelHarness
from .result import FrameVerdict, KernelResult
from .netns import Topology, sweep_leftovers

__all__ = ["FillResult", "fill", "slab", "FrameVerdict", "KernelHarness", "KernelResult",
           "Topology", "sweep_leftovers"]
