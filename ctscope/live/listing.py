"""``ctscope list``: the table as ``conntrack -L`` prints it, from /proc or a saved file.

/proc lines become conntrack lines: no L3 prefix (unless extended), compressed IPv6,
no GRE private part, ``zone=`` only when non-zero, ``use=1`` (the /proc reader holds
a reference, ctnetlink does not), no ``id=`` (not in /proc).  Timeouts are the same
within the time between the two reads.
"""
from __future__ import annotations

from ..errors import InputError
from ..formats.io import detect_format, read_entries, write_entries
from .base import why
from .tables import TABLE_PATH

OUTPUTS = ("default", "extended", "xml", "json")


def needles(flt) -> list[str]:
    """Substrings every line matching ``flt`` contains (a superset test: the exact
    filter runs on the parsed entries).  Parsing 262,144 lines takes seconds; this cuts
    a filtered listing to the lines that can match."""
    import ipaddress
    out = []
    if flt.state:
        out.append(f" {flt.state} ")
    for key in ("sport", "dport"):
        if getattr(flt, key) is not None:
            out.append(f"{key}={getattr(flt, key)} ")
    for key in ("src", "dst"):
        net = getattr(flt, key)
        if isinstance(net, ipaddress.IPv4Network) and net.prefixlen % 8 == 0 and net.prefixlen:
            parts = str(net.network_address).split(".")[:net.prefixlen // 8]
            out.append(f"{key}=" + ".".join(parts) + ("." if net.prefixlen < 32 else " "))
    if flt.mark is not None and flt.mark[1] == 0xFFFFFFFF and flt.mark[0]:
        out.append(f"mark={flt.mark[0]} ")
    if flt.zone:
        out.append(f"zone={flt.zone} ")
    return out


def prefilter(lines: list[str], flt) -> list[str]:
    need = needles(flt)
    if not need:
        return lines
    return [line for line in lines if all(n in line or line.endswith(n[:-1]) for n in need)]


def load_entries(path: str | None = None, flt=None):
    """(entries iterator, format, name) of the live table or a saved file/snapshot;
    with ``flt``, only lines that can match it are parsed."""
    if path is None:
        try:
            with open(TABLE_PATH, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            from ..errors import PrivilegeError
            msg = f"{TABLE_PATH}: {why(exc)}"
            if exc.errno in (1, 13):
                raise PrivilegeError(msg + "; run as root (conntrack -L needs CAP_NET_ADMIN too)")
            raise InputError(msg)
        name = TABLE_PATH
    else:
        from .inputs import is_snapshot, load_snapshot, read_bytes
        data = read_bytes(path)
        name = path
        if is_snapshot(data):
            text = load_snapshot(data, path).get("table_text")
            if text is None:
                raise InputError("this snapshot was saved without the table (--no-table)", path)
            data = text.encode()
    lines = data.decode("utf-8", "replace").splitlines()
    fmt = detect_format(lines)
    if fmt in ("stat", "conntrack-S", "unknown", "events"):
        raise InputError(f"not a conntrack table (format: {fmt})", name)
    if flt is not None and fmt != "xml":
        lines = prefilter(lines, flt)
    return read_entries(lines, fmt, name), fmt, name


def as_listed(e, fmt: str):
    """An entry of ``fmt`` as conntrack -L shows it."""
    if fmt == "proc":
        e.use = 1
        e.gre_timeout = e.gre_stream_timeout = None
        if not e.zone:
            e.zone = None
    e.event = e.event_usec = e.userspace = None
    return e


def render(entries, output: str):
    if output == "json":
        from ..formats.jsonl import format_json
        return (format_json(e) for e in entries)
    return write_entries(entries, {"default": "conntrack", "extended": "extended", "xml": "xml"}[output])
