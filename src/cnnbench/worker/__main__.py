"""``python -m cnnbench.worker CMD_FD REPLY_FD`` (a worker) or ``--fork-server SOCKET RUNTIME``."""
from __future__ import annotations

import os
import sys

from cnnbench.worker import PROTOCOL


def main(argv: list[str] | None = None) -> int:
    """``python -m cnnbench.worker CMD_FD REPLY_FD``: pin the CPU cores, then serve the client."""
    argv = sys.argv[1:] if argv is None else argv
    cores = os.environ.get("CNNBENCH_CPU_AFFINITY")
    if cores and hasattr(os, "sched_setaffinity"):  # before any thread pool exists
        os.sched_setaffinity(0, {int(c) for c in cores.split(",")})
    if argv[0] == "--fork-server":  # python -m cnnbench.worker --fork-server SOCKET RUNTIME
        from cnnbench.worker.forkserver import serve_forks

        return serve_forks(argv[1], argv[2], PROTOCOL)
    cmd_fd, reply_fd = int(argv[0]), int(argv[1])
    from cnnbench.worker.server import serve

    return serve(cmd_fd, reply_fd, PROTOCOL)


if __name__ == "__main__":
    sys.exit(main())
