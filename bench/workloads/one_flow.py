"""A user's script: one flow calling a trivial task 10 times, with either SDK.

    python one_flow.py {flowyard|prefect}

Nothing else: what it costs from ``python one_flow.py`` to the shell prompt is start-up,
imports, client setup and the flow's few requests (bench/startup.py times it from outside).
"""

from __future__ import annotations

import importlib
import sys

sdk = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else "flowyard")


@sdk.task
def double(x: int) -> int:
    return 2 * x


@sdk.flow
def pipeline(n: int = 10) -> int:
    return sum(double(i) for i in range(n))


if __name__ == "__main__":
    assert pipeline() == 90
