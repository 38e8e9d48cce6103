"""Linux memory read without a framework: the harness reads the machine's (``/proc/meminfo``), a
worker its own resident memory (``/proc/self/status``), which it can reset and trim between steps."""
from __future__ import annotations

import functools
import re


def kib_field(path: str, field: str) -> int | None:
    """The ``Field:   1234 kB`` line of a /proc file, in bytes; None where the file or the line is
    missing (not Linux, a restricted /proc)."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


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


_PAGEMAP_PRESENT = 1 << 63
_MADV_POPULATE_READ = 22  # Linux 5.14+


def resident_file_pages() -> list[tuple[int, int]] | None:
    """The runs of pages of this process's readable file mappings (shared libraries, their data) that
    its page table maps now, as ``(address, length)``; None where /proc/self/pagemap cannot be read.

    A child of ``fork`` does not inherit these entries: Linux copies the page table only of mappings
    that hold private (anonymous) pages, and leaves a clean file mapping to fault in again on first
    touch. Its resident set therefore starts hundreds of MB below the parent's, and every library page
    it touches later counts as new memory (``populate_pages`` gives them back)."""
    import os

    page = os.sysconf("SC_PAGE_SIZE")
    spans = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split(maxsplit=5)
                if len(parts) < 6 or "r" not in parts[1]:
                    continue
                path = parts[5].strip()
                if not path.startswith("/") or path.startswith("/dev/") or path.endswith(" (deleted)"):
                    continue
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                spans.append((lo, hi))
        fd = os.open("/proc/self/pagemap", os.O_RDONLY)
    except OSError:
        return None
    runs: list[tuple[int, int]] = []
    try:
        for lo, hi in spans:
            raw = os.pread(fd, 8 * ((hi - lo) // page), 8 * (lo // page))
            entries = memoryview(raw).cast("Q")  # native byte order, as the kernel writes it
            start = None
            for i, entry in enumerate(entries):
                if entry & _PAGEMAP_PRESENT:
                    if start is None:
                        start = i
                elif start is not None:
                    runs.append((lo + start * page, (i - start) * page))
                    start = None
            if start is not None:
                runs.append((lo + start * page, (len(entries) - start) * page))
    except OSError:
        return None
    finally:
        os.close(fd)
    return runs


def _kernel_at_least(major: int, minor: int) -> bool:
    import os

    try:
        found = tuple(int(x) for x in re.match(r"(\d+)\.(\d+)", os.uname().release).groups())
    except (AttributeError, ValueError):
        return False
    return found >= (major, minor)


def populate_pages(runs: list[tuple[int, int]]) -> int:
    """Map ``runs`` (from ``resident_file_pages``, read in the parent before ``fork``) into this
    process's page table, read-only, as the parent had them: ``madvise(MADV_POPULATE_READ)`` on Linux
    5.14 and later (a run it refuses, for whatever reason, is left to fault in later), one read per page
    on older kernels. Returns the bytes the runs cover."""
    import ctypes
    import os

    libc = ctypes.CDLL(None, use_errno=True)  # this process's own symbols, libc's among them: no ldconfig
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    page = os.sysconf("SC_PAGE_SIZE")
    modern = _kernel_at_least(5, 14)
    total = 0
    for address, length in runs:
        total += length
        if modern:
            libc.madvise(address, length, _MADV_POPULATE_READ)
            continue
        for a in range(address, address + length, page):  # pages the parent had mapped: readable, in the file
            ctypes.string_at(a, 1)
    return total


# ---------------------------------------------------------------- how busy the machine is
@functools.lru_cache(maxsize=None)
def _clock_ticks() -> float:
    """The kernel's clock ticks a second (the unit of /proc's CPU times); Linux's usual 100 where unknown."""
    import os

    try:
        return float(os.sysconf("SC_CLK_TCK"))
    except (ValueError, OSError, AttributeError):
        return 100.0


def machine_cpu_seconds() -> dict | None:
    """The whole machine's CPU time so far (``/proc/stat``'s ``cpu`` line), in seconds: ``busy`` (user,
    nice, system, irq, softirq; guest time is inside user) and ``steal`` (time the hypervisor gave this
    VM's virtual CPUs to someone else). None where /proc/stat cannot be read."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    v = [int(x) for x in fields[1:]] + [0] * 8
    user, nice, system, _idle, _iowait, irq, softirq, steal = v[:8]
    tick = _clock_ticks()
    return {"busy": (user + nice + system + irq + softirq) / tick, "steal": steal / tick}


def process_cpu_seconds(pid: int | str = "self") -> float | None:
    """User + system CPU time of process ``pid`` (all its threads) and of its waited-for children, in
    seconds (``/proc/PID/stat`` fields 14-17); None when the process is gone or /proc is unreadable."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    rest = text[text.rfind(")") + 2:].split()  # the command name may hold spaces and parentheses
    try:
        return sum(int(x) for x in rest[11:15]) / _clock_ticks()
    except (ValueError, IndexError):
        return None


class LoadMeter:
    """How much of the machine *other* processes used while a worker was measured: the machine's busy
    CPU time minus the worker's own and this process's, and the hypervisor's steal time, over the wall
    time between ``__init__`` and ``read``, in cores (1.0: one core's worth, on average)."""

    def __init__(self, pids: list[int]):
        import time

        self.pids = [p for p in pids if p]
        self.wall0 = time.perf_counter()
        self.machine0 = machine_cpu_seconds()
        self.own0 = self._own()

    def _own(self) -> float | None:
        times = [process_cpu_seconds("self")] + [process_cpu_seconds(p) for p in self.pids]
        return None if None in times else sum(times)

    def read(self) -> dict | None:
        """``{"other_cores", "steal_cores", "wall_s"}``; None where /proc cannot tell (not Linux, the worker
        gone before its CPU time was read)."""
        import time

        wall = time.perf_counter() - self.wall0
        machine, own = machine_cpu_seconds(), self._own()
        if None in (self.machine0, machine, self.own0, own) or wall <= 0:
            return None
        other = (machine["busy"] - self.machine0["busy"]) - (own - self.own0)
        return {"other_cores": max(0.0, other) / wall, "steal_cores": (machine["steal"] - self.machine0["steal"]) / wall,
                "wall_s": wall}
