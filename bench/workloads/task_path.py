"""The task-run hot path, embedded: one warm-up flow, then N flows of 500 trivial tasks.

    python task_path.py N

Run under ``valgrind --tool=callgrind`` by ``bench/hot_path.py``: the difference of the
instruction counts for N=3 and N=1 is what 1,000 task runs cost, from the task call to the
row in the database, and nothing else (imports, migrations and the warm-up cancel out).
"""

from __future__ import annotations

import os
import sys
import tempfile

os.environ["FLOWYARD_HOME"] = tempfile.mkdtemp()
os.environ.pop("FLOWYARD_API_URL", None)

from flowyard import flow, task  # noqa: E402
from flowyard.client import shutdown_embedded  # noqa: E402
from flowyard.sdk.engine import api  # noqa: E402

TASKS = 500


@task
def inc(x: int) -> int:
    return x + 1


@flow
def sequential() -> None:
    for i in range(TASKS):
        inc(i)


sequential()
for _ in range(int(sys.argv[1])):
    sequential()
reporter = api.current_reporter()
assert reporter is not None and reporter.flush(timeout=600)
shutdown_embedded()
