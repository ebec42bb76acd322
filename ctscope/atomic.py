"""Atomic output files: nothing half-written is ever left behind.

``OutputSet`` collects every output file of a command; each is written to a temporary
file in the target directory and renamed into place only by ``commit()``, after the
whole command succeeded.  ``discard()`` (on error or Ctrl-C) removes the temporaries.
"""
from __future__ import annotations

import os
import tempfile
from typing import IO

from .errors import InputError


class OutputSet:
    def __init__(self) -> None:
        self._pending: list[tuple[str, str, IO]] = []

    def open(self, path: str, mode: str = "w") -> IO:
        directory = os.path.dirname(os.path.abspath(path)) or "."
        if os.path.isdir(path):
            raise InputError("cannot write: is a directory", path)
        try:
            fd, tmp = tempfile.mkstemp(prefix=".ctscope-", suffix=".tmp", dir=directory)
        except OSError as exc:
            raise InputError(f"cannot write: {exc.strerror}", path) from None
        fh = os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"}))
        self._pending.append((tmp, path, fh))
        return fh

    def commit(self) -> None:
        try:
            for tmp, path, fh in self._pending:
                if not fh.closed:
                    fh.close()
            for tmp, path, fh in list(self._pending):
                os.replace(tmp, path)
                self._pending.remove((tmp, path, fh))
        except OSError as exc:      # disk full on close, target replaced by a directory ...
            self.discard()
            raise InputError(f"cannot write: {exc.strerror}", exc.filename or "output") from None

    def discard(self) -> None:
        for tmp, _path, fh in self._pending:
            try:
                if not fh.closed:
                    fh.close()
                os.unlink(tmp)
            except OSError:
                pass
        self._pending.clear()

    def __enter__(self) -> "OutputSet":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def write_text_atomic(path: str, text: str) -> None:
    with OutputSet() as out:
        out.open(path).write(text)
