"""Rendering results as markdown and keeping bench/RESULTS.md up to date.

RESULTS.md holds one ``## `` section per benchmark suite; this module rewrites only its own
section and leaves the others exactly as they were.
"""

from __future__ import annotations

import platform
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

RESULTS_PATH = Path(__file__).resolve().parent / "RESULTS.md"
SECTION = "## Server core (issue 2)"

# metric -> server label -> cell text, in insertion order.
Table = dict[str, dict[str, str]]


def render_table(table: Table, servers: list[str]) -> str:
    lines = [
        "| metric | " + " | ".join(servers) + " |",
        "|---|" + "---|" * len(servers),
    ]
    for metric, cells in table.items():
        row = [metric, *(cells.get(s, "—") for s in servers)]
        lines.append("| " + " | ".join(_cell_text(text) for text in row) + " |")
    return "\n".join(lines)


def _cell_text(text: str) -> str:
    # Error cells carry server output: one line, no column breaks, bounded length.
    flat = " ".join(text.split()).replace("|", "\\|")
    return flat if len(flat) <= 160 else flat[:157] + "..."


def _command_output(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def machine_info() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = next(
        (line for line in _command_output(["free", "-m"]).splitlines() if line.startswith("Mem:")),
        "?",
    )
    total_mib = memory.split()[1] if memory != "?" else "?"
    # Other work on the machine skews every number: say how busy it was when we started.
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return (
        f"{_command_output(['nproc'])} CPUs ({cpu}), {total_mib} MiB RAM (`free -m`), "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}; "
        f"load average {load} when the run started"
    )


def render_section(
    table: Table,
    servers: list[str],
    command: str,
    machine: str,
    notes: list[str],
    section: str = SECTION,
) -> str:
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        section,
        "",
        f"Measured {date} on {machine}.",
        "",
        f"Reproduce: `{command}`",
        "",
        render_table(table, servers),
        "",
        *(f"- {note}" for note in notes),
    ]
    return "\n".join(parts).rstrip() + "\n"


def write_results(section: str, path: Path = RESULTS_PATH) -> None:
    """Replace (or append) ``section`` in RESULTS.md, keeping every other section.

    The section is identified by its first line, its ``## `` heading.
    """
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    heading = section.split("\n", 1)[0]
    # A section runs from its heading to the next level-2 heading or the end of the file.
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1)
    else:
        text = text.rstrip() + "\n\n" + section
    path.write_text(text.rstrip() + "\n")
