"""Typed spec options: what each user-settable entry of a spec's config accepts.

A spec maps each option name to one of these. ``check`` takes a Python value (``get_model(...,
aux_logits=True)``) and returns it in canonical form or raises ``InvalidValueError``; ``parse``
reads the text of ``--option KEY=VALUE`` first. Messages are one line naming the model, the
option, the value given and what would be right.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from cnnbench.core.errors import InvalidValueError
from cnnbench.core.user_values import boolean, choice, finite_float, number_range


class Option(ABC):
    @abstractmethod
    def describe(self) -> str:
        """What a value must be: ``true or false``, ``one of max, avg``, ``a number in [0, 1)``."""

    @abstractmethod
    def check(self, label: str, value: Any) -> Any:
        """``value`` in canonical form; ``label`` (``"googlenet: option aux_logits"``) starts the error."""

    @abstractmethod
    def parse(self, label: str, text: str) -> Any:
        """The checked value written as ``text`` on the command line."""

    def _unreadable(self, label: str, text: str) -> InvalidValueError:
        return InvalidValueError(f"{label} must be {self.describe()}, got {text!r}")


@dataclass(frozen=True)
class Flag(Option):
    """True or False; on the command line ``true`` or ``false`` (any case)."""

    def describe(self) -> str:
        return "true or false"

    def check(self, label: str, value: Any) -> bool:
        return boolean(label, value)

    def parse(self, label: str, text: str) -> bool:
        word = text.strip().lower()
        if word not in ("true", "false"):
            raise self._unreadable(label, text)
        return word == "true"


@dataclass(frozen=True, init=False)
class OneOf(Option):
    """One of a few values (strings match case-insensitively, ``"MAX"`` -> ``"max"``)."""

    values: tuple

    def __init__(self, *values: Any):
        object.__setattr__(self, "values", values)

    def describe(self) -> str:
        return f"one of {', '.join(map(str, self.values))}"

    def check(self, label: str, value: Any) -> Any:
        return choice(label, value, self.values)

    def parse(self, label: str, text: str) -> Any:
        if all(isinstance(v, str) for v in self.values):
            return self.check(label, text.strip())
        try:
            value = int(text)
        except ValueError:
            raise self._unreadable(label, text) from None
        return self.check(label, value)


@dataclass(frozen=True)
class Number(Option):
    """A finite real number within ``lo``..``hi`` (each end closed unless ``*_open``)."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def describe(self) -> str:
        return number_range(self.lo, self.hi, lo_open=self.lo_open, hi_open=self.hi_open)

    def check(self, label: str, value: Any) -> float:
        return finite_float(label, value, self.lo, self.hi, lo_open=self.lo_open, hi_open=self.hi_open)

    def parse(self, label: str, text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise self._unreadable(label, text) from None
        return self.check(label, value)


# Options several families share. Keras' Dropout refuses a rate of 1 (PyTorch would zero everything).
DROPOUT = Number(0, 1, hi_open=True)
BN_EPS = Number(0, lo_open=True)  # BatchNorm's epsilon: added to the variance, so > 0
