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
the server (its commands: ``cnnbench.worker.server``); ``Worker`` here is the client; the memory
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

from cnnbench.worker import PROTOCOL


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


def _environment(runtime: str, device: str, settings, env: dict | None, pythonpath: str | None,
                 affinity: list[int] | None) -> dict:
    """What a worker process (or a fork server) of ``runtime`` starts with: the run's settings as the
    variables the frameworks read at import, then ``env``; ``pythonpath`` first on the path."""
    from cnnbench.core.case import split_runtime
    from cnnbench.core.settings import Settings, worker_env

    settings = settings if isinstance(settings, Settings) else Settings.from_dict(settings or {})
    _, keras_backend = split_runtime(runtime)
    full_env = {**os.environ, **worker_env(settings, device=device, keras_backend=keras_backend), **(env or {})}
    full_env.setdefault("PYTHONUNBUFFERED", "1")
    if pythonpath:
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [pythonpath, full_env.get("PYTHONPATH")]))
    if affinity:
        full_env["CNNBENCH_CPU_AFFINITY"] = ",".join(map(str, affinity))
    return full_env


class ForkServer:
    """A fork server of one runtime under one set of settings (cnnbench.worker.forkserver): give it as
    ``Worker(..., fork_server=server)`` and the worker is forked from it instead of a new interpreter."""

    def __init__(self, runtime: str, device: str, settings, *, start_timeout: float = 600.0):
        import socket

        self.runtime, self.device = runtime, device
        self.settings = settings
        self._dir = tempfile.mkdtemp(prefix="cnnbench-forkserver-")
        path = os.path.join(self._dir, "socket")
        self.log = tempfile.NamedTemporaryFile(prefix=f"cnnbench-forkserver-{runtime}-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cnnbench.worker", "--fork-server", path, runtime],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.log, text=True,
            env=_environment(runtime, device, settings, None, None, None), start_new_session=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], start_timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.close()
            raise WorkerDied(f"the {runtime} fork server did not start", "")
        self.info = json.loads(line)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.connect(path)
        self._replies = self._sock.makefile("r")

    def _ask(self, msg: dict, fds: list[int] = ()) -> dict:
        import socket

        data = (json.dumps(msg) + "\n").encode()
        if fds:
            socket.send_fds(self._sock, [data], list(fds))
        else:
            self._sock.sendall(data)
        line = self._replies.readline()
        if not line:
            raise WorkerDied(f"the {self.runtime} fork server ended", "")
        return json.loads(line)

    def fork(self, cmd_r: int, rep_w: int, log_fd: int) -> int:
        return self._ask({"cmd": "fork"}, [cmd_r, rep_w, log_fd])["pid"]

    def status(self, pid: int) -> int | None:
        """None while the child runs, then its exit code (negative: the signal that ended it)."""
        reply = self._ask({"cmd": "status", "pid": pid})
        return None if reply["running"] else reply["code"]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        import shutil

        if self.proc.poll() is None:
            try:
                self._ask({"cmd": "quit"})
                self.proc.wait(timeout=10)
            except (OSError, ValueError, AttributeError, WorkerDied, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except OSError:
                    pass
                self.proc.wait()
        for closing in (getattr(self, "_replies", None), getattr(self, "_sock", None), self.proc.stdout):
            try:
                closing and closing.close()
            except OSError:
                pass
        self.log.close()
        for path in (self.log.name,):
            try:
                os.unlink(path)
            except OSError:
                pass
        shutil.rmtree(self._dir, ignore_errors=True)


class _ForkedProcess:
    """What ``Worker`` asks of its process (``subprocess.Popen``'s pid, poll, wait, kill), for a worker
    forked by a fork server: only the server, its parent, can wait for it, so poll asks the server."""

    def __init__(self, pid: int, server: ForkServer):
        self.pid, self.server, self.returncode = pid, server, None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                self.returncode = self.server.status(self.pid)
            except (OSError, ValueError, WorkerDied):  # the server is gone, and with it the way to ask
                self.returncode = 0 if not _pid_alive(self.pid) else None
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"forked worker {self.pid}", timeout)
            time.sleep(0.02)
        return self.returncode

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


class Worker:
    """A worker process serving one runtime on one device under one set of settings.

    ``pythonpath`` puts another checkout first (the paired engine's baseline worktree), ``env``
    adds variables, ``affinity`` pins the worker to those CPU cores, ``launcher`` starts its python under
    another program (Valgrind: ``cnnbench.core.callgrind.valgrind_command``). ``fork_server``: fork the worker
    from that server (same runtime, device and settings; no ``env``, ``pythonpath``, ``affinity``, ``cwd`` or
    ``launcher`` of its own) instead of starting an interpreter.
    """

    def __init__(self, runtime: str, device: str, settings, *, env: dict | None = None,
                 pythonpath: str | None = None, affinity: list[int] | None = None, cwd: str | None = None,
                 start_timeout: float = 600.0, wait: bool = True, fork_server: ForkServer | None = None,
                 launcher: list[str] | None = None):
        from cnnbench.core.settings import Settings

        settings = settings if isinstance(settings, Settings) else Settings.from_dict(settings or {})
        self.runtime, self.device = runtime, device
        if fork_server is not None and ((env, pythonpath, affinity, cwd, launcher) != (None,) * 5
                                        or fork_server.runtime != runtime):
            raise ValueError("a forked worker takes its runtime, environment and directory from its fork server")
        cmd_r, cmd_w = os.pipe()
        rep_r, rep_w = os.pipe()
        self.log = tempfile.NamedTemporaryFile(prefix=f"cnnbench-worker-{runtime}-", suffix=".log", delete=False)
        if fork_server is not None:
            try:
                self.proc = _ForkedProcess(fork_server.fork(cmd_r, rep_w, self.log.fileno()), fork_server)
            except (OSError, ValueError) as exc:
                raise WorkerDied(f"the {runtime} fork server could not fork a worker ({exc})", "") from None
        else:
            self.proc = subprocess.Popen(
                # the pipes' numbers at a fixed width: argv's size moves where the stack starts, and with it an
                # instruction count (docs/instructions.md), and two workers started at once get other numbers
                [*(launcher or []), sys.executable, "-m", "cnnbench.worker", f"{cmd_r:07d}", f"{rep_w:07d}"],
                pass_fds=(cmd_r, rep_w), stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
                env=_environment(runtime, device, settings, env, pythonpath, affinity), cwd=cwd,
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

    @property
    def pid(self) -> int:
        return self.proc.pid

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

