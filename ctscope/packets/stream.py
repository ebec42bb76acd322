"""Byte input for captures: a file, a gzip file (detected by its magic) or stdin,
read in large chunks into one growable numpy uint8 buffer."""
from __future__ import annotations

import gzip
import io
import os
import sys
import zlib

import numpy as np

from ..errors import InputError


class Input:
    """Byte stream (file, gzip, stdin) read into a growable numpy buffer."""

    def __init__(self, path: str, chunk: int):
        self.path = path
        self.bytes_total = None
        try:
            if not isinstance(path, (str, os.PathLike)):
                raw = path if hasattr(path, "peek") else io.BufferedReader(path)
                self.path = getattr(path, "name", "<stream>")
            elif path == "-":
                raw = sys.stdin.buffer
            else:
                raw = open(path, "rb")
                st = os.fstat(raw.fileno())
                self.bytes_total = st.st_size if st.st_size > 0 else None
        except OSError as exc:
            raise InputError(f"cannot open capture: {exc.strerror}", path) from None
        self.raw = raw
        head = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
        self.gzip = head == b"\x1f\x8b"
        self.stream = gzip.GzipFile(fileobj=raw, mode="rb") if self.gzip else raw
        self.buf = np.empty(chunk, dtype=np.uint8)
        self.start = self.end = 0
        self.base = 0            # stream offset of buf[0]
        self.eof = False
        self.final = None        # bytes consumed, frozen at close

    def offset(self, pos: int) -> int:
        return self.base + pos

    def consumed(self) -> int:
        if self.final is not None:
            return self.final
        if self.gzip:
            try:
                return self.raw.tell()
            except (OSError, ValueError):
                return 0
        return self.base + self.start

    def fill(self) -> bool:
        """Compact, grow if full, read as much as fits.  False if nothing new arrived."""
        if self.eof:
            return False
        n = self.end - self.start
        if self.start:
            self.buf[:n] = self.buf[self.start:self.end]
            self.base += self.start
            self.start, self.end = 0, n
        if self.end == len(self.buf):
            bigger = np.empty(2 * len(self.buf), dtype=np.uint8)
            bigger[:n] = self.buf[:n]
            self.buf = bigger
        got = 0
        view = memoryview(self.buf)
        while self.end < len(self.buf):
            try:
                r = self.stream.readinto(view[self.end:])
            except (OSError, EOFError, zlib.error) as exc:
                raise InputError(f"corrupt compressed stream: {exc}",
                                 f"{self.path}: byte {self.offset(self.end)}") from None
            if not r:
                self.eof = True
                break
            self.end += r
            got += r
        return got > 0

    def need(self, nbytes: int) -> bool:
        """Make ``nbytes`` available from ``start``; False at EOF before that."""
        while self.end - self.start < nbytes:
            if not self.fill():
                return False
        return True

    def close(self) -> None:
        self.final = self.consumed()
        if isinstance(self.path, (str, os.PathLike)) and self.path != "-":
            self.raw.close()
