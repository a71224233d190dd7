"""The official worker's channel (``/work_pools/{name}/workers/connect``): a ``ProcessWorker``
of ``prefect==3.9.1``, in that client's own venv, opens it against Flowyard, stays on it
(no REST fallback), and learns of a change to its pool from a pushed snapshot alone."""

from __future__ import annotations

import json
import subprocess
import textwrap
import uuid
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e

LINE_TIMEOUT = 60.0

WORKER = textwrap.dedent(
    """
    import asyncio
    import json
    import sys

    from prefect.workers.process import ProcessWorker

    POOL = sys.argv[1]


    async def main() -> None:
        async with ProcessWorker(work_pool_name=POOL, name="channel-e2e") as worker:
            await worker.sync_with_backend()
            channel = worker._worker_channel
            print(json.dumps({
                "healthy": channel.state.healthy,
                "rest_fallback": channel.rest_fallback_enabled,
                "snapshots": channel.snapshots_available,
                "worker_id": str(channel.worker_id),
                "paused": worker._work_pool.is_paused,
            }), flush=True)
            # No second sync: only a pushed snapshot can tell the worker of the pause.
            while not worker._work_pool.is_paused:
                await asyncio.sleep(0.1)
            print(json.dumps({"paused": True, "healthy": channel.state.healthy}), flush=True)


    asyncio.run(asyncio.wait_for(main(), 60))
    """
)


def _line(proc: subprocess.Popen[str]) -> dict[str, object]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        _, err = proc.communicate(timeout=LINE_TIMEOUT)
        raise AssertionError(f"the worker script ended early:\n{err}")
    parsed: dict[str, object] = json.loads(line)
    return parsed


def test_official_worker_stays_on_the_channel_and_follows_snapshots(
    prefect_python: Path, prefect_client_env: dict[str, str], api: httpx.Client, tmp_path: Path
) -> None:
    pool = f"channel-{uuid.uuid4().hex[:8]}"
    assert api.post("/work_pools/", json={"name": pool, "type": "process"}).status_code == 201
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    with subprocess.Popen(
        [str(prefect_python), str(script), pool],
        env=prefect_client_env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    ) as proc:  # fmt: skip
        try:
            first = _line(proc)
            assert first["healthy"] is True and first["rest_fallback"] is False
            assert first["snapshots"] is True and first["paused"] is False
            workers = api.post(f"/work_pools/{pool}/workers/filter").json()
            assert [(w["name"], w["id"]) for w in workers] == [("channel-e2e", first["worker_id"])]

            assert api.patch(f"/work_pools/{pool}", json={"is_paused": True}).status_code == 204
            assert _line(proc) == {"paused": True, "healthy": True}
            assert proc.wait(timeout=LINE_TIMEOUT) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
