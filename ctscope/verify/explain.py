"""Explaining the first difference: replay the frames up to it in step mode on both
sides (kernel: ctnetlink GET after every frame; engine: one record at a time) and
show the verdicts and the flow's entry before and after."""
from __future__ import annotations

import ipaddress

from ..craft.peek import peek, reverse
from ..engine.layout import CT_NOT_SEEN
from . import engine as E
from .compare import ct_name, entry_dict, fate_name, show_entry

STEP_LIMIT = 5000          # frames replayed in step mode to explain a difference


def _flow(frame: bytes):
    p = peek(frame)
    key = p.inner or p.key
    return None if key is None else frozenset((key, reverse(key)))


def explain(frames, config, i: int, limits: dict | None = None) -> dict:
    """Replay ``frames[:i + 1]`` under ``config`` (a ``runner.Config``) in step mode on both
    sides: frame ``i``'s verdicts and its flow's entry before and after it.  The kernel's
    "before" is the entry read after the flow's previous frame (None if it had none)."""
    sub = list(frames[:i + 1])
    with config.harness() as h:
        kres = h.run(sub, realtime=config.realtime, max_gap=config.max_gap, step=True)
    settings = E.engine_settings(dict(config.settings), limits)
    eng = E.run_engine([f for _t, _s, f in sub], E.BASE_NS + kres.sent_ns(), [f.side for f in kres.frames],
                       settings, config.engine_rules(), step=True)
    flow = _flow(sub[i][2])
    k_before = None
    for j in range(i - 1, -1, -1):
        if flow is not None and _flow(sub[j][2]) == flow:
            k_before = kres.frames[j].entry
            break
    k_ct, k_fate = kres.codes()
    p = peek(sub[i][2])
    return {
        "frame": i, "side": kres.frames[i].side, "summary": describe(p),
        "kernel": {"ctinfo": ct_name(k_ct[i]) if k_ct[i] != CT_NOT_SEEN else kres.frames[i].ctinfo,
                   "fate": fate_name(k_fate[i]), "reason": kres.frames[i].reason,
                   "before": k_before, "after": kres.frames[i].entry},
        "engine": {"ctinfo": ct_name(eng.ct[i]), "fate": fate_name(eng.fate[i]),
                   "before": entry_dict(eng.before[i]), "after": entry_dict(eng.after[i])},
    }


def describe(p) -> str:
    """A short text for a peeked frame: 'tcp 198.18.0.1:40000 -> 198.19.0.1:80'."""
    if p.version == 0:
        return "not IP"
    src, dst = ipaddress.ip_address(p.src), ipaddress.ip_address(p.dst)
    names = {1: "icmp", 6: "tcp", 17: "udp", 47: "gre", 58: "icmpv6", 132: "sctp", 136: "udplite"}
    text = f"{names.get(p.proto, f'proto {p.proto}')} {src} -> {dst}"
    if p.key and p.proto in (6, 17, 132, 136):
        text = f"{names[p.proto]} {src}:{p.key[3]} -> {dst}:{p.key[4]}"
    if p.proto == 6 and len(p.l3) > ((p.l3[0] & 15) * 4 if p.version == 4 else 40) + 13:
        off = (p.l3[0] & 15) * 4 if p.version == 4 else 40
        fl = p.l3[off + 13]
        text += " [" + "".join(c for b, c in zip((2, 16, 1, 4, 8), "SAFRP") if fl & b) + "]"
    if p.fragment:
        text += " (fragment)"
    if p.inner:
        text += " (ICMP error)"
    return text


def format_explanation(x: dict) -> str:
    k, e = x["kernel"], x["engine"]
    unread = "(not read back: fragments have no per-frame ctnetlink GET)"
    if "(fragment)" in x["summary"]:
        k = dict(k, before=k["before"] or unread, after=k["after"] or unread)
    return "\n".join([
        f"first diverging frame: #{x['frame']} (side {x['side']}): {x['summary']}",
        f"  kernel: {k['ctinfo']}/{k['fate']}" + (f" ({k['reason']})" if k["reason"] else ""),
        f"    entry before: {k['before'] if isinstance(k['before'], str) else show_entry(k['before'])}",
        f"    entry after:  {k['after'] if isinstance(k['after'], str) else show_entry(k['after'])}",
        f"  engine: {e['ctinfo']}/{e['fate']}",
        f"    entry before: {show_entry(e['before'])}",
        f"    entry after:  {show_entry(e['after'])}"])
