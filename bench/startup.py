"""What an impatient user waits for: a one-flow script and each CLI command, measured from
outside the process (subprocess wall time), Flowyard beside Prefect 3.9.1.

    .venv/bin/python bench/startup.py [--repeats 7] [--no-write]

- the script: one flow calling a trivial task 10 times (bench/workloads/one_flow.py, bound to
  ``flowyard`` or ``prefect``), against a running server of its own kind and embedded
  (Prefect: its ephemeral mode, a temporary server subprocess);
- each CLI command against that server (``version``, ``--help`` and the listings a user
  types), and Prefect's equivalent where it has one.

Each figure is the minimum and the median of ``--repeats`` fresh processes after one
untimed warm-up (which writes the byte-code caches a real install has). Wall time on a
shared machine drifts with its load: the load average is recorded with the table, and the
minimum is the figure least disturbed by other work.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import report
from servers import RunningServer, ensure_prefect_venv, flowyard_spec, prefect_spec

SECTION = "## Start-up: a one-flow script and the CLI (issue 9)"
WORKLOAD = Path(__file__).resolve().parent / "workloads" / "one_flow.py"

# (row label, flowyard argv, prefect argv or None)
COMMANDS: list[tuple[str, list[str], list[str] | None]] = [
    ("`version`", ["version"], ["version"]),
    ("`--help`", ["--help"], ["--help"]),
    ("`flow ls`", ["flow", "ls"], ["flow", "ls"]),
    ("`flow-run ls`", ["flow-run", "ls"], ["flow-run", "ls"]),
    ("`deployment ls`", ["deployment", "ls"], ["deployment", "ls"]),
    ("`work-pool ls`", ["work-pool", "ls"], ["work-pool", "ls"]),
    ("`block ls`", ["block", "ls"], ["block", "ls"]),
    ("`concurrency-limit ls`", ["concurrency-limit", "ls"], ["concurrency-limit", "ls"]),
    ("`config view`", ["config", "view"], ["config", "view"]),
    ("`profile ls`", ["profile", "ls"], ["profile", "ls"]),
]


def wall_times(argv: list[str], env: dict[str, str], repeats: int) -> list[float]:
    subprocess.run(argv, env=env, capture_output=True, timeout=600)  # warm-up: byte-code
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, timeout=600)
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).decode(errors="replace").strip()[-200:]
            raise RuntimeError(f"{shlex.join(argv)} exited {done.returncode}: {tail}")
    return times


def describe(times: list[float]) -> str:
    return f"{min(times) * 1000:,.0f} ms (median {statistics.median(times) * 1000:,.0f})"


def clean_env(home_var: str, home: Path, api_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "FLOWYARD_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a user's install has its byte-code
    env[home_var] = str(home)
    env["PYTHONPYCACHEPREFIX"] = str(home / "pycache")
    env["COLUMNS"] = "120"
    if api_url:
        env["PREFECT_API_URL" if home_var == "PREFECT_HOME" else "FLOWYARD_API_URL"] = api_url
    return env


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-prefect", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    machine = report.machine_info()
    specs = [flowyard_spec()]
    if not args.no_prefect:
        specs.append(prefect_spec(ensure_prefect_venv()))
    table: report.Table = {}
    with tempfile.TemporaryDirectory(prefix="flowyard-startup-") as tmp:
        for spec in specs:
            label, python = spec.label, spec.executable.parent / "python"
            sdk = "flowyard" if label == "Flowyard" else "prefect"
            home = Path(tmp) / sdk
            print(f"== {label}", flush=True)
            baseline = wall_times([str(python), "-c", "pass"], dict(os.environ), args.repeats)
            table.setdefault("`python -c pass`", {})[label] = describe(baseline)
            embedded_home = Path(tmp) / f"{sdk}-embedded"
            embedded_home.mkdir()
            script = [str(python), str(WORKLOAD), sdk]
            try:
                times = wall_times(script, clean_env(spec.home_var, embedded_home, None), 3)
                text = describe(times)
            except Exception as exc:  # a failing side is reported, not fatal
                text = f"failed: {exc}"[:160]
            table.setdefault("one flow of 10 tasks, embedded / ephemeral", {})[label] = text
            server = RunningServer(spec, home)
            try:
                env = clean_env(spec.home_var, home, server.api_url)
                times = wall_times(script, env, args.repeats)
                table.setdefault("one flow of 10 tasks, against a server", {})[label] = describe(
                    times
                )
                for row, ours, theirs in COMMANDS:
                    command = ours if sdk == "flowyard" else theirs
                    if command is None:
                        continue
                    try:
                        text = describe(
                            wall_times([str(spec.executable), *command], env, args.repeats)
                        )
                    except Exception as exc:
                        text = f"failed: {exc}"[:160]
                    table.setdefault(f"CLI {row}, against a server", {})[label] = text
                    print(f"{label:>14} | {row}: {text}", flush=True)
            finally:
                server.stop()
    labels = [spec.label for spec in specs]
    print(report.render_table(table, labels))
    if not args.no_write:
        command = shlex.join([".venv/bin/python", "bench/startup.py", *argv])
        notes = [
            "Wall time of a fresh process, spawn to exit, measured by the parent: minimum "
            f"and median of {args.repeats} runs (3 for the embedded script) after one "
            "untimed warm-up that writes the byte-code caches an installed package has.",
            "The script is bench/workloads/one_flow.py: `@flow` calling a trivial `@task` 10 "
            "times; embedded: Flowyard's in-process server on SQLite, Prefect's ephemeral "
            "mode (a temporary server subprocess).",
            "CLI commands run against the running server of their own kind (an empty one "
            "but for the runs the script made).",
        ]
        report.write_results(
            report.render_section(table, labels, command, machine, notes, section=SECTION)
        )
        print(f"\nwritten to {report.RESULTS_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
