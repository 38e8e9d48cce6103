"""The worker process's side: one framework runtime, one prepared case, stepped on command.

``python -m cnnbench.worker`` runs ``serve`` (through ``cnnbench.worker.__main__``; the protocol's
number is ``cnnbench.worker.PROTOCOL``); the client, ``cnnbench.worker.client.Worker``, starts it and sends the commands below, one
JSON object a line. Each command is a method of ``_Server`` returning a JSON-able dict.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback

from cnnbench.core.procfs import peak_rss_bytes, release_free_heap, reset_peak_rss, rss_bytes


def busy_wait(seconds: float) -> None:
    """TEST ONLY: hold the CPU for ``seconds``, the way slower code would. A ``time.sleep`` lets the
    cores idle, and intra-op thread pools then pay to wake up in the next step (a 15% sleep slowed
    steps on a 2-core machine by 1.1x to 4.4x)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


class _Server:
    def __init__(self, runtime: str, device: str, settings: dict, protocol: int, forked: bool = False,
                 populated: dict | None = None):
        from cnnbench.core.settings import Settings
        from cnnbench.worker.lean_imports import leaving_out, left_out
        from cnnbench.zoo.dispatch import runtime_backend

        self.device, self.protocol, self.forked, self.populated = device, protocol, forked, populated
        self.settings = Settings.from_dict(settings)
        start = time.perf_counter()
        with leaving_out(left_out(runtime)) as absent:  # a forked worker's server left out the same (lean_imports)
            self.imports_left_out = list(absent)
            self.backend = runtime_backend(runtime)
            self.backend.configure(self.settings, device)
            self.backend.warm_runtime()
        # a forked worker's start-up includes mapping the server's library pages again (fork server)
        self.import_s = time.perf_counter() - start + ((populated or {}).get("s") or 0.0)
        release_free_heap()
        self.runtime_rss = rss_bytes()
        self.prep = None
        self.case = None
        self.delay_s = 0.0  # TEST ONLY (inject_delay): seconds, or ...
        self.delay_fraction = 0.0  # ... a share of each step's own time, busy-waited after the step
        self._injected: list[float] = []  # the waits since the last `time`

    def ready(self) -> dict:
        return {"protocol": self.protocol, "pid": os.getpid(), "import_s": self.import_s, "forked": self.forked,
                "imports_left_out": self.imports_left_out,
                "populated": self.populated,
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
                "trainable_params": p.trainable_params, "notes": p.notes,
                "extra": p.extra}

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

    def layer_times(self, steps: int = 5) -> dict:
        """``steps`` more steps under the framework's profiler: their time per layer name (see the
        backends' ``layer_times``; ``cnnbench profile --layer-times``)."""
        if self.prep.layer_times is None:
            raise NotImplementedError(f"{self.backend.RUNTIME}: no per-layer times (they read TensorFlow's or "
                                      "PyTorch's profiler)")
        return self.prep.layer_times(steps)

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
        steady = rss_bytes()  # after build and warm-up: weights, the allocator's pools, compiled code
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
        # the step's own memory: what one steady step adds above the steady state it starts from (only
        # where the peak mark could be reset to that state)
        step_peak = peak - steady if reset and steady is not None else None
        return {"peak_memory_bytes": peak - base, "peak_memory_method": "rss_delta" if reset else "rss_delta_since_start",
                "peak_memory_kind": kind, "process_peak_rss_bytes": peak, "runtime_rss_bytes": base,
                "steady_rss_bytes": steady, "step_peak_memory_bytes": step_peak}

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
        from cnnbench.train.loop import time_to_accuracy_round

        return time_to_accuracy_round(self.backend, **kwargs)

    def count_instructions(self, library: str, out_file: str, steps: int = 3, repeats: int = 1,
                           work: list | None = None, label: str = "case") -> dict:
        """Callgrind's instructions a step of the prepared case, in a worker started under Valgrind
        (``cnnbench.worker.instruction_count``; docs/instructions.md)."""
        from cnnbench.worker.instruction_count import count_steps

        got = count_steps(self.prep.step, library=library, out_file=out_file, steps=steps, repeats=repeats,
                          work=work, label=label)
        if "cnnbench.models_tf.settings" in sys.modules:  # a Keras worker: whether TensorFlow's pools spun
            got["tf_thread_spinning"] = sys.modules["cnnbench.models_tf.settings"].thread_spinning()
        return got

    def release(self) -> dict:
        """Free the prepared case (its cleanup), before another is prepared (the LoadGen Offline sweep)."""
        if self.prep is not None:
            self.prep.cleanup()
            self.prep = None
        return {}

    def loadgen(self, scenario: str, settings: dict, outdir: str) -> dict:
        """One LoadGen test of the prepared case (cnnbench.loadgen.sut; docs/loadgen.md)."""
        from cnnbench.loadgen.sut import run

        return run(self, scenario, settings, outdir)

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


def serve(cmd_fd: int, reply_fd: int, protocol: int, forked: bool = False, populated: dict | None = None) -> int:
    """Answer the client's commands on two pipes until it says quit; ``protocol`` is reported in the
    start-up reply, which the client checks against its own; ``forked``: started from a fork server
    (cnnbench.worker.forkserver), whose imports this process inherited; ``populated``: the bytes of the
    server's resident library pages it mapped again before its baseline, and the seconds that took."""
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
        server = _Server(init["runtime"], init["device"], init["settings"], protocol, forked, populated)
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
