"""Checks of values a user gives (arguments, spec options), shared by every entry point.

Each check returns the value in its canonical form or raises ``InvalidValueError`` with one line:
what the value is for, what would be right, and what was given, e.g.
``num_classes must be a positive integer, got '10' (a string)``.
"""
from __future__ import annotations

import difflib
import math
import numbers
from typing import Any, Sequence

from cnnbench.core.errors import InvalidValueError

_ARTICLES = {str: "a string", bool: "a bool", int: "an integer", float: "a float"}


def _given(value: Any, type_ok: bool) -> str:
    """``repr(value)``, with its type named when the type is what is wrong."""
    if type_ok or value is None:
        return repr(value)
    return f"{value!r} ({_ARTICLES.get(type(value), 'a ' + type(value).__name__)})"


def _fail(name: str, expected: str, value: Any, type_ok: bool, hint: str = "") -> InvalidValueError:
    return InvalidValueError(f"{name} must be {expected}, got {_given(value, type_ok)}{hint}")


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def positive_int(name: str, value: Any, *, unit: str = "") -> int:
    """An integer >= 1 (a bool or an integral float is refused); ``unit`` is said after the rule,
    e.g. ``" (pixels per side)"``."""
    if not _is_int(value) or value <= 0:
        raise _fail(name, f"a positive integer{unit}", value, _is_int(value))
    return int(value)


def number_range(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
                 hi_open: bool = False) -> str:
    """The words for a range of finite numbers: ``a number in [0, 1)``, ``a finite number > 0``."""
    if lo is not None and hi is not None:
        return f"a number in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if lo is not None:
        return f"a finite number {'>' if lo_open else '>='} {lo:g}"
    if hi is not None:
        return f"a finite number {'<' if hi_open else '<='} {hi:g}"
    return "a finite number"


def finite_float(name: str, value: Any, lo: float | None = None, hi: float | None = None, *,
                 lo_open: bool = False, hi_open: bool = False) -> float:
    """A finite real number, optionally within ``lo``..``hi`` (each end closed unless ``*_open``)."""
    expected = number_range(lo, hi, lo_open=lo_open, hi_open=hi_open)
    if not _is_real(value):
        raise _fail(name, expected, value, False)
    ok = math.isfinite(value)
    if lo is not None:
        ok = ok and (value > lo if lo_open else value >= lo)
    if hi is not None:
        ok = ok and (value < hi if hi_open else value <= hi)
    if not ok:
        raise _fail(name, expected, value, True)
    return float(value)


def boolean(name: str, value: Any) -> bool:
    """True or False itself (not a string such as ``"false"``, which Python would call true)."""
    if not isinstance(value, bool):
        raise _fail(name, "true or false", value, False)
    return value


def _same_kind(value: Any, option: Any) -> bool:
    if isinstance(option, str):
        return isinstance(value, str)
    if isinstance(option, numbers.Integral):
        return _is_int(value)
    return isinstance(value, type(option))


def choice(name: str, value: Any, allowed: Sequence[Any]) -> Any:
    """One of ``allowed``, returned as spelled there; strings match case-insensitively
    (``"MAX"`` -> ``"max"``). A near miss is suggested."""
    for option in allowed:
        if _same_kind(value, option) and (
                value.lower() == option.lower() if isinstance(option, str) else value == option):
            return option
    type_ok = any(_same_kind(value, option) for option in allowed)
    close = difflib.get_close_matches(str(value).lower(), [str(a) for a in allowed], n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close and type_ok else ""
    raise _fail(name, f"one of {', '.join(map(str, allowed))}", value, type_ok, hint)
