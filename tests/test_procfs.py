"""The Linux memory readings that need no framework (cnnbench.core.procfs)."""
from __future__ import annotations

import mmap
import os
import sys

import pytest

from cnnbench.core.procfs import kib_field, populate_pages, resident_file_pages

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self (Linux)")

MIB = 2**20


def test_a_forked_child_gets_the_parents_resident_library_pages_back(tmp_path):
    """What the fork server does for each worker (cnnbench.worker.forkserver): the parent reads which pages
    of its file mappings are resident, the child maps them again. Linux copies a parent's page table only
    for mappings that hold private pages, so a child starts without the entries of clean file mappings
    (shared libraries; here an 8 MiB file the parent read) and its resident set starts that much lower.
    After ``populate_pages`` the child's file-backed resident memory (RssFile, and RssShmem where the
    file lies on a tmpfs) is the parent's again."""
    path = tmp_path / "library.bin"
    path.write_bytes(os.urandom(8 * MIB))
    with open(path, "rb") as f:
        view = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
    assert sum(view[i] for i in range(0, len(view), mmap.PAGESIZE)) >= 0  # every page read: resident, mapped
    runs = resident_file_pages()
    assert runs is not None
    with open("/proc/self/maps") as maps:
        lo = next(int(line.split("-")[0], 16) for line in maps if line.rstrip().endswith(str(path)))
    assert any(a <= lo and lo + 8 * MIB <= a + n for a, n in runs)  # the file's pages, one run at least
    # a file under a tmpfs /tmp counts as shared memory, not as a file: both, as the parent holds them
    resident = lambda: kib_field("/proc/self/status", "RssFile") + kib_field("/proc/self/status", "RssShmem")  # noqa: E731
    parent = resident()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report RssFile before and after, and never return into pytest
        try:
            before = resident()
            covered = populate_pages(runs)
            after = resident()
            os.write(write, f"{before} {after} {covered}".encode())
        finally:
            os._exit(0)
    os.close(write)
    before, after, covered = (int(x) for x in os.read(read, 200).split())
    os.close(read)
    os.waitpid(pid, 0)
    view.close()
    assert covered == sum(n for _, n in runs)
    assert before <= parent - 7 * MIB, ("this kernel copied the file mapping's page-table entries into the child: "
                                        "populate_pages is not needed here", before, parent)
    assert after >= parent - MIB, (before, after, parent)

