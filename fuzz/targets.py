"""One fuzz target per parser: ``TARGETS[name](data: bytes)``.

A target feeds the bytes to a parser the way the CLI does and returns normally, or
raises ``InputError`` (bad input, reported as one line naming file and position).  Any
other exception, a hang or unbounded memory is a bug.  The same targets serve atheris
(fuzz/run.py), the built-in mutation loop (fuzz/mutate.py) and the CI smoke test.

Set ``NUMBA_DISABLE_JIT=1`` before importing this module for the capture targets: the
compiled scanner does not bounds-check, the interpreted one does (and atheris can see it).
"""
from __future__ import annotations

import atexit
import gzip
import io
import os
import shutil
import tempfile

from ctscope.errors import InputError

_TMP = tempfile.mkdtemp(prefix="ctscope-fuzz-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
atexit.register(shutil.rmtree, _TMP, True)


def _file(data: bytes, name: str = "input") -> str:
    path = os.path.join(_TMP, name)
    with open(path, "wb") as fh:
        fh.write(data)
    return path


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _check_where(exc: InputError) -> None:
    # an InputError must name where (file/option and, for files, a position)
    if not exc.where:
        raise AssertionError(f"InputError without a position: {exc.message!r}")


def _expect_input_error(fn):
    def wrapped(data: bytes):
        try:
            fn(data)
        except InputError as exc:
            _check_where(exc)
    wrapped.__name__ = fn.__name__
    wrapped.__doc__ = fn.__doc__
    wrapped.__wrapped__ = fn
    return wrapped


# --- captures -----------------------------------------------------------------------
def _settings():
    from ctscope.engine.settings import Settings
    return Settings(ram=1 << 30)


def _replay_capture(data: bytes, chunk: int) -> None:
    from ctscope.packets.source import Capture
    bio = io.BytesIO(data)
    bio.name = "fuzz.pcap"
    cap = Capture(bio, batch_size=64, settings=_settings(), chunk=chunk)
    for batch in cap:
        assert len(batch) <= 64


@_expect_input_error
def pcap(data: bytes) -> None:
    """pcap/pcapng reader, link layers, decoder, defragmentation, path model (small chunks)."""
    _replay_capture(data, 256)


@_expect_input_error
def pcap_gzip(data: bytes) -> None:
    """gzip-compressed captures: the fuzzer mutates the compressed bytes."""
    _replay_capture(data if data[:2] == b"\x1f\x8b" else gzip.compress(data, 1, mtime=0), 256)


@_expect_input_error
def replay(data: bytes) -> None:
    """the whole replay pipeline on a capture: reader, path model, engine, summary, table and events
    (run it with the JIT on: the engine is compiled code, the readers are covered by ``pcap``)."""
    from ctscope.formats.io import format_entry
    from ctscope.replay import ReplayJob
    path = _file(data, "replay.pcap")
    s = _settings()
    s.values["nf_conntrack_max"] = 64
    s.values["nf_conntrack_buckets"] = 16
    job = ReplayJob(capture=path, settings=s, progress=False)
    job.run()
    for e in job.tracker.entries():
        format_entry(e, "proc")
    job.tracker.drain_events()


# --- conntrack table / event / stats formats --------------------------------------------
@_expect_input_error
def table_text(data: bytes) -> None:
    """/proc/net/nf_conntrack, conntrack -L default / extended, conntrack -E: detected, parsed, summarized."""
    from ctscope.formats.io import detect_format, read_entries
    from ctscope.formats.summary import summarize
    lines = _text(data).splitlines()
    fmt = detect_format(lines)
    if fmt in ("proc", "conntrack", "extended", "events", "jsonl", "xml", "empty"):
        for e in read_entries(lines, fmt, "fuzz.txt"):
            e.to_dict()
    summarize(data, top=3)


def table_digest(data: bytes) -> None:
    """The doctor's table digest: the compiled scanner (live/scan_table.py) and the
    Python path must agree on every input -- same digest, or the same InputError.
    Run with NUMBA_DISABLE_JIT=0: interpreted, the scanner is never used."""
    import ctscope.live.digest as dg

    def one(scanner: bool):
        dg.SCANNER = scanner
        try:
            d = dg.digest(data, top=3, name="fuzz.txt")
            return ("ok", d.fmt, d.unique, d.pairs, d.summary.as_dict())
        except InputError as exc:
            _check_where(exc)
            return ("error", exc.message, exc.where)
        finally:
            dg.SCANNER = True
    fast, slow = one(True), one(False)
    if fast != slow:
        raise AssertionError(f"scanner and Python path differ: {fast!r} != {slow!r}")
    _streamed(data)


def _streamed(data: bytes) -> None:
    """The live reader's way (``Scanner`` fed pieces cut after a newline) must give the
    whole-text scan's digest, or give up where the whole-text scan does."""
    import numpy as np

    from ctscope.live import scan_table as stt
    if stt.kernel() is None or not data:
        return
    whole = stt.scan(data, 3, "proc")
    cut = data.find(b"\n", len(data) // 2) + 1 or len(data)
    s = stt.Scanner(data.count(b"\n") + 1)
    for piece in (data[:cut], data[cut:]):
        s.feed(stt.readonly(piece, np.uint8), stt.readonly(piece, np.uint64, len(piece) // 8))
    fed = s.digest(3, "proc")
    if whole is None or fed is None:
        if (whole is None) != (fed is None):
            raise AssertionError(f"streamed scan gave {fed!r}, whole scan {whole!r}")
        return
    if (fed.unique, fed.pairs, fed.summary.as_dict()) != (whole.unique, whole.pairs, whole.summary.as_dict()):
        raise AssertionError("streamed and whole scans differ")


@_expect_input_error
def table_xml(data: bytes) -> None:
    """conntrack -L -o xml."""
    from ctscope.formats.xml_flow import read_xml
    for e in read_xml(_text(data).splitlines(), "fuzz.xml"):
        e.to_dict()


@_expect_input_error
def table_json(data: bytes) -> None:
    """ctscope JSON lines."""
    from ctscope.formats.jsonl import parse_json
    for n, line in enumerate(_text(data).splitlines(), 1):
        parse_json(line, f"fuzz.jsonl:{n}").to_dict()


@_expect_input_error
def stats(data: bytes) -> None:
    """/proc/net/stat/nf_conntrack and conntrack -S."""
    from ctscope.formats.stats import format_conntrack_s, parse_conntrack_s, parse_proc_stat
    lines = _text(data).splitlines()
    try:
        format_conntrack_s(parse_proc_stat(lines, "fuzz.stat"))
    except InputError as exc:
        _check_where(exc)
    format_conntrack_s(parse_conntrack_s(lines, "fuzz.S"))


@_expect_input_error
def snapshot(data: bytes) -> None:
    """ctscope snapshot files and saved tables, as `doctor --input` / `list --input` read them."""
    from ctscope.live.doctor import diagnose, render
    from ctscope.live.inputs import load_input
    snap = load_input(_file(data, "snap.json"), top=3)
    render(diagnose(snap, netns="", churn=None, max_override=None, rules=None), 3)


# --- rules ----------------------------------------------------------------------------
@_expect_input_error
def rules_nft(data: bytes) -> None:
    """nft rulesets: parsed and compiled (load_rules)."""
    from ctscope.rules import load_rules
    load_rules([_file(data, "rules.nft")])


@_expect_input_error
def rules_iptables(data: bytes) -> None:
    """iptables-save (and ip6tables-save when the first byte is odd)."""
    from ctscope.rules import load_rules
    p = _file(data, "rules.save")
    if data[:1] and data[0] & 1:
        load_rules([], [p])
    else:
        load_rules([p])


@_expect_input_error
def rules_ipset(data: bytes) -> None:
    """ipset save output, used by a -m set rule."""
    from ctscope.rules import load_rules
    rules = _file(b"*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -m set --match-set S src -j NOTRACK\n"
                  b"-A PREROUTING -m set --match-set T dst,dst -j CT --notrack\nCOMMIT\n", "ipset-rules.save")
    try:
        load_rules([rules], [], [_file(data, "sets.ipset")])
    except InputError as exc:
        _check_where(exc)


# --- settings, rates, scenarios -------------------------------------------------------
@_expect_input_error
def sysctl(data: bytes) -> None:
    """sysctl.conf / `sysctl -a` files (--sysctl-file)."""
    s = _settings()
    s.load_file(_file(data, "sysctl.conf"))
    s.vector()


@_expect_input_error
def rates(data: bytes) -> None:
    """the --rate language, then the steady-state estimate."""
    from ctscope.plan.rates import parse_spec, steady_state
    specs = [parse_spec(t) for t in _text(data).split("\n") if t]
    if specs:
        steady_state(specs, _settings())


@_expect_input_error
def scenarios(data: bytes) -> None:
    """plan --scenarios FILE.toml."""
    from ctscope.plan.scenario import RuleLoader, Scenario, derive_settings
    from ctscope.plan.usertoml import load_scenarios
    base = Scenario("baseline", "baseline", "b", derive_settings(_settings(), {}), None)
    loader = RuleLoader()
    try:
        load_scenarios(_file(data, "scenarios.toml"), base, loader, {"baseline"})
    finally:
        loader.close()


TARGETS = {f.__name__: f for f in (pcap, pcap_gzip, replay, table_text, table_digest, table_xml, table_json, stats, snapshot,
                                   rules_nft, rules_iptables, rules_ipset, sysctl, rates, scenarios)}
