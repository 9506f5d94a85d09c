"""Small argument validators shared by the package's public functions.

Each raises :class:`stacklab.errors.InputError` with a message naming the argument, what it got,
and what to pass instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from stacklab.errors import InputError


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def require_str(name: str, value: Any, *, allow_empty: bool = False) -> str:
    """Return ``value`` if it is a string (non-empty unless ``allow_empty``)."""
    if not isinstance(value, str):
        raise InputError(f"{name} must be a string, got {type(value).__name__} {_show(value)}.")
    if not allow_empty and not value.strip():
        raise InputError(f"{name} must not be empty: pass a non-empty string.")
    return value


def require_bool(name: str, value: Any) -> bool:
    """Return ``value`` if it is a bool."""
    if not isinstance(value, bool):
        raise InputError(f"{name} must be True or False, got {_show(value)}.")
    return value


def require_number(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    integer: bool = False,
) -> float:
    """Return ``value`` if it is a real number (an int when ``integer``) within the bounds."""
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        kind = "a whole number" if integer else "a number"
        raise InputError(f"{name} must be {kind}, got {type(value).__name__} {_show(value)}.")
    if value != value:  # NaN
        raise InputError(f"{name} must be a number, got NaN.")
    if minimum is not None and value < minimum:
        raise InputError(f"{name} must be at least {minimum}, got {value}.")
    if maximum is not None and value > maximum:
        raise InputError(f"{name} must be at most {maximum}, got {value}.")
    return value


def require_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``choices``."""
    options = list(choices)
    if value not in options:
        listed = ", ".join(repr(c) for c in options)
        raise InputError(f"{name} must be one of {listed}; got {_show(value)}.")
    return value
