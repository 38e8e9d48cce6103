"""Instruction counts under Callgrind, without a framework: the Valgrind command line, the client-request
library a worker toggles it with, the dump files' totals, and the verdict on two counts.

A worker runs under ``valgrind --tool=callgrind --instr-atstart=no``: the interpreter and the framework
start uninstrumented (Valgrind's core only, ~5-10x slower than native instead of ~50x), and the worker
switches instrumentation on after the case is prepared, zeroes the counts of every thread before the
counted steps and dumps them after, through Callgrind's client requests (``valgrind/callgrind.h``, compiled
here into a small shared library that ``ctypes`` loads; PyTorch's own ``torch._C._valgrind_toggle`` covers
collection only, not instrumentation, and is not there in a TensorFlow-only install). Each counted block
ends with a dump of its own (``CALLGRIND_DUMP_STATS_AT``), so that one Valgrind process counts many
things (variants, repeats, cases) in files ``<out>.1``, ``<out>.2``, ... (docs/instructions.md).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

# The gate's threshold: 0.5%, about twice the largest A/A change of the detector check (results/
# instructions-detector-2026-12-06.json: 0.27%, Keras/TF ResNet-18; 52 A/A pairs, same process and
# separate processes) and below the smallest change that 1% of injected work made (0.77%, the same case:
# the injection is sized by a calibration, not exactly).
DEFAULT_THRESHOLD = 0.005
MISSING_VALGRIND = ("instruction counts need Valgrind (callgrind) and a C compiler: install the system "
                    "packages valgrind and gcc (Debian/Ubuntu: apt-get install valgrind gcc)")
COUNTED = ("Ir (instructions executed, every thread of the worker process) between a zeroing before the counted "
           "steps and a dump after them; Callgrind's instrumentation on only after the case was prepared; "
           "TensorFlow's thread pools not spinning")
# "0" in the environment of a worker that counts (cnnbench.harness.instructions.COUNT_ENV): TensorFlow's thread
# pools then sleep as soon as they run out of work instead of polling for more (cnnbench.models_tf.settings;
# docs/instructions.md, "Keras on TensorFlow: no spinning threads")
TF_THREAD_SPINNING_ENV = "CNNBENCH_TF_THREAD_SPINNING"
HEADER_DIRS = ("/usr/include", "/usr/local/include")
_C_SOURCE = """\
#include <valgrind/callgrind.h>
int cg_running(void) { return RUNNING_ON_VALGRIND; }
void cg_start(void) { CALLGRIND_START_INSTRUMENTATION; }
void cg_stop(void) { CALLGRIND_STOP_INSTRUMENTATION; }
void cg_toggle(void) { CALLGRIND_TOGGLE_COLLECT; }
void cg_zero(void) { CALLGRIND_ZERO_STATS; }
void cg_dump(const char *s) { CALLGRIND_DUMP_STATS_AT(s); }
"""


def missing() -> str | None:
    """One line naming what to install, or None when Valgrind, its header and a compiler are all here."""
    header = any(Path(d, "valgrind", "callgrind.h").is_file() for d in HEADER_DIRS)
    if shutil.which("valgrind") is None or not header or _compiler() is None:
        return MISSING_VALGRIND
    return None


def _compiler() -> str | None:
    return shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")


def valgrind_version() -> str | None:
    """``valgrind-3.19.0``, or None without Valgrind."""
    try:
        return subprocess.run(["valgrind", "--version"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def client_library(cache: Path | None = None) -> Path:
    """The client-request library, compiled once per source and cached (``$XDG_CACHE_HOME/cnnbench``)."""
    cache = cache or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cnnbench"
    digest = hashlib.sha256(_C_SOURCE.encode()).hexdigest()[:12]
    lib = cache / f"callgrind-requests-{digest}.so"
    if lib.is_file():
        return lib
    cache.mkdir(parents=True, exist_ok=True)
    cc = _compiler()
    if cc is None:
        raise RuntimeError(MISSING_VALGRIND)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        src, out = Path(tmp, "requests.c"), Path(tmp, lib.name)
        src.write_text(_C_SOURCE)
        done = subprocess.run([cc, "-O1", "-shared", "-fPIC", "-o", str(out), str(src)], capture_output=True,
                              text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{MISSING_VALGRIND}; the compiler said: {done.stderr.strip()[:300]}")
        os.replace(out, lib)  # atomic: two workers compiling at once both end with a whole file
    return lib


def valgrind_command(out_file: Path | str) -> list[str]:
    """What a worker's ``python`` is started under: Callgrind, nothing instrumented or collected until the
    worker asks, every dump into ``out_file.N``."""
    return ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--collect-atstart=yes",
            f"--callgrind-out-file={out_file}", "--dump-line=no", "--dump-instr=no", "--log-fd=2"]


@dataclass(frozen=True)
class Dump:
    trigger: str  # the name given to CALLGRIND_DUMP_STATS_AT, or "Program termination"
    instructions: int  # Ir


def parse_dump(text: str) -> Dump:
    """The trigger and the Ir total of one Callgrind output file (its ``summary:`` or ``totals:`` line)."""
    trigger, total = "", None
    for line in text.splitlines():
        if line.startswith("desc: Trigger:"):
            trigger = line.split(":", 2)[2].strip().removeprefix("Client Request:").strip()
        elif line.startswith(("summary:", "totals:")) and total is None:
            total = int(line.split()[1])
    if total is None:
        raise ValueError("not a Callgrind output file: no summary: or totals: line")
    return Dump(trigger, total)


def dump_files(out_file: Path | str) -> list[Path]:
    """The numbered dumps of one run (``out_file.1``, ``.2``, ...), in the order they were written."""
    out = Path(out_file)
    found = [p for p in out.parent.glob(out.name + ".*") if p.suffix[1:].isdigit()]
    return sorted(found, key=lambda p: int(p.suffix[1:]))


# --------------------------------------------------------------- the verdict on two counts
def relative_change(a: float, b: float) -> float:
    """b's count relative to a's, minus 1 (+0.02: B executes 2% more instructions)."""
    return b / a - 1.0


def decision(a: float, b: float, threshold: float = DEFAULT_THRESHOLD) -> str:
    """regression (B above A by more than the threshold), improvement (below by more), or no change."""
    change = relative_change(a, b)
    if change > threshold:
        return "regression"
    if change < -threshold:
        return "improvement"
    return "no change"


def spread(counts: list[float]) -> float:
    """(max - min) / min of repeated counts of the same thing: 0 for one count."""
    return (max(counts) - min(counts)) / min(counts) if counts else 0.0


def change_line(case_id: str, a: float, b: float, threshold: float = DEFAULT_THRESHOLD) -> str:
    """The gate's line for one case: its id, both counts, the change and the verdict."""
    return (f"{case_id}: {a:,.0f} -> {b:,.0f} instructions a step ({relative_change(a, b):+.2%}; "
            f"threshold {threshold:.1%}): {decision(a, b, threshold)}")
