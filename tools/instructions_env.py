"""Does an instruction count depend on the size of the process's environment? (docs/instructions.md)

    python tools/instructions_env.py 0 37 0 37     # the same cases counted with 0 and 37 bytes of padding

For each argument N, LeNet-5's PyTorch inference and training steps (smoke profile, one thread, 10 steps a
count, two counts) are counted under Callgrind in a fresh worker whose environment carries an extra
variable ``CNNBENCH_PAD`` of N characters (none for 0); one line of counts per N.
"""
from __future__ import annotations

import json
import os
import sys


def main(argv: list[str]) -> int:
    from cnnbench.core.settings import Settings
    from cnnbench.harness.cases import build_cases
    from cnnbench.harness.instructions import count_cases

    cases = build_cases(profile="smoke", models="lenet5", frameworks="torch", keras_backends=None,
                        modes="inference,train", device="cpu")
    for pad in (int(x) for x in argv or ["0", "37"]):
        os.environ.pop("CNNBENCH_PAD", None)
        if pad:
            os.environ["CNNBENCH_PAD"] = "x" * pad
        out = count_cases(cases, Settings(threads=1, interop_threads=1), steps={"lenet5": 10}, repeats=2,
                          log=lambda line: None)
        print(pad, json.dumps({c.case_id: c.instructions for c in out}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
