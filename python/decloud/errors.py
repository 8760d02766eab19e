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


class OTBAppError(DecloudError):
    """An OTB application failed. ``app`` names it, ``key`` the parameter or input at fault when it is known (None
    otherwise); the exception pyotb raised is chained as ``__cause__``; the message is OTB's own error line
    (:func:`decloud.atomic.app_failure` makes one). Whose fault it is decides the subclass: :class:`OTBAppInputError`
    (an input of the user), :class:`OTBAppIOError` (writing the output), this class itself (neither is known).

    Not a RuntimeError, though pyotb raises one: callers catch GDAL's errors as RuntimeError (a full disk...) and
    must not take an application's refusal of an input for one of them."""

    def __init__(self, message: str, *, app: str | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.app = app
        self.key = key


class OTBAppInputError(OTBAppError, DecloudInputError):
    """An OTB application refused an input of the user (an unreadable image, a wrong parameter value)."""


class OTBAppIOError(OTBAppError, DecloudIOError):
    """An OTB application failed to write its output (a full disk, an unreadable result...)."""


class DecloudBusyError(DecloudError):
    """An output folder is in use by another run (its lock is held); the message names that run."""
