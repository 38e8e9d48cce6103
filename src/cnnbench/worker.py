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
framework's, written to a log file whose tail explains a crash. ``python -m cnnbench.worker`` is the
server; ``Worker`` is the client.
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
import traceback

from cnnbench.core.procfs import kib_field

PROTOCOL = 1


# ------------------------------------------------------------------ process memory (Linux)
def _status_bytes(field: str) -> int | None:
    return kib_field("/proc/self/status", field)


def rss_bytes() -> int | None:
    """Resident set size of this process now (Linux VmRSS)."""
    return _status_bytes("VmRSS")


def peak_rss_bytes() -> int | None:
    """Peak RSS of this address space (Linux VmHWM). Not ru_maxrss: Linux carries the parent's
    high-water mark across fork and exec into it."""
    return _status_bytes("VmHWM")


def release_free_heap() -> None:
    """Give freed heap memory back to the kernel (glibc malloc_trim), so that resident memory counts
    what is live, not what an allocator keeps cached after a compile or a warm-up; a no-op elsewhere."""
    import ctypes
    import ctypes.util

    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS; False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def busy_wait(seconds: float) -> None:
    """TEST ONLY: hold the CPU for ``seconds``, the way slower code would. A ``time.sleep`` lets the
    cores idle, and intra-op thread pools then pay to wake up in the next step (a 15% sleep slowed
    steps on a 2-core machine by 1.1x to 4.4x)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


# ------------------------------------------------------------------ the server
class _Server:
    def __init__(self, runtime: str, device: str, settings: dict):
        from cnnbench.backends import runtime_backend
        from cnnbench.core.settings import Settings

        self.device = device
        self.settings = Settings.from_dict(settings)
        start = time.perf_counter()
        self.backend = runtime_backend(runtime)
        self.backend.configure(self.settings, device)
        self.backend.warm_runtime()
        self.import_s = time.perf_counter() - start
        release_free_heap()
        self.runtime_rss = rss_bytes()
        self.prep = None
        self.case = None
        self.delay_s = 0.0  # TEST ONLY (inject_delay): seconds, or ...
        self.delay_fraction = 0.0  # ... a share of each step's own time, busy-waited after the step
        self._injected: list[float] = []  # the waits since the last `time`

    def ready(self) -> dict:
        return {"protocol": PROTOCOL, "pid": os.getpid(), "import_s": self.import_s,
                "runtime_rss_bytes": self.runtime_rss, "versions": self.backend.versions(self.device),
                "settings": self.backend.effective_settings(self.device),
                "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
                "device_available": self.backend.device_available(self.device),
                "distributed": self.backend.distributed_info()}

    # one method per command; each returns a JSON-able dict
    def prepare(self, case: dict, seed: int = 0) -> dict:
        from cnnbench.core.case import Case

        self.case = Case.from_dict(case)
        self.prep = self.backend.prepare(self.case, seed)
        p = self.prep
        return {"build_s": p.build_s, "first_step_s": p.first_step_s, "params": p.params,
                "trainable_params": p.trainable_params, "notes": p.notes}

    def _one(self) -> tuple[object, float]:
        start = time.perf_counter()
        out = self.prep.step()  # returns after the device is synchronized
        if self.delay_s or self.delay_fraction:
            wait = self.delay_s + self.delay_fraction * (time.perf_counter() - start)
            busy_wait(wait)
            self._injected.append(wait)
        return out, time.perf_counter() - start

    def warmup(self, rounds: int = 1, seconds: float = 0.0) -> dict:
        """Untimed steps until both ``rounds`` steps and ``seconds`` have passed."""
        start = time.perf_counter()
        done, last = 0, 0.0
        while done < max(1, rounds) or time.perf_counter() - start < seconds:
            _, last = self._one()
            done += 1
        return {"steps": done, "last_s": last}

    def inject_delay(self, amount: float, unit: str) -> dict:
        """TEST ONLY: after every later step, inside its timing, a busy wait of ``amount`` seconds (unit
        "s"), or of that share of the step's own time (unit "fraction": every step then takes exactly
        1 + amount times as long as it did, whatever its neighbours do to it; a share of a step probed
        once made training steps, slower in rounds than when probed, only ~1.09x slower for 15%)."""
        self.delay_s, self.delay_fraction = (0.0, amount) if unit == "fraction" else (amount, 0.0)
        self._injected = []
        return {"delay_s": self.delay_s, "delay_fraction": self.delay_fraction}

    def time(self, rounds: int) -> dict:
        """``rounds`` timed steps back to back; the last step's result is checked (NaN/inf loss)."""
        times, out = [], None
        self._injected = []
        for _ in range(rounds):
            out, t = self._one()
            times.append(t)
        self.prep.check(out)
        if self._injected:  # TEST ONLY: the wait added to each of these steps, and their mean
            return {"times": times, "injected": list(self._injected),
                    "injected_s": sum(self._injected) / len(self._injected)}
        return {"times": times}

    def step(self, n: int = 1) -> dict:
        return self.time(n)

    def memory(self) -> dict:
        """Peak memory of one steady step, measured the same way for every runtime on a device."""
        b = self.backend
        if self.device == "cuda":
            b.reset_allocator_peak(self.device)
            self._one()
            return {"peak_memory_bytes": b.allocator_peak_bytes(self.device), "peak_memory_method": "allocator_peak",
                    "peak_memory_kind": b.ALLOCATOR_PEAK_KIND}
        release_free_heap()
        reset = reset_peak_rss()
        self._one()
        peak = peak_rss_bytes()
        base = self.runtime_rss
        if peak is None or base is None:
            return {"peak_memory_bytes": None, "peak_memory_method": None,
                    "peak_memory_kind": "unavailable: /proc/self/status cannot be read on this system"}
        kind = ("process peak RSS during one steady step, minus the framework runtime's own RSS measured before "
                "the model was built (fresh worker process per case)")
        if not reset:
            kind = ("process peak RSS since the worker started (/proc/self/clear_refs not writable here: includes "
                    "building and the first step), minus the framework runtime's own RSS")
        return {"peak_memory_bytes": peak - base, "peak_memory_method": "rss_delta" if reset else "rss_delta_since_start",
                "peak_memory_kind": kind, "process_peak_rss_bytes": peak, "runtime_rss_bytes": base}

    def gemm_peak(self, math: str, trials: int = 5) -> dict:
        return {"flops_per_s": self.backend.gemm_peak_flops(self.device, math, trials=trials), "math": math,
                "trials": trials}

    def parity_step(self, case: dict, seed: int = 0, with_weights: bool = True) -> dict:
        """One training step for the data-parallel parity tests (see the backends' parity_step)."""
        from cnnbench.core.case import Case

        return self.backend.parity_step(Case.from_dict(case), seed, with_weights)

    def gather(self, value) -> dict:
        """Every rank's ``value`` of a data-parallel job, through the framework's collective."""
        return {"values": self.backend.gather(value)}

    def train_to_accuracy(self, **kwargs) -> dict:
        """One time-to-accuracy round (``cnnbench train`` until the target); see bench's tta cases."""
        from cnnbench.train import time_to_accuracy_round

        return time_to_accuracy_round(self.backend, **kwargs)

    def crash(self) -> dict:
        """TEST ONLY: die the way a framework's native crash does (SIGSEGV), to test who survives it."""
        os.kill(os.getpid(), signal.SIGSEGV)
        return {}


_ERROR_KINDS = (("InputTooSmallError", "input_too_small"), ("NonFiniteLoss", "nonfinite"),
                ("NotImplementedError", "unsupported"), ("UnsupportedCaseError", "unsupported"))


def _classify(exc: BaseException) -> str:
    from cnnbench.core.errors import is_out_of_memory

    if is_out_of_memory(exc):
        return "oom"
    names = {c.__name__ for c in type(exc).__mro__}
    for name, kind in _ERROR_KINDS:
        if name in names:
            return kind
    return "error"


def serve(cmd_fd: int, reply_fd: int) -> int:
    cmds = os.fdopen(cmd_fd, "r", buffering=1)
    replies = os.fdopen(reply_fd, "w", buffering=1)

    def reply(obj: dict) -> None:
        replies.write(json.dumps(obj, default=str) + "\n")
        replies.flush()

    def failure(exc: BaseException) -> dict:
        message = str(exc).strip() or type(exc).__name__
        return {"ok": False, "kind": _classify(exc), "error_type": type(exc).__name__,
                "message": message, "traceback": traceback.format_exc()}

    init = json.loads(cmds.readline())
    try:
        server = _Server(init["runtime"], init["device"], init["settings"])
        reply({"ok": True, **server.ready()})
    except BaseException as exc:  # noqa: BLE001  (reported to the parent, which decides)
        reply(failure(exc))
        return 1
    for line in cmds:
        msg = json.loads(line)
        name = msg.pop("cmd")
        if name == "quit":
            reply({"ok": True})
            break
        try:
            reply({"ok": True, **getattr(server, name)(**msg)})
        except BaseException as exc:  # noqa: BLE001
            reply(failure(exc))
            if name == "prepare":
                server.prep = None
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    cmd_fd, reply_fd = int(argv[0]), int(argv[1])
    cores = os.environ.get("CNNBENCH_CPU_AFFINITY")
    if cores and hasattr(os, "sched_setaffinity"):  # before any thread pool exists
        os.sched_setaffinity(0, {int(c) for c in cores.split(",")})
    return serve(cmd_fd, reply_fd)


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
    adds variables, ``affinity`` pins the worker to those CPU cores.
    """

    def __init__(self, runtime: str, device: str, settings, *, env: dict | None = None,
                 pythonpath: str | None = None, affinity: list[int] | None = None, cwd: str | None = None,
                 start_timeout: float = 600.0, wait: bool = True):
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
            [sys.executable, "-m", "cnnbench.worker", str(cmd_r), str(rep_w)], pass_fds=(cmd_r, rep_w),
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
