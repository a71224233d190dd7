"""Start a flow run's process and see it to its end: shared by workers and ``serve()``.

The process gets an argv list (never a shell) and its own process group, so that
terminating it also reaches whatever it started; :meth:`FlowRunProcess.terminate` sends
SIGTERM to the group, then SIGKILL once the grace period is over.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import uuid


def default_command() -> list[str]:
    """What runs a flow run in a fresh interpreter: ``python -m flowyard.sdk.execute``."""
    return [sys.executable, "-m", "flowyard.sdk.execute"]


def infrastructure_pid(pid: int) -> str:
    """The run's ``infrastructure_pid``: which host, which process."""
    return f"{socket.gethostname()}:{pid}"


class FlowRunProcess:
    """One flow run's process. Build it with :meth:`start` (or, for a worker keeping an
    interpreter ready, :meth:`start_spare` then :meth:`assign`)."""

    def __init__(self, flow_run_id: uuid.UUID | None, process: asyncio.subprocess.Process) -> None:
        self.flow_run_id = flow_run_id
        self._process = process
        self.pid: int = process.pid
        self.terminated = False

    @classmethod
    async def start(
        cls,
        flow_run_id: uuid.UUID,
        *,
        command: list[str],
        env: dict[str, str],
        cwd: str | None = None,
    ) -> FlowRunProcess:
        """Start ``command`` (an argv list) with exactly ``env`` as its environment, in
        ``cwd``, as the leader of a new process group. Output goes where ours goes."""
        if not command:
            raise ValueError("command: empty")
        process = await asyncio.create_subprocess_exec(
            *command,
            env=env,
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        return cls(flow_run_id, process)

    @classmethod
    async def start_spare(cls, *, env: dict[str, str]) -> FlowRunProcess:
        """Start an interpreter that loads the flow-run machinery now and waits for
        :meth:`assign` to say which run to execute (``flowyard.workers.warm``): the run
        then starts without paying for interpreter start and imports."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "flowyard.workers.warm",
            env=env,
            stdin=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        return cls(None, process)

    async def assign(
        self, flow_run_id: uuid.UUID, *, env: dict[str, str], cwd: str | None = None
    ) -> None:
        """Hand a spare its run: it takes ``env`` as its whole environment, moves to
        ``cwd`` and executes the run as ``python -m flowyard.sdk.execute`` would."""
        stdin = self._process.stdin
        if self.flow_run_id is not None or stdin is None or self.returncode is not None:
            raise RuntimeError("not a waiting spare process")
        self.flow_run_id = flow_run_id
        order = {"env": env, "cwd": cwd}
        stdin.write(json.dumps(order).encode() + b"\n")
        await stdin.drain()
        stdin.close()

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    async def wait(self) -> int:
        """The exit code once the process has ended (negative: killed by that signal)."""
        return await self._process.wait()

    async def terminate(self, grace_seconds: float = 10.0) -> int:
        """SIGTERM the process group, SIGKILL it if still alive after ``grace_seconds``;
        the exit code."""
        self.terminated = True
        if self._process.returncode is not None:
            return self._process.returncode
        self._signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(asyncio.shield(self._process.wait()), grace_seconds)
        except TimeoutError:
            self._signal(signal.SIGKILL)
            return await self._process.wait()

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)
            return
        with contextlib.suppress(ProcessLookupError):
            self._process.send_signal(sig)
