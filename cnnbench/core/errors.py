"""Errors with messages that say what is wrong and what would be right."""
from __future__ import annotations


class CnnbenchError(Exception):
    """Base class: a user-facing error whose message is meant to be printed as is."""


class UnknownModelError(CnnbenchError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class UnknownFrameworkError(CnnbenchError, ValueError):
    pass


class FrameworkUnavailableError(CnnbenchError, ImportError):
    pass


class InputTooSmallError(CnnbenchError, ValueError):
    pass


class NoBuilderError(CnnbenchError, LookupError):
    """A registered model has no builder in the framework asked for (its family file has no twin there)."""


class TransferError(CnnbenchError, ValueError):
    pass


class InvalidValueError(CnnbenchError, ValueError):
    """A value of the wrong type or outside its range (an argument, a spec option); the message
    names the value given and what would be right."""
