"""Worker processes: one framework runtime, one prepared case, stepped on command.

``client`` (``Worker``, ``ForkServer``: the measuring side's handle on a worker), ``server`` (the worker
process's side: its commands), ``forkserver`` (a process that has imported one runtime's framework and
forks workers), ``instruction_count`` (the worker's side of a Callgrind count); ``python -m
cnnbench.worker`` starts a worker (``__main__``). This module imports nothing: the fork server imports
its framework and no more.
"""

# The wire protocol's number, on a line of its own: the paired engine reads it from a baseline commit's
# worker with `git show` (cnnbench.ab.checkout) and refuses a baseline whose workers speak another.
PROTOCOL = 1
