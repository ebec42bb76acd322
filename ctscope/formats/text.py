"""Line formats: ``/proc/net/nf_conntrack``, ``conntrack -L`` (default, ``-o extended``,
``-o id``) and ``conntrack -E`` event lines (optionally ``-o timestamp``).

Writers reproduce the tools byte for byte (kernel-conntrack.md §8.1/§8.2, checked on
6.18.44 with conntrack-tools 1.4.7):

* ``/proc``: ``ipv4     2 tcp      6 ...`` (names padded to 8), IPv6 uncompressed, GRE
  ``timeout=30, stream_timeout=180`` private part, ``zone=`` printed even when 0;
* ``conntrack -L``: no L3 prefix unless extended, IPv6 compressed, no GRE private part,
  ``zone=`` only when non-zero, `` id=N`` appended with ``-o id``;
* events: ``[1700000000.123456]<TAB>`` with ``-o timestamp``, then the event name right
  aligned to 9 (``    [NEW] ``, `` [UPDATE] ``, ``[DESTROY] ``), then a conntrack line.

One tolerant reader (``parse_line``) reads all of them; anything it cannot read raises
``InputError`` naming the position.
"""
from __future__ import annotations

import re

from ..errors import InputError
from .checks import address, check_tuple, uint
from .entry import (ICMP_PROTOS, L3_NAMES, L3_NUMS, PORT_PROTOS, Entry, Tuple,
                    exploded, l4_name)

_FLAG_TOKENS = {"[ASSURED]": "assured", "[OFFLOAD]": "offload", "[HW_OFFLOAD]": "hw_offload"}
_EVENT_TOKENS = {"[NEW]": "NEW", "[UPDATE]": "UPDATE", "[DESTROY]": "DESTROY"}
_TS_RE = re.compile(r"^\[(\d{1,12})\.(\d{6})\]$")
_STATE_RE = re.compile(r"^[A-Z][A-Z0-9_]*$")
_TUPLE_KEYS = {"src", "dst", "sport", "dport", "type", "code", "id", "srckey", "dstkey"}


# --- writing ------------------------------------------------------------------

def _tuple_text(e: Entry, t: Tuple, full_ipv6: bool) -> str:
    src, dst = (exploded(t.src), exploded(t.dst)) if full_ipv6 else (t.src, t.dst)
    out = f"src={src} dst={dst} "
    if e.l4 in PORT_PROTOS:
        out += f"sport={t.sport} dport={t.dport} "
    elif e.l4 in ICMP_PROTOS:
        out += f"type={t.type} code={t.code} id={t.id} "
    elif e.l4 == "gre":
        out += f"srckey={t.srckey:#x} dstkey={t.dstkey:#x} "
    return out


def _acct(packets: int | None, nbytes: int | None) -> str:
    return f"packets={packets} bytes={nbytes} " if packets is not None and nbytes is not None else ""


def _body(e: Entry, *, l3: bool, proc: bool) -> str:
    parts = []
    if l3:
        parts.append(f"{e.l3:<8} {e.l3num} ")
    parts.append(f"{e.l4:<8} {e.l4num} ")
    if e.timeout is not None:
        parts.append(f"{e.timeout} ")
    if e.state is not None:
        parts.append(f"{e.state} ")
    if proc and e.gre_timeout is not None and e.gre_stream_timeout is not None:
        parts.append(f"timeout={e.gre_timeout}, stream_timeout={e.gre_stream_timeout} ")
    parts.append(_tuple_text(e, e.orig, proc))
    if e.zone_orig is not None:
        parts.append(f"zone-orig={e.zone_orig} ")
    parts.append(_acct(e.orig_packets, e.orig_bytes))
    if e.unreplied:
        parts.append("[UNREPLIED] ")
    parts.append(_tuple_text(e, e.reply, proc))
    if e.zone_reply is not None:
        parts.append(f"zone-reply={e.zone_reply} ")
    parts.append(_acct(e.reply_packets, e.reply_bytes))
    if e.hw_offload:
        parts.append("[HW_OFFLOAD] ")
    elif e.offload:
        parts.append("[OFFLOAD] ")
    elif e.assured:
        parts.append("[ASSURED] ")
    for key, value in (("mark", e.mark), ("secmark", e.secmark), ("secctx", e.secctx)):
        if value is not None:
            parts.append(f"{key}={value} ")
    if e.zone is not None and (proc or e.zone):
        parts.append(f"zone={e.zone} ")
    if e.delta_time is not None:
        parts.append(f"delta-time={e.delta_time} ")
    if e.helper is not None and not proc:
        parts.append(f"helper={e.helper} ")
    if e.use is not None:
        parts.append(f"use={e.use} ")
    if e.id is not None and not proc:
        parts.append(f"id={e.id} ")
    return "".join(parts)


def format_proc(e: Entry) -> str:
    """One ``/proc/net/nf_conntrack`` line (without newline)."""
    return _body(e, l3=True, proc=True).rstrip(" ")


def format_conntrack(e: Entry, extended: bool = False) -> str:
    """One ``conntrack -L`` line; ``extended=True`` for ``-o extended``."""
    return _body(e, l3=extended, proc=False).rstrip(" ")


def format_event(e: Entry, extended: bool = False) -> str:
    """One ``conntrack -E`` line; the ``[sec.usec]`` prefix when ``e.event_usec`` is set."""
    head = ""
    if e.event_usec is not None:
        head = f"[{e.event_usec // 1_000_000}.{e.event_usec % 1_000_000:06d}]\t"
    line = f"{head}{'[' + (e.event or 'NEW') + ']':>9} {_body(e, l3=extended, proc=False)}"
    if e.userspace is not None:
        line += f"[USERSPACE] {e.userspace}"
    return line.rstrip(" ")


# --- reading ------------------------------------------------------------------

def _set_tuple_field(e: Entry, t: Tuple, key: str, value: str, where: str) -> None:
    if key in ("src", "dst"):
        if getattr(t, key) is not None:
            raise InputError(f"'{key}=' repeated in a tuple", where)
        setattr(t, key, value)
        return
    if key in ("sport", "dport"):
        ok, num = e.l4 in PORT_PROTOS, uint(value, key, where, 65535)
    elif key in ("type", "code", "id"):
        ok, num = e.l4 in ICMP_PROTOS, uint(value, key, where, 255 if key != "id" else 65535)
    else:
        if not value.startswith("0x") or len(value) > 10:
            raise InputError(f"{key}: {value[:40]!r} is not a hex key", where)
        try:
            num = int(value[2:], 16)
        except ValueError:
            raise InputError(f"{key}: {value[:40]!r} is not a hex key", where) from None
        ok = e.l4 == "gre"
    if not ok:
        raise InputError(f"'{key}=' does not belong to a {e.l4} tuple", where)
    if getattr(t, key) is not None:
        raise InputError(f"'{key}=' repeated in a tuple", where)
    setattr(t, key, num)


_SIMPLE_KEYS = {"mark": "mark", "secmark": "secmark", "zone": "zone", "delta-time": "delta_time",
                "use": "use", "id": "id", "zone-orig": "zone_orig", "zone-reply": "zone_reply"}


def parse_line(line: str, where: str = "<line>") -> Entry:
    """Read one line of any text table/event format into an ``Entry``."""
    if not isinstance(line, str):
        raise InputError("expected a text line", where)
    text = line.rstrip("\n")
    e = Entry(orig=None, reply=None)  # type: ignore[arg-type]
    toks = text.split()
    if not toks:
        raise InputError("empty line", where)
    i = 0
    m = _TS_RE.match(toks[0])
    if m:
        e.event_usec = int(m.group(1)) * 1_000_000 + int(m.group(2))
        i += 1
    if i < len(toks) and toks[i] in _EVENT_TOKENS:
        e.event = _EVENT_TOKENS[toks[i]]
        i += 1
    elif e.event_usec is not None:
        raise InputError("timestamp without an event name ([NEW], [UPDATE], [DESTROY])", where)
    if len(toks) - i < 4:
        raise InputError(f"too few fields for a conntrack line: {text[:60]!r}", where)
    if toks[i] in L3_NUMS:
        e.l3, e.l3num = toks[i], uint(toks[i + 1], "l3 protocol number", where, 255)
        if L3_NAMES.get(e.l3num) != e.l3:
            raise InputError(f"l3 name {e.l3} does not match number {e.l3num}", where)
        i += 2
    else:
        e.l3 = ""
    e.l4, e.l4num = toks[i], uint(toks[i + 1], "l4 protocol number", where, 255)
    if l4_name(e.l4num) != e.l4:
        raise InputError(f"l4 name {e.l4[:20]!r} does not match number {e.l4num}", where)
    i += 2
    if i < len(toks) and toks[i].isascii() and toks[i].isdigit():
        e.timeout = uint(toks[i], "timeout", where, 2**32 - 1)
        i += 1
    if i < len(toks) and _STATE_RE.match(toks[i]):
        e.state = toks[i]
        i += 1
    if i + 1 < len(toks) and toks[i].startswith("timeout=") and toks[i].endswith(","):
        e.gre_timeout = uint(toks[i][8:-1], "gre timeout", where, 2**32 - 1)
        if not toks[i + 1].startswith("stream_timeout="):
            raise InputError("GRE 'timeout=' without 'stream_timeout='", where)
        e.gre_stream_timeout = uint(toks[i + 1][15:], "gre stream_timeout", where, 2**32 - 1)
        i += 2
    _parse_fields(e, toks, i, where)
    for t, name in ((e.orig, "original"), (e.reply, "reply")):
        if t is None or t.src is None:
            raise InputError(f"the {name} tuple is missing", where)
    if not e.l3:
        version = address(e.orig.src, where)[0]
        e.l3, e.l3num = ("ipv6", 10) if version == 6 else ("ipv4", 2)
    check_tuple(e, e.orig, "original", where)
    check_tuple(e, e.reply, "reply", where)
    return e


def _parse_fields(e: Entry, toks: list[str], i: int, where: str) -> None:
    section = 0          # 0 before orig, 1 in orig, 2 after orig, 3 in reply, 4 after reply
    cur: Tuple | None = None
    while i < len(toks):
        tok = toks[i]
        i += 1
        if tok.startswith("["):
            if tok == "[UNREPLIED]" and section in (1, 2) and not e.unreplied:
                e.unreplied, section = True, 2
            elif tok in _FLAG_TOKENS and section in (3, 4):
                setattr(e, _FLAG_TOKENS[tok], True)
                section = 4
            elif tok == "[USERSPACE]" and e.event:
                e.userspace = " ".join(toks[i:])
                return
            else:
                raise InputError(f"unexpected {tok[:30]!r}", where)
            continue
        key, sep, value = tok.partition("=")
        if not sep:
            raise InputError(f"unexpected field {tok[:40]!r}", where)
        if key == "src" and section in (0, 2, 1):
            if section == 0:
                cur = e.orig = Tuple(src=None, dst=None)  # type: ignore[arg-type]
                section = 1
            else:
                cur = e.reply = Tuple(src=None, dst=None)  # type: ignore[arg-type]
                section = 3
            cur.src = value
            continue
        if section in (1, 3) and key in _TUPLE_KEYS and cur is not None and not (
                key == "id" and (e.l4 not in ICMP_PROTOS or cur.id is not None)):
            _set_tuple_field(e, cur, key, value, where)
            continue
        if section == 0:
            raise InputError(f"{tok[:40]!r} before the original tuple", where)
        section = 2 if section in (1, 2) else 4
        _set_field(e, key, value, section, where)


def _set_field(e: Entry, key: str, value: str, section: int, where: str) -> None:
    if key in ("packets", "bytes"):
        name = ("orig_" if section == 2 else "reply_") + key
    elif key in _SIMPLE_KEYS:
        name = _SIMPLE_KEYS[key]
    elif key in ("secctx", "helper"):
        if getattr(e, key) is not None or not value:
            raise InputError(f"'{key}=' repeated or empty", where)
        setattr(e, key, value)
        return
    else:
        raise InputError(f"unknown field {key[:30]!r}=", where)
    if getattr(e, name) is not None:
        raise InputError(f"'{key}=' repeated", where)
    limit = 2**16 - 1 if name.startswith("zone") else 2**64 - 1
    setattr(e, name, uint(value, key, where, limit))
