"""BaseWorker.setup on a pool that does not exist yet: it creates it; when another worker
started at the same moment created it first (409), this one carries on with that pool."""

from __future__ import annotations

from typing import Any

import pytest

from flowyard.exceptions import InvalidRequest, ObjectAlreadyExists, ObjectNotFound
from flowyard.workers.base import BaseWorker


class RacingClient:
    """A pool that appears between this worker's read and its create."""

    def __init__(self, create_error: Exception | None) -> None:
        self.calls: list[str] = []
        self.create_error = create_error

    async def read_work_pool(self, name: str) -> dict[str, Any]:
        self.calls.append("read")
        if self.calls.count("read") == 1:
            raise ObjectNotFound(f"Work pool {name!r} not found.")
        return {"name": name}

    async def create_work_pool(self, name: str, *, type: str) -> None:
        self.calls.append("create")
        if self.create_error is not None:
            raise self.create_error


async def test_a_pool_created_by_another_worker_meanwhile_is_used() -> None:
    client = RacingClient(ObjectAlreadyExists("A work pool named 'new' already exists."))
    worker = BaseWorker("new", client=client)  # type: ignore[arg-type]
    await worker.setup()
    assert client.calls == ["read", "create", "read"]


async def test_setup_creates_a_missing_pool() -> None:
    client = RacingClient(None)
    await BaseWorker("new", client=client).setup()  # type: ignore[arg-type]
    assert client.calls == ["read", "create"]


async def test_other_create_errors_still_stop_the_worker() -> None:
    client = RacingClient(InvalidRequest("type: unknown"))
    with pytest.raises(InvalidRequest):
        await BaseWorker("new", client=client).setup()  # type: ignore[arg-type]
