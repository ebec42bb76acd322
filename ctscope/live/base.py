"""Shared pieces of the read-only live readers: a ``Problem`` says what could not be
read and why; ``read_text`` never raises for an unreadable file."""
from __future__ import annotations

import errno
import os
from dataclasses import asdict, dataclass


@dataclass
class Problem:
    """Something a reader could not read, and why (for the report, never an exception)."""

    what: str
    why: str

    def as_dict(self) -> dict:
        return asdict(self)


def why(exc: OSError) -> str:
    """Short reason for an OSError, with the usual cause spelled out."""
    if exc.errno == errno.ENOENT:
        return "does not exist (nf_conntrack not loaded, or CONFIG option off)"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied (needs root)"
    return exc.strerror or str(exc)


def read_text(path: str, problems: list[Problem] | None = None, limit: int | None = None) -> str | None:
    """Contents of ``path`` or None (the reason appended to ``problems``)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read() if limit is None else fh.read(limit)
        return data.decode("utf-8", "replace")
    except OSError as exc:
        if problems is not None:
            problems.append(Problem(path, why(exc)))
        return None


def exists(path: str) -> bool:
    return os.path.lexists(path)
