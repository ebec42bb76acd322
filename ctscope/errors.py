"""Errors users see.  ``InputError`` is bad input: the CLI prints one line naming the
file and position and exits 2 (no traceback unless ``--debug``)."""
from __future__ import annotations


class CtscopeError(Exception):
    """Base class of errors the CLI reports in one line."""

    exit_code = 2

    def __init__(self, message: str, where: str | None = None):
        super().__init__(message)
        self.message = message
        self.where = where

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class InputError(CtscopeError):
    """A file, option or value the user gave cannot be used."""


class PrivilegeError(CtscopeError):
    """The command needs a privilege this process does not have."""
