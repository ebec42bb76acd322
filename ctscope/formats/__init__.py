"""Conntrack table, event and statistics formats: writers and readers.

* ``Entry``/``Tuple`` (``entry.py``): one table line as plain Python data;
* ``/proc/net/nf_conntrack``, ``conntrack -L`` (default, extended, id) and ``conntrack -E``
  lines (``text.py``), ``-o xml`` (``xml_flow.py``), JSON lines (``jsonl.py``);
* ``/proc/net/stat/nf_conntrack`` and ``conntrack -S`` (``stats.py``);
* ``detect_format``, ``read_entries``, ``write_entries`` (``io.py``);
* ``summarize`` (``summary.py``): the fast path for big tables.
"""
import importlib

_HOME = {
    "FORMATS": "entry", "Entry": "entry", "Tuple": "entry", "normalize": "entry",
    "detect_format": "io", "format_entry": "io", "read_entries": "io", "write_entries": "io",
    "format_json": "jsonl", "parse_json": "jsonl",
    "StatTable": "stats", "format_conntrack_s": "stats", "format_proc_stat": "stats",
    "parse_conntrack_s": "stats", "parse_proc_stat": "stats",
    "Summary": "summary", "summarize": "summary", "summarize_entries": "summary",
    "format_conntrack": "text", "format_event": "text", "format_proc": "text", "parse_line": "text",
    "format_xml_flow": "xml_flow", "parse_xml_flow": "xml_flow", "read_xml": "xml_flow", "write_xml": "xml_flow",
}


__all__ = sorted(_HOME)


def __dir__() -> list[str]:
    return __all__


def __getattr__(name: str):
    """Import submodules on first use, so the summary fast path loads only what it needs."""
    if name in _HOME:
        return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FORMATS", "Entry", "Tuple", "normalize", "detect_format", "format_entry", "read_entries",
    "write_entries", "format_json", "parse_json", "StatTable", "format_conntrack_s",
    "format_proc_stat", "parse_conntrack_s", "parse_proc_stat", "Summary", "summarize",
    "summarize_entries", "format_conntrack", "format_event", "format_proc", "parse_line",
    "format_xml_flow", "parse_xml_flow", "read_xml", "write_xml",
]
