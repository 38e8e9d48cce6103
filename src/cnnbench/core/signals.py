"""SIGINT and SIGTERM end a long command the same way: as Ctrl-C (KeyboardInterrupt), so that what was
measured is saved on the way out, with the signal's name recorded; the command then exits with the
shell's status for that signal, 128 + its number (docs/reliability.md)."""
from __future__ import annotations

import signal
from typing import Callable

SIGNAL_EXIT = {"SIGINT": 128 + signal.SIGINT, "SIGTERM": 128 + signal.SIGTERM}  # 130, 143


def stop_like_ctrl_c(record: Callable[[str], None]) -> None:
    """On SIGINT or SIGTERM (a CI cancel, `timeout`, a batch scheduler): ``record(name)``, then
    KeyboardInterrupt. Outside the main thread (a command run from a thread) the defaults stay."""
    def handler(signum, frame):
        name = signal.Signals(signum).name
        record(name)
        raise KeyboardInterrupt(f"{name} received")

    try:
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread
        pass
