"""FlowRunProcess with real subprocesses: argv (no shell), exact environment, working
directory, exit codes, and termination (SIGTERM, then SIGKILL after the grace period)."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path

import pytest

from flowyard.workers.launcher import FlowRunProcess, default_command, infrastructure_pid


async def test_runs_argv_with_env_and_cwd(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    code = (
        "import os, sys; open(sys.argv[1], 'w').write("
        "os.environ['FLOWYARD_FLOW_RUN_ID'] + '|' + os.getcwd() + '|' + sys.argv[2])"
    )
    run_id = uuid.uuid4()
    # A value a shell would expand or split: passed through untouched as one argument.
    odd = "$HOME; echo hi `x` && y"
    process = await FlowRunProcess.start(
        run_id,
        command=[sys.executable, "-c", code, str(out), odd],
        env={"FLOWYARD_FLOW_RUN_ID": str(run_id), "PATH": os.environ.get("PATH", "")},
        cwd=str(tmp_path),
    )
    assert process.pid > 0
    assert await process.wait() == 0
    assert out.read_text() == f"{run_id}|{tmp_path}|{odd}"


async def test_exit_code_and_kill_are_reported() -> None:
    failing = await FlowRunProcess.start(
        uuid.uuid4(), command=[sys.executable, "-c", "raise SystemExit(3)"], env=dict(os.environ)
    )
    assert await failing.wait() == 3
    sleeper = await FlowRunProcess.start(
        uuid.uuid4(), command=[sys.executable, "-c", "import time; time.sleep(60)"], env={}
    )
    os.kill(sleeper.pid, 9)
    assert await sleeper.wait() == -9


async def test_terminate_sends_term_then_kill_after_grace(tmp_path: Path) -> None:
    polite = await FlowRunProcess.start(
        uuid.uuid4(), command=[sys.executable, "-c", "import time; time.sleep(60)"], env={}
    )
    assert await polite.terminate(grace_seconds=10) == -15

    ready = tmp_path / "ready"
    stubborn_code = (
        "import signal, sys, time, pathlib\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "pathlib.Path(sys.argv[1]).write_text('x')\n"
        "time.sleep(60)\n"
    )
    stubborn = await FlowRunProcess.start(
        uuid.uuid4(), command=[sys.executable, "-c", stubborn_code, str(ready)], env={}
    )
    for _ in range(200):
        if ready.exists():
            break
        await asyncio.sleep(0.05)
    assert await stubborn.terminate(grace_seconds=0.5) == -9
    # Terminating what has already ended just answers its exit code.
    assert await stubborn.terminate() == -9


async def test_terminate_reaches_the_children_of_the_process(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    code = (
        "import subprocess, sys, time, pathlib\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "pathlib.Path(sys.argv[1]).write_text(str(child.pid))\n"
        "time.sleep(60)\n"
    )
    process = await FlowRunProcess.start(
        uuid.uuid4(), command=[sys.executable, "-c", code, str(pid_file)], env={}
    )
    for _ in range(200):
        if pid_file.exists() and pid_file.read_text():
            break
        await asyncio.sleep(0.05)
    child = int(pid_file.read_text())
    await process.terminate(grace_seconds=5)
    for _ in range(200):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        await asyncio.sleep(0.05)
        # A zombie counts as gone: it is no longer running.
        if (
            Path(f"/proc/{child}/stat").exists()
            and " Z " in Path(f"/proc/{child}/stat").read_text()
        ):
            break
    else:
        pytest.fail("the run's child process outlived the run")


def test_empty_command_is_refused_and_defaults() -> None:
    with pytest.raises(ValueError, match="command"):
        asyncio.run(FlowRunProcess.start(uuid.uuid4(), command=[], env={}))
    assert default_command() == [sys.executable, "-m", "flowyard.sdk.execute"]
    assert infrastructure_pid(42).endswith(":42")
