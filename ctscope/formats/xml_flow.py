"""``conntrack -L -o xml`` / ``conntrack -E -o xml`` as conntrack-tools 1.4.7 prints it.

Layout (libnetfilter_conntrack ``snprintf_xml.c``, checked against conntrack 1.4.7 on
6.18.44): an ``<?xml ...?>`` line, ``<conntrack>``, one ``<flow>`` per line, ``</conntrack>``.
A flow holds ``<meta direction="original|reply">`` (layer3 src/dst, layer4 ports or GRE
keys, per-direction ``<zone>``, ``<counters>``) and ``<meta direction="independent">``
(state, timeout, mark, secmark, secctx, zone, use, id, ``<assured/>``, ``<unreplied/>``,
deltatime), then ``<helper>``.  ICMP type/code/id and offload flags are not printed.
Event flows carry ``type="new|update|destroy"``.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator

from ..errors import InputError
from .entry import L3_NAMES, PORT_PROTOS, Entry, Tuple, l4_name
from .checks import check_tuple, uint

HEADER = '<?xml version="1.0" encoding="utf-8"?>'
_FLOW_TYPES = {"NEW": "new", "UPDATE": "update", "DESTROY": "destroy"}
_EVENT_OF = {v: k for k, v in _FLOW_TYPES.items()}


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _meta(e: Entry, t: Tuple, direction: str, zone: int | None,
          packets: int | None, nbytes: int | None) -> str:
    out = [f'<meta direction="{direction}"><layer3 protonum="{e.l3num}" protoname="{e.l3}">'
           f"<src>{t.src}</src><dst>{t.dst}</dst></layer3>"
           f'<layer4 protonum="{e.l4num}" protoname="{e.l4}">']
    if e.l4 in PORT_PROTOS:
        out.append(f"<sport>{t.sport}</sport><dport>{t.dport}</dport>")
    elif e.l4 == "gre":
        out.append(f"<srckey>{t.srckey:#x}</srckey><dstkey>{t.dstkey:#x}</dstkey>")
    out.append("</layer4>")
    if zone is not None:
        out.append(f"<zone>{zone}</zone>")
    if e.orig_packets is not None and e.orig_bytes is not None:
        out.append(f"<counters><packets>{packets or 0}</packets><bytes>{nbytes or 0}</bytes></counters>")
    out.append("</meta>")
    return "".join(out)


def format_xml_flow(e: Entry) -> str:
    """One ``<flow>...</flow>`` line."""
    head = f'<flow type="{_FLOW_TYPES[e.event]}">' if e.event in _FLOW_TYPES else "<flow>"
    parts = [head,
             _meta(e, e.orig, "original", e.zone_orig, e.orig_packets, e.orig_bytes),
             _meta(e, e.reply, "reply", e.zone_reply, e.reply_packets, e.reply_bytes)]
    ind = []
    for tag, value in (("state", e.state), ("timeout", e.timeout), ("mark", e.mark),
                       ("secmark", e.secmark), ("secctx", e.secctx),
                       ("zone", e.zone or None), ("use", e.use), ("id", e.id)):
        if value is not None:
            ind.append(f"<{tag}>{_esc(str(value))}</{tag}>")
    if e.assured:
        ind.append("<assured/>")
    if e.unreplied:
        ind.append("<unreplied/>")
    if e.delta_time is not None:
        ind.append(f"<deltatime>{e.delta_time}</deltatime>")
    if ind:
        parts.append('<meta direction="independent">' + "".join(ind) + "</meta>")
    if e.helper is not None:
        parts.append(f"<helper>{_esc(e.helper)}</helper>")
    parts.append("</flow>")
    return "".join(parts)


def write_xml(entries: Iterable[Entry]) -> Iterator[str]:
    """Lines of a whole ``conntrack -o xml`` document (without newlines)."""
    yield HEADER
    yield "<conntrack>"
    for e in entries:
        yield format_xml_flow(e)
    yield "</conntrack>"


def _int(node: ET.Element | None, what: str, where: str, limit: int = 2**64 - 1) -> int | None:
    if node is None:
        return None
    return uint((node.text or "").strip(), what, where, limit)


def _hexkey(node: ET.Element | None, what: str, where: str) -> int | None:
    if node is None:
        return None
    text = (node.text or "").strip()
    try:
        if not text.startswith("0x"):
            raise ValueError
        value = int(text[2:], 16)
    except ValueError:
        raise InputError(f"{what}: {text[:40]!r} is not a hex key", where) from None
    if value > 0xFFFF:
        raise InputError(f"{what}: {text} is out of range", where)
    return value


def parse_xml_flow(text: str, where: str = "<xml>") -> Entry:
    """Read one ``<flow>`` element (a line of conntrack -o xml)."""
    try:
        flow = ET.fromstring(text)
    except ET.ParseError as exc:
        raise InputError(f"bad XML: {exc}", where) from None
    if flow.tag != "flow":
        raise InputError(f"expected <flow>, got <{flow.tag[:20]}>", where)
    e = Entry(orig=None, reply=None)  # type: ignore[arg-type]
    ftype = flow.get("type")
    if ftype is not None:
        if ftype not in _EVENT_OF:
            raise InputError(f"unknown flow type {ftype[:20]!r}", where)
        e.event = _EVENT_OF[ftype]
    metas = {m.get("direction"): m for m in flow.findall("meta")}
    for direction in ("original", "reply"):
        m = metas.get(direction)
        if m is None:
            raise InputError(f'<meta direction="{direction}"> is missing', where)
        l3, l4 = m.find("layer3"), m.find("layer4")
        if l3 is None or l4 is None:
            raise InputError(f"{direction}: <layer3> or <layer4> missing", where)
        l3num = uint(l3.get("protonum", ""), "layer3 protonum", where, 255)
        l4num = uint(l4.get("protonum", ""), "layer4 protonum", where, 255)
        if L3_NAMES.get(l3num, "?") != l3.get("protoname") or l4_name(l4num) != l4.get("protoname"):
            raise InputError(f"{direction}: protocol names do not match their numbers", where)
        e.l3, e.l3num, e.l4, e.l4num = L3_NAMES[l3num], l3num, l4_name(l4num), l4num
        t = Tuple(src=(l3.findtext("src") or "").strip(), dst=(l3.findtext("dst") or "").strip(),
                  sport=_int(l4.find("sport"), "sport", where, 65535),
                  dport=_int(l4.find("dport"), "dport", where, 65535),
                  srckey=_hexkey(l4.find("srckey"), "srckey", where),
                  dstkey=_hexkey(l4.find("dstkey"), "dstkey", where))
        zone = _int(m.find("zone"), "zone", where, 65535)
        c = m.find("counters")
        pk = _int(c.find("packets"), "packets", where) if c is not None else None
        by = _int(c.find("bytes"), "bytes", where) if c is not None else None
        if direction == "original":
            e.orig, e.zone_orig, e.orig_packets, e.orig_bytes = t, zone, pk, by
        else:
            e.reply, e.zone_reply, e.reply_packets, e.reply_bytes = t, zone, pk, by
    ind = metas.get("independent")
    if ind is not None:
        e.state = ind.findtext("state")
        e.timeout = _int(ind.find("timeout"), "timeout", where, 2**32 - 1)
        e.mark = _int(ind.find("mark"), "mark", where, 2**32 - 1)
        e.secmark = _int(ind.find("secmark"), "secmark", where, 2**32 - 1)
        e.secctx = ind.findtext("secctx")
        e.zone = _int(ind.find("zone"), "zone", where, 65535)
        e.use = _int(ind.find("use"), "use", where, 2**32 - 1)
        e.id = _int(ind.find("id"), "id", where, 2**32 - 1)
        e.assured = ind.find("assured") is not None
        e.unreplied = ind.find("unreplied") is not None
        e.delta_time = _int(ind.find("deltatime"), "deltatime", where)
    e.helper = flow.findtext("helper")
    # conntrack-tools prints no ICMP type/code/id in XML
    check_tuple(e, e.orig, "original", where, icmp_fields=False)
    check_tuple(e, e.reply, "reply", where, icmp_fields=False)
    return e


def read_xml(lines: Iterable[str], name: str = "<xml>") -> Iterator[Entry]:
    """Entries of a conntrack -o xml document (flows may also be split over lines)."""
    buf: list[str] = []
    start = 0
    for lineno, line in enumerate(lines, 1):
        s = line.strip()
        if not buf:
            if not s or s.startswith("<?xml") or s in ("<conntrack>", "</conntrack>"):
                continue
            if s.startswith("conntrack v"):   # the summary line when stderr was captured too
                continue
            if not s.startswith("<flow"):
                raise InputError(f"expected <flow>, got {s[:40]!r}", f"{name}:{lineno}")
            start = lineno
        buf.append(s)
        if s.endswith("</flow>") or "</flow> [USERSPACE]" in s:
            flow = " ".join(buf)
            buf = []
            cut = flow.find("</flow>")
            yield parse_xml_flow(flow[:cut + 7], f"{name}:{start}")
    if buf:
        raise InputError("unterminated <flow>", f"{name}:{start}")
