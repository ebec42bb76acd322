"""Differential verification: the same frames through the real kernel (``ctscope.kernel``)
and through the engine, compared frame by frame, table and statistics.

    from ctscope.verify import verify_frames, verify_scenarios
    res = verify_frames([(0.0, "c", syn), (0.001, "s", syn_ack)])
    res.agree, res.matched, res.scorable, res.first_mismatch

The engine is fed the frames at the times the harness actually sent them, through a
temporary pcapng (interfaces ``c0``/``s0``, the firewall's input interfaces), so the
real capture decoder, path model and raw-table rules are exercised.
"""
from .compare import Comparison, FrameDiff
from .engine import engine_settings
from .explain import explain, format_explanation
from .runner import Config, GroupRun, VerifyResult, verify_capture, verify_frames
from .scenarios import ScenarioView, verify_scenarios

__all__ = ["Comparison", "FrameDiff", "Config", "GroupRun", "ScenarioView", "VerifyResult",
           "engine_settings", "explain", "format_explanation", "verify_capture", "verify_frames",
           "verify_scenarios"]
