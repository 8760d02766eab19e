"""Decloud's exception hierarchy: one root, specific subclasses that also derive from the builtin they refine."""

from __future__ import annotations


class DecloudError(Exception):
    """Root of every error raised by Decloud on purpose."""


class DecloudInputError(DecloudError, ValueError):
    """An input (file, parameter, model) is missing or wrong; the message names it."""


class DecloudKeyError(DecloudInputError, KeyError):
    """A name that a registry (networks, layout acquisitions...) does not know; the message lists the valid ones."""

    def __str__(self) -> str:  # KeyError's own would quote the message
        return str(self.args[0]) if self.args else ""


class DecloudIOError(DecloudError, OSError):
    """Reading or writing a file failed."""


class OTBAppError(DecloudError, RuntimeError):
    """An OTB application failed; the message names the app and OTB's own error."""


class DecloudBusyError(DecloudError):
    """An output folder is in use by another run (its lock is held); the message names that run."""
