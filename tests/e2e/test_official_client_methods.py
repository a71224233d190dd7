"""Every read and write method of the official ``prefect==3.9.1`` ``PrefectClient`` and
``SyncPrefectClient``, against a real server, with default arguments and with every field
of the contract's filter objects filled; and ``prefect work-pool create -t TYPE`` for every
worker type of the official client's integration packages.

The calls are made by ``official_client_methods.py`` in the official client's own venv. It
enumerates the clients' public methods with ``inspect``: each is called by its scenario or
listed in its ``NOT_SERVED`` (with the reason), so a method of a newer client, or a route
that starts answering, fails here until the lists say so.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

# As in conftest.py: "prefect" runs the e2e tests against the official server instead.
SERVER_KIND = os.environ.get("FLOWYARD_E2E_SERVER", "flowyard")
SCRIPT = Path(__file__).with_name("official_client_methods.py")
SCRIPT_TIMEOUT = 600.0
CLI_TIMEOUT = 180.0

# Calls that prefect==3.9.1's own server refuses from its own client, tolerated only when
# FLOWYARD_E2E_SERVER=prefect runs this test against it (Flowyard serves all three).
REFERENCE_SERVER_GAPS = [
    # The client's DeploymentSort has CONCURRENCY_LIMIT_ASC/DESC, the server's does not.
    re.compile(r"\.read_deployments: .*'loc': \['body', 'sort'\]"),
    # read_events() asks for 100 events; the server's maximum is 50.
    re.compile(r"\.read_events: .*less than or equal to 50"),
    # The EventFilter with every field filled is a 500 there.
    re.compile(r"\.read_events: .*500 Internal Server Error"),
]

WORKER_TYPES = [
    "azure-container-instance",
    "cloud-run",
    "cloud-run-v2",
    "docker",
    "ecs",
    "kubernetes",
    "process",
    "vertex-ai",
]


def _tolerated(failure: str) -> bool:
    return SERVER_KIND == "prefect" and any(gap.search(failure) for gap in REFERENCE_SERVER_GAPS)


def test_every_method_of_both_clients_works(
    prefect_python: Path, prefect_client_env: dict[str, str], tmp_path: Path
) -> None:
    report_path = tmp_path / "report.json"
    proc = subprocess.run(
        [str(prefect_python), str(SCRIPT), str(report_path)],
        cwd=tmp_path,
        env=prefect_client_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT,
    )
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    report: dict[str, dict[str, Any]] = json.loads(report_path.read_text())
    assert sorted(report) == ["PrefectClient", "SyncPrefectClient"]
    for client, result in report.items():
        failures = [f for f in result["failures"] if not _tolerated(f)]
        assert failures == [], "\n".join(failures)
        # A method of a newer client: call it in the scenario, or list it as not served.
        assert result["never_called"] == [], (client, result["never_called"])
        assert result["unknown_in_lists"] == [], (client, result["unknown_in_lists"])
        if SERVER_KIND == "flowyard":
            # Served now: move it from NOT_SERVED into the scenario, where it is checked.
            assert result["not_served_but_answered"] == [], client
        assert result["called"] == result["methods"] > 100


def test_prefect_work_pool_create_every_worker_type(
    prefect_python: Path, prefect_client_env: dict[str, str], api: httpx.Client, tmp_path: Path
) -> None:
    metadata = api.get("/collections/views/aggregate-worker-metadata")
    assert metadata.status_code == 200, metadata.text
    templates = {
        worker["type"]: worker["default_base_job_configuration"]
        for workers in metadata.json().values()
        for worker in workers.values()
    }
    assert set(WORKER_TYPES) <= set(templates)
    prefect = str(prefect_python.parent / "prefect")
    suffix = tmp_path.name[-12:].replace("_", "-").lower()
    for pool_type in WORKER_TYPES:
        name = f"cli-{pool_type}-{suffix}"
        proc = subprocess.run(
            [prefect, "work-pool", "create", name, "--type", pool_type],
            cwd=tmp_path,
            env=prefect_client_env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
        )
        assert proc.returncode == 0, (pool_type, proc.stdout[-2000:], proc.stderr[-2000:])
        pool = api.get(f"/work_pools/{name}")
        assert pool.status_code == 200, pool.text
        assert pool.json()["type"] == pool_type
        # The CLI sent the template of the worker class it has installed (process), or the
        # one this server's worker metadata lists for the others.
        assert pool.json()["base_job_template"]["variables"]["properties"]
        if pool_type != "process":
            assert pool.json()["base_job_template"] == templates[pool_type]
