"""/collections/views/aggregate-worker-metadata lists every worker type of the official
client's integration packages with its default base job template, and a pool created with a
known type and no template gets that template (what ``prefect work-pool create -t TYPE``
sends, read from this same view)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from flowyard.server.queries.job_templates import (
    PROCESS_BASE_JOB_TEMPLATE,
    validate_base_job_template,
)

# The worker types of prefect==3.9.1 and its integration packages (prefect-aws,
# prefect-azure, prefect-docker, prefect-gcp, prefect-kubernetes), by collection.
WORKER_TYPES = {
    "prefect": ["process"],
    "prefect-aws": ["ecs"],
    "prefect-azure": ["azure-container-instance"],
    "prefect-docker": ["docker"],
    "prefect-gcp": ["cloud-run", "cloud-run-v2", "vertex-ai"],
    "prefect-kubernetes": ["kubernetes"],
}
ALL_TYPES = sorted(t for types in WORKER_TYPES.values() for t in types)


async def _metadata(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    response = await client.get("/collections/views/aggregate-worker-metadata")
    assert response.status_code == 200, response.text
    body: dict[str, dict[str, Any]] = response.json()
    return body


async def test_every_worker_type_is_listed_with_its_template(client: httpx.AsyncClient) -> None:
    metadata = await _metadata(client)
    assert {name: sorted(workers) for name, workers in metadata.items()} == WORKER_TYPES
    for workers in metadata.values():
        for key, worker in workers.items():
            assert worker["type"] == key
            assert worker["display_name"] and worker["install_command"].startswith("pip ")
            template = worker["default_base_job_configuration"]
            validate_base_job_template(template)  # raises on a malformed one
            assert template["job_configuration"] and template["variables"]["properties"]
    assert metadata["prefect"]["process"]["default_base_job_configuration"] == (
        PROCESS_BASE_JOB_TEMPLATE
    )
    kubernetes = metadata["prefect-kubernetes"]["kubernetes"]["default_base_job_configuration"]
    assert {"image", "namespace", "service_account_name"} <= set(
        kubernetes["variables"]["properties"]
    )
    assert kubernetes["job_configuration"]["job_manifest"]["kind"] == "Job"


@pytest.mark.parametrize("pool_type", ALL_TYPES)
async def test_a_pool_of_each_type_gets_its_default_template(
    client: httpx.AsyncClient, pool_type: str
) -> None:
    metadata = await _metadata(client)
    [expected] = [
        w["default_base_job_configuration"]
        for workers in metadata.values()
        for w in workers.values()
        if w["type"] == pool_type
    ]
    response = await client.post("/work_pools/", json={"name": "pool", "type": pool_type})
    assert response.status_code == 201, response.text
    assert response.json()["type"] == pool_type
    assert response.json()["base_job_template"] == expected
    stored = (await client.get("/work_pools/pool")).json()
    assert stored["base_job_template"] == expected


async def test_a_given_template_wins_and_a_custom_type_keeps_its_own(
    client: httpx.AsyncClient,
) -> None:
    own = {
        "job_configuration": {"image": "{{ image }}"},
        "variables": {"type": "object", "properties": {"image": {"type": "string"}}},
    }
    for name, pool_type in (("k8s", "kubernetes"), ("slurm", "slurm")):
        body = {"name": name, "type": pool_type, "base_job_template": own}
        response = await client.post("/work_pools/", json=body)
        assert response.status_code == 201, response.text
        assert response.json()["base_job_template"] == own
    # A type no integration defines and no template: stored as given, as the contract does
    # (a custom worker fills the template in when it starts).
    response = await client.post("/work_pools/", json={"name": "mine", "type": "my-worker"})
    assert response.status_code == 201, response.text
    assert response.json()["base_job_template"] == {}
