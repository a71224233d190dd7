"""Helpers for the concurrency tests that use real processes: a ``flowyard server start``
subprocess, worker scripts, and the overlap check on recorded body intervals."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from flowyard.testing.server_process import clean_env, server_process

__all__ = ["clean_env", "max_overlap", "poll", "read_intervals", "server", "spawn"]

DEADLINE = 120.0


def poll(check: Callable[[], bool], what: str, deadline: float = DEADLINE) -> None:
    """Wait until ``check()`` holds; fail naming ``what`` after a generous deadline."""
    end = time.monotonic() + deadline
    while not check():
        assert time.monotonic() < end, f"gave up waiting: {what}"
        time.sleep(0.1)


def server(home: Path, database_url: str | None, **settings: str) -> AbstractContextManager[str]:
    """Run ``flowyard server start`` (SQLite in ``home`` unless ``database_url`` is
    PostgreSQL); a context manager yielding its API URL."""
    postgres = database_url if database_url and database_url.startswith("postgresql") else None
    return server_process(home, postgres, **settings)


def spawn(script: Path, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``python script args...`` with output to ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, str(script), *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def read_intervals(path: Path) -> list[tuple[float, float]]:
    """The ``start end`` lines that bodies appended to ``path``."""
    intervals = []
    for line in path.read_text().splitlines():
        start, end = line.split()
        intervals.append((float(start), float(end)))
    return intervals


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one instant (an end sorts before a start at a tie)."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    most = current = 0
    for _, step in events:
        current += step
        most = max(most, current)
    return most
