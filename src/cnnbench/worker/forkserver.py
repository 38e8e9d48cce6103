"""A fork server: a process that has imported one runtime's framework and forks a worker per request.

Importing TensorFlow takes about 4-5 s on the 2-core VMs and PyTorch 1-2 s: in a ``make bench`` run of
one worker process per case, starting workers was the largest single cost (395 s of 21 min, issue
#37). asv launches its benchmarks from a fork server on Linux for the same reason. The server imports
the runtime's backend module (and with it the framework) under the worker's environment (threads,
oneDNN, ``KERAS_BACKEND``: read at import), and does nothing else: no settings applied, no op run, no
thread pool started. Each forked child then starts as a fresh worker would after its imports
(``cnnbench.worker.server``: settings, the runtime's warm-up, its own memory baseline) and serves the
client on two pipes of its own. That a forked worker measures what a fresh interpreter measures is
checked, paired, by ``tools/fork_aa.py`` (docs/benchmarks.md#start-up-from-a-fork-server).

Protocol, on a Unix socket the client connects to once: a JSON line per request; ``fork`` carries three
file descriptors (SCM_RIGHTS: the child's command pipe, reply pipe and log file) and is answered with
the child's pid; ``status`` answers whether a child still runs and, once it has ended, how (the exit
code, negative for a signal, as ``subprocess`` reports it); ``quit`` ends the server. The server reaps
its children, so none stays a zombie.
"""
from __future__ import annotations

import json
import os
import socket
import sys


def _reap(statuses: dict[int, int]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        statuses[pid] = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _child(fds: list[int], listener: socket.socket, conn: socket.socket, protocol: int,
           resident: list[tuple[int, int]] | None) -> None:
    """In the forked child: its own session, its log on stdout/stderr, the server's resident library
    pages mapped again (``resident``: see ``serve_forks``), then a worker's life."""
    cmd_fd, reply_fd, log_fd = fds
    try:
        listener.close()
        conn.close()
        os.setsid()  # its own process group: the client may kill it as it kills a spawned worker
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)
        sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
        sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
        import time

        from cnnbench.core.procfs import populate_pages
        from cnnbench.worker.server import serve

        start = time.perf_counter()
        try:
            populated = populate_pages(resident) if resident else None
        except OSError:  # the pages fault in later instead, and the worker says it mapped none
            populated = None
        code = serve(cmd_fd, reply_fd, protocol, forked=True,
                     populated={"bytes": populated, "s": time.perf_counter() - start})
    except BaseException:  # noqa: BLE001  (a child must never return into the server's loop)
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:  # noqa: BLE001
            pass
    os._exit(code)


def serve_forks(path: str, runtime: str, protocol: int) -> int:
    """``python -m cnnbench.worker --fork-server PATH RUNTIME``: import, listen, fork on request."""
    import time

    start = time.perf_counter()
    from cnnbench.core.procfs import resident_file_pages
    from cnnbench.worker.lean_imports import leaving_out, left_out
    from cnnbench.zoo.dispatch import runtime_backend

    # the backend module imports its framework, preload what its first step would import later; nothing runs yet;
    # without the optional packages a fresh worker's import leaves out too (lean_imports)
    with leaving_out(left_out(runtime)) as absent:
        runtime_backend(runtime).preload()
    import_s = time.perf_counter() - start
    # the library pages the imports mapped: a forked child inherits them in the page cache but not in its
    # page table (Linux copies only mappings with private pages), so its resident set would start ~400 MB
    # (TensorFlow) below a fresh worker's and count every library page it touched later as the case's
    # memory. Each child maps these again before its baseline, as a fresh interpreter has them mapped.
    resident = resident_file_pages()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    print(json.dumps({"ready": True, "pid": os.getpid(), "import_s": import_s, "imports_left_out": list(absent),
                      "resident_file_bytes": sum(n for _, n in resident) if resident is not None else None,
                      "threads": len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else None}),
          flush=True)
    conn, _ = listener.accept()
    statuses: dict[int, int] = {}
    buffer = b""
    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(conn, 65536, 3)
        except OSError:
            return 0
        if not data:
            return 0
        buffer += data
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            msg = json.loads(line)
            _reap(statuses)
            if msg["cmd"] == "fork":
                pid = os.fork()
                if pid == 0:
                    _child(fds, listener, conn, protocol, resident)
                for fd in fds:
                    os.close(fd)
                reply = {"pid": pid, "import_s": import_s}
            elif msg["cmd"] == "status":
                pid = int(msg["pid"])
                reply = {"running": pid not in statuses, "code": statuses.get(pid)}
            else:  # quit
                conn.sendall(b'{"bye": true}\n')
                return 0
            conn.sendall((json.dumps(reply) + "\n").encode())
            fds = []
