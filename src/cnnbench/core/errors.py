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


class UnsupportedCaseError(CnnbenchError, ValueError):
    """A valid combination that a runtime cannot run (say, fp16 training of Keras on JAX)."""


# CUDA's torch.OutOfMemoryError, TensorFlow's ResourceExhaustedError, Python's (and numpy's) MemoryError
_OOM_TYPES = {"OutOfMemoryError", "ResourceExhaustedError", "MemoryError"}
# the CPU allocators: PyTorch "DefaultCPUAllocator: can't allocate memory", TF "OOM when allocating tensor",
# XLA "RESOURCE_EXHAUSTED: Out of memory"
_OOM_TEXT = ("out of memory", "can't allocate memory", "cannot allocate memory", "oom when allocating",
             "resource_exhausted")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is a framework or allocator running out of memory, on any device."""
    return (any(cls.__name__ in _OOM_TYPES for cls in type(exc).__mro__)
            or any(text in str(exc).lower() for text in _OOM_TEXT))


def out_of_memory_reason(batch: int, device: str, error_type: str, message: str) -> str:
    """The skip reason: what ran out, the framework's own first line, and what would fit instead."""
    lines = message.strip().splitlines()
    detail = lines[0][:240] if lines else error_type
    return (f"out of memory at batch {batch} on {device}: {error_type}: {detail} "
            "(a smaller batch, --batch-sizes, or a smaller --input-size would fit)")


class InvalidValueError(CnnbenchError, ValueError):
    """A value of the wrong type or outside its range (an argument, a spec option); the message
    names the value given and what would be right."""
