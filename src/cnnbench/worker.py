"""Worker processes: one framework runtime, one prepared case, stepped on command.

Every measurement of the suite runs in a worker: the pytest-benchmark harness (a fresh worker per
case), the paired A/B engine (one long-lived worker per side, stepped alternately) and the
distributed cases (one worker per rank). A worker

* applies the run's settings *before* its framework starts (threads, oneDNN, TF32, autotuning,
  ``KERAS_BACKEND``, CPU affinity), then reads back what is in force;
* measures the framework runtime's own resident memory before building anything, so that a case's
  peak memory can leave it out (and so that no case sees what an earlier case left behind: a fresh
  process per case);
* times its steps itself with ``time.perf_counter`` around a synchronized step, so that the pipe
  between parent and worker never enters a timing;
* dies alone when a framework crashes natively (TensorFlow's CPU convolution segfaults on a failed
  allocation): the parent records why and goes on with the next case.

Protocol: one JSON object per line on two pipes (commands in, replies out); stdout and stderr are the
framework's, written to a log file whose tail explains a crash. ``python -m cnnbench.worker`` starts
the server (its commands: ``cnnbench.worker_server``); ``Worker`` here is the client; the memory
probes are ``cnnbench.core.procfs``'s.
"""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time

# The wire protocol's number, on a line of its own: the paired engine reads it from a baseline commit's
# worker.py with `git show` (cnnbench.ab.checkout) and refuses a baseline whose workers speak another.
PROTOCOL = 1


def main(argv: list[str] | None = None) -> int:
    """``python -m cnnbench.worker CMD_FD REPLY_FD``: pin the CPU cores, then serve the client."""
    argv = sys.argv[1:] if argv is None else argv
    cmd_fd, reply_fd = int(argv[0]), int(argv[1])
    cores = os.environ.get("CNNBENCH_CPU_AFFINITY")
    if cores and hasattr(os, "sched_setaffinity"):  # before any thread pool exists
        os.sched_setaffinity(0, {int(c) for c in cores.split(",")})
    from cnnbench.worker_server import serve

    return serve(cmd_fd, reply_fd, PROTOCOL)


# ------------------------------------------------------------------ the client
class WorkerError(Exception):
    """A command failed inside the worker; ``kind`` is oom | input_too_small | nonfinite | unsupported | error."""

    def __init__(self, kind: str, message: str, error_type: str = "", tb: str = ""):
        super().__init__(message)
        self.kind, self.message, self.error_type, self.traceback = kind, message, error_type, tb


class WorkerDied(Exception):
    """The worker process ended without answering (a native crash, the OOM killer, a signal)."""

    def __init__(self, how: str, log_tail: str):
        super().__init__(how + (f"; its last output: {log_tail}" if log_tail else ""))
        self.how, self.log_tail = how, log_tail


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "the worker stopped answering"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        extra = {"SIGSEGV": " (a native crash of the framework)", "SIGKILL": " (killed: the kernel's OOM "
                 "killer, or a timeout)", "SIGABRT": " (the framework aborted)"}.get(name, "")
        return f"the worker process was killed by {name}{extra}"
    return f"the worker process exited with status {code}"


class Worker:
    """A worker process serving one runtime on one device under one set of settings.

    ``pythonpath`` puts another checkout first (the paired engine's baseline worktree), ``env``
    adds variables, ``affinity`` pins the worker to those CPU cores, ``launcher`` starts its python under
    another program (Valgrind: ``cnnbench.core.callgrind.valgrind_command``).
    """

    def __init__(self, runtime: str, device: str, settings, *, env: dict | None = None,
                 pythonpath: str | None = None, affinity: list[int] | None = None, cwd: str | None = None,
                 start_timeout: float = 600.0, wait: bool = True, launcher: list[str] | None = None):
        from cnnbench.core.case import split_runtime
        from cnnbench.core.settings import Settings, worker_env

        settings = settings if isinstance(settings, Settings) else Settings.from_dict(settings or {})
        _, keras_backend = split_runtime(runtime)
        self.runtime, self.device = runtime, device
        full_env = {**os.environ, **worker_env(settings, device=device, keras_backend=keras_backend), **(env or {})}
        full_env.setdefault("PYTHONUNBUFFERED", "1")
        if pythonpath:
            full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [pythonpath, full_env.get("PYTHONPATH")]))
        if affinity:
            full_env["CNNBENCH_CPU_AFFINITY"] = ",".join(map(str, affinity))
        cmd_r, cmd_w = os.pipe()
        rep_r, rep_w = os.pipe()
        self.log = tempfile.NamedTemporaryFile(prefix=f"cnnbench-worker-{runtime}-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [*(launcher or []), sys.executable, "-m", "cnnbench.worker", str(cmd_r), str(rep_w)],
            pass_fds=(cmd_r, rep_w),
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, env=full_env, cwd=cwd,
            start_new_session=True)  # a Ctrl-C in the terminal reaches the harness, which ends its workers
        os.close(cmd_r)
        os.close(rep_w)
        self._cmd = os.fdopen(cmd_w, "w", buffering=1)
        self._rep = os.fdopen(rep_r, "r", buffering=1)
        self._send({"runtime": runtime, "device": device, "settings": settings.to_dict()})
        self.info: dict = {}
        if wait:
            self.wait_ready(start_timeout)

    def wait_ready(self, timeout: float = 600.0) -> dict:
        """The worker's start-up report (versions, settings in force, runtime memory); workers of one
        data-parallel job are started first and waited for together (each waits for the others)."""
        self.info = self._receive(timeout)
        if self.info.get("protocol") != PROTOCOL:
            self.close()
            raise WorkerError("error", f"the worker speaks protocol {self.info.get('protocol')}, this client "
                                       f"{PROTOCOL}: the two checkouts are too far apart")
        return self.info

    def send(self, cmd: str, **args) -> None:
        """Send a command without waiting (a data-parallel job commands all its workers, then reads)."""
        self._send({"cmd": cmd, **args})

    def receive(self, timeout: float | None = None) -> dict:
        return self._receive(timeout)

    def _send(self, obj: dict) -> None:
        try:
            self._cmd.write(json.dumps(obj) + "\n")
            self._cmd.flush()
        except (BrokenPipeError, OSError):
            self._died()

    def _log_tail(self, lines: int = 3) -> str:
        try:
            with open(self.log.name, errors="replace") as f:
                tail = [ln.strip() for ln in f.read()[-4000:].splitlines() if ln.strip()]
            return " | ".join(tail[-lines:])
        except OSError:
            return ""

    def _died(self):
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        raise WorkerDied(_describe_exit(code), self._log_tail())

    def _receive(self, timeout: float | None) -> dict:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self._rep], [], [], wait)
            if not ready:
                self.kill()
                raise WorkerDied(f"the worker did not answer within {timeout:.0f} s and was killed",
                                 self._log_tail())
            line = self._rep.readline()
            if not line:
                self._died()
            msg = json.loads(line)
            if not msg.pop("ok"):
                raise WorkerError(msg["kind"], msg["message"], msg.get("error_type", ""), msg.get("traceback", ""))
            return msg

    def call(self, cmd: str, timeout: float | None = None, **args) -> dict:
        self._send({"cmd": cmd, **args})
        return self._receive(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                self.proc.kill()
            self.proc.wait()

    def close(self) -> None:
        """Ask the worker to quit; kill it if it does not within a few seconds. Removes its log."""
        if self.proc.poll() is None:
            try:
                self.call("quit", timeout=10)
                self.proc.wait(timeout=10)
            except (WorkerDied, WorkerError, subprocess.TimeoutExpired, OSError, ValueError):
                self.kill()
        for f in (self._cmd, self._rep):
            try:
                f.close()
            except OSError:
                pass
        try:
            self.log.close()
            os.unlink(self.log.name)
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


if __name__ == "__main__":
    sys.exit(main())
