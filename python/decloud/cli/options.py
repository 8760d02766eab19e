"""Parsing helpers shared by the commands."""

from __future__ import annotations

from ..errors import DecloudInputError


def parse_assignments(items: list[str] | None, option: str, form: str) -> dict[str, str]:
    """``["A=x", "B=y"]`` -> ``{"A": "x", "B": "y"}``; an item without ``=`` names ``option`` and ``form``."""
    parsed = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise DecloudInputError(f"{option}: {item!r} is not {form}")
        parsed[key] = value
    return parsed
