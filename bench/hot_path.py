"""Instructions per task run, from the task call to its rows in the database, for two
revisions of Flowyard side by side (issue 8: events must cost the hot path < 10 %).

    .venv/bin/python bench/hot_path.py [BASE_REV] [REV]   (default: HEAD~1 and the work tree)

Wall-clock and CPU time on a shared 2-core machine drift by a factor of two from one run to
the next; an instruction count under callgrind does not (the same binary and input give the
same count, whatever else runs). Each revision is checked out in a git worktree under
bench/.work and runs bench/workloads/task_path.py embedded with N=1 and N=3 flows of 500
tasks; (count(3) - count(1)) / 1,000 is the cost of one task run. Takes a few minutes.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKLOAD = ROOT / "bench" / "workloads" / "task_path.py"
PYTHON = ROOT / ".venv" / "bin" / "python"
TASKS_BETWEEN = 1_000


def tree(rev: str | None) -> Path:
    if rev is None:
        return ROOT
    place = ROOT / "bench" / ".work" / f"tree-{rev.replace('/', '_')}"
    if not place.exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--", str(place),
                        rev], check=True, capture_output=True)  # fmt: skip
    return place


def instructions(src: Path, flows: int) -> int:
    with tempfile.NamedTemporaryFile("r") as log:
        subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
             f"--log-file={log.name}", str(PYTHON), str(WORKLOAD), str(flows)],
            env={"PYTHONPATH": str(src / "src"), "PATH": "/usr/bin:/bin"},
            check=True, capture_output=True,
        )  # fmt: skip
        found = re.search(r"Collected : (\d+)", log.read())
    assert found, "callgrind printed no count"
    return int(found.group(1))


def per_task(src: Path) -> float:
    with ThreadPoolExecutor(2) as pool:
        one, three = pool.map(lambda n: instructions(src, n), (1, 3))
    return (three - one) / TASKS_BETWEEN


def main() -> None:
    base_rev = sys.argv[1] if len(sys.argv) > 1 else "HEAD~1"
    rev = sys.argv[2] if len(sys.argv) > 2 else None
    base = per_task(tree(base_rev))
    new = per_task(tree(rev))
    print(f"{base_rev}: {base / 1000:,.0f}k instructions per task run")
    print(f"{rev or 'work tree'}: {new / 1000:,.0f}k instructions per task run")
    print(f"change: {100 * (new - base) / base:+.1f} %")


if __name__ == "__main__":
    main()
