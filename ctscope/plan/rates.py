"""``ctscope plan --rate SPEC ...``: the steady-state table from rates and timeouts.

Little's law per state: entries = arrival rate x time spent in the state.  A flow of
a class goes through the states below (the handshake and FIN exchange last a round
trip and are neglected):

* TCP, reply=no: SYN_SENT for ``tcp_timeout_syn_sent``;
* TCP, reply=yes: ESTABLISHED for ``lifetime``, then TIME_WAIT (close=fin,
  ``tcp_timeout_time_wait``), CLOSE (close=rst, ``tcp_timeout_close``) or ESTABLISHED
  for ``tcp_timeout_established`` more (close=none: the peer vanished);
* UDP: ``lifetime`` + ``udp_timeout`` (30 s; unreplied, or replied within 2 s), or +
  ``udp_timeout_stream`` when replied and lasting more than 2 s (ASSURED);
* ICMP: ``lifetime`` + ``icmp_timeout``.

That is what ``/proc/net/nf_conntrack`` shows.  ``nf_conntrack_count`` (what the
limit is checked against) also holds expired entries the GC has not reaped: the GC
runs every I seconds, I = the average remaining lifetime of the entries clamped to
1..60 s (gc_worker()), so the count is a sawtooth from the visible entries up to
visible + new flows/s x I just before each run (each flow counted I/2 longer on
average); sizing and saturation use the top.  Above the
max the table saturates: the time it takes is solved from the ramp-up, and what
follows depends on whether the entries are ASSURED (table-full drops) or not (early
drop evicts them).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InputError

_SPEC = re.compile(r"^\s*(tcp|udp|icmp)\s*:\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([kKmM]?)\s*/\s*s\s*((?:,[^,]+)*)\s*$")
_DUR = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(ms|s|m|h|d)?\s*$")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


@dataclass
class RateSpec:
    proto: str
    rate: float                 # new flows per second
    lifetime: float = 0.0       # seconds from the first packet to the close
    reply: bool = True
    close: str = "fin"          # fin, rst, none (TCP only)
    dport: int | None = None
    text: str = ""

    @property
    def label(self) -> str:
        return self.text or f"{self.proto}:{self.rate:g}/s"


def parse_duration(text: str, where: str) -> float:
    m = _DUR.match(text)
    if not m:
        raise InputError(f"not a duration: {text!r} (e.g. 2s, 500ms, 5m)", where)
    return float(m.group(1)) * _UNIT[m.group(2)]


def parse_spec(text: str) -> RateSpec:
    where = f"--rate {text}"
    m = _SPEC.match(text)
    if not m:
        raise InputError("expected PROTO:RATE/s[,lifetime=DURATION][,reply=yes|no][,close=fin|rst|none]"
                         "[,dport=N] with PROTO tcp, udp or icmp", where)
    rate = float(m.group(2)) * {"": 1, "k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6}[m.group(3)]
    if rate <= 0:
        raise InputError("the rate must be positive", where)
    spec = RateSpec(m.group(1), rate, text=text.strip())
    for item in filter(None, (x.strip() for x in m.group(4).split(","))):
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep:
            raise InputError(f"expected KEY=VALUE, got {item!r}", where)
        if key == "lifetime":
            spec.lifetime = parse_duration(value, where)
        elif key == "reply":
            if value not in ("yes", "no"):
                raise InputError("reply must be yes or no", where)
            spec.reply = value == "yes"
        elif key == "close":
            if value not in ("fin", "rst", "none"):
                raise InputError("close must be fin, rst or none", where)
            spec.close = value
        elif key == "dport":
            if not value.isdigit() or not 0 < int(value) < 65536:
                raise InputError("dport must be a port number 1..65535", where)
            spec.dport = int(value)
        else:
            raise InputError(f"unknown key {key!r} (lifetime, reply, close, dport)", where)
    return spec


def dwell(spec: RateSpec, settings) -> list[tuple[str, float, bool]]:
    """[(state, seconds a flow spends in it, ASSURED?)] for one flow of ``spec``."""
    g = settings.get
    L = spec.lifetime
    if spec.proto == "tcp":
        if not spec.reply:
            return [("tcp SYN_SENT", g("nf_conntrack_tcp_timeout_syn_sent"), False)]
        out = [("tcp ESTABLISHED", L, True)] if L > 0 else []
        if spec.close == "fin":
            out.append(("tcp TIME_WAIT", g("nf_conntrack_tcp_timeout_time_wait"), True))
        elif spec.close == "rst":
            out.append(("tcp CLOSE", g("nf_conntrack_tcp_timeout_close"), True))
        else:
            out.append(("tcp ESTABLISHED", g("nf_conntrack_tcp_timeout_established"), True))
        return out
    if spec.proto == "udp":
        stream = spec.reply and L > 2.0
        t = g("nf_conntrack_udp_timeout_stream") if stream else g("nf_conntrack_udp_timeout")
        return [("udp", L + t, stream)]
    return [("icmp", L + g("nf_conntrack_icmp_timeout"), False)]


def steady_state(specs: list[RateSpec], settings) -> dict:
    """Visible entries per state, the count with the GC lag, and saturation."""
    mx = settings.get("nf_conntrack_max")
    visible: dict[str, float] = {}
    assured = unassured = 0.0
    rem_sum = 0.0            # sum over entries of their (clamped) remaining lifetime
    tail = []                # (rate, total dwell) per class, for the ramp-up
    for sp in specs:
        total = 0.0
        for state, d, ok in dwell(sp, settings):
            n = sp.rate * d
            visible[state] = visible.get(state, 0.0) + n
            if ok:
                assured += n
            else:
                unassured += n
            # a state entered with timeout d has remaining ~ U(0, d); refreshed states
            # (ESTABLISHED during the lifetime) keep the full timeout
            full = settings.get("nf_conntrack_tcp_timeout_established") if state == "tcp ESTABLISHED" else d
            rem_sum += n * min(max(full / 2 if state != "tcp ESTABLISHED" else full, 1.0), 300.0)
            total += d
        tail.append((sp.rate, total))
    vis_total = sum(visible.values())
    avg_rem = (100 * 60.0 + rem_sum) / (100 + vis_total)       # gc_worker's running average
    gc_interval = min(max(avg_rem, 1.0), 60.0)
    lag = gc_interval / 2
    new_rate = sum(r for r, _ in tail)
    count_mean = vis_total + new_rate * lag
    count = vis_total + new_rate * gc_interval     # the sawtooth's top, just before a GC run
    out = {
        "nf_conntrack_max": mx, "visible": {k: round(v, 1) for k, v in sorted(visible.items(), key=lambda kv: -kv[1])},
        "visible_total": round(vis_total, 1), "count": round(count, 1), "count_mean": round(count_mean, 1),
        "gc_interval_s": round(gc_interval, 1), "gc_lag_s": round(lag, 1),
        "assured_share": round(assured / vis_total, 3) if vis_total else 0.0,
        "pct_of_max": round(100 * count / mx, 1) if mx else None,
        "saturates": count >= mx, "saturates_after_s": None, "after": None,
        "new_flows_per_s": round(sum(r for r, _ in tail), 1),
    }
    if count >= mx:
        t = _time_to(mx, tail, gc_interval)
        out["saturates_after_s"] = round(t, 1)
        if assured / max(vis_total, 1e-9) > 0.5:
            out["after"] = ("table-full drops: the entries are mostly ASSURED, early drop finds nothing "
                            f"to evict; about {out['new_flows_per_s'] * (1 - mx / count):,.0f} new flows/s "
                            "are dropped in steady state")
        else:
            out["after"] = ("early drops: most entries are not ASSURED, so each new flow evicts one "
                            f"(about {out['new_flows_per_s']:,.0f}/s) and packets are dropped only when "
                            "8 buckets hold none")
    return out


def _time_to(target: float, tail, lag: float) -> float:
    """Ramp-up from an empty table: count(t) = sum rate x min(t, dwell + lag)."""
    def f(t):
        return sum(r * min(t, d + lag) for r, d in tail)
    lo, hi = 0.0, max(d + lag for _, d in tail)
    for _ in range(60):
        mid = (lo + hi) / 2
        if f(mid) >= target:
            hi = mid
        else:
            lo = mid
    return hi


def plan_rates(args) -> dict:
    """The analytical planner: baseline settings plus the candidates that apply."""
    from ..commands._common import settings_from_args
    from . import candidates as C
    from .capture import entry_size
    from .rank import memory
    from .scenario import Scenario, derive_settings

    specs = [parse_spec(t) for t in args.rate]
    base = settings_from_args(args)
    base_res = steady_state(specs, base)
    need = max(base_res["count"], 1)
    base_sc = Scenario("baseline", "baseline", "the settings given", base)
    scen = [base_sc, C.size_table(base_sc, int(need + 0.5), args.headroom),
            C.kube_proxy(base_sc, args.cpus or __import__("os").cpu_count() or 1)]
    t = C.timeouts(base_sc, base_res["visible"])
    if t is not None:
        scen.append(t)
    eb, src = entry_size()
    rows = []
    for sc in scen:
        r = steady_state(specs, sc.settings)
        mx, b = sc.settings.get("nf_conntrack_max"), sc.settings.get("nf_conntrack_buckets")
        r.update(name=sc.name, title=sc.title, sysctl=dict(sc.sysctl), why=list(sc.why),
                 nf_conntrack_buckets=b, memory=memory(mx, b, int(min(r["count"], mx)), eb))
        rows.append(r)
    rows[1:] = sorted(rows[1:], key=lambda r: (r["saturates"], r["memory"]["at_max"]))
    return {"specs": [vars(s) for s in specs], "entry_bytes": eb, "entry_bytes_source": src,
            "ram_bytes": base.ram_bytes, "scenarios": rows}


def format_rates(d: dict) -> str:
    from .text import side_by_side

    states = []
    for r in d["scenarios"]:
        for k in r["visible"]:
            if k not in states:
                states.append(k)
    rows = [("nf_conntrack_max", lambda r: r["nf_conntrack_max"]),
            ("buckets", lambda r: r["nf_conntrack_buckets"])]
    rows += [(f"  {s}", (lambda s: lambda r: int(round(r["visible"].get(s, 0))))(s)) for s in states]
    rows += [("visible entries", lambda r: int(round(r["visible_total"]))),
             ("count, mean", lambda r: int(round(r["count_mean"]))),
             ("count, top", lambda r: int(round(r["count"]))),
             ("% of max", lambda r: f"{r['pct_of_max']:.0f} %"),
             ("saturates after", lambda r: f"{r['saturates_after_s']:,.0f} s" if r["saturates"] else "never"),
             ("memory at max", lambda r: f"{r['memory']['at_max'] / 2**20:,.1f}M")]
    lines = ["traffic     " + "; ".join(s["text"] for s in d["specs"]),
             f"memory      {d['entry_bytes']} B per entry ({d['entry_bytes_source']}) + 8 B per bucket",
             f"GC          runs every ~{d['scenarios'][0]['gc_interval_s']:.0f} s: expired entries stay "
             f"counted ~{d['scenarios'][0]['gc_lag_s']:.0f} s on average (count: mean and top of the sawtooth)", ""]
    lines += side_by_side(d["scenarios"], rows, label="steady state")
    lines.append("")
    for r in d["scenarios"]:
        lines.append(f"  {r['name']:<12} {r['title']}")
        for w in r["why"]:
            lines.append(f"  {'':<12}   {w}")
        if r["saturates"]:
            lines.append(f"  {'':<12}   SATURATES after ~{r['saturates_after_s']:,.0f} s: {r['after']}")
    return "\n".join(lines)
