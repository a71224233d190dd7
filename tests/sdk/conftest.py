"""Fixtures for SDK tests: runs are recorded in the embedded server of each test's
FLOWYARD_HOME, and read back through the sync client."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from flowyard.client import SyncFlowyardClient, get_sync_client, shutdown_embedded
from flowyard.schemas.core import FlowRun, Log, TaskRun
from flowyard.schemas.filters import FlowRunFilter, LogFilter, TaskRunFilter
from flowyard.sdk.engine import api


@pytest.fixture(autouse=True)
def _fresh_engine() -> Iterator[None]:
    yield
    api.reset()  # flushes and forgets this test's reporter and client
    shutdown_embedded()


class Recorded:
    """Reads back what the SDK recorded, after flushing the reporter."""

    def __init__(self, client: SyncFlowyardClient) -> None:
        self.client = client

    def flush(self) -> None:
        reporter = api.current_reporter()
        if reporter is not None:
            assert reporter.flush(timeout=60)

    def flow_run(self, flow_run_id: uuid.UUID) -> FlowRun:
        self.flush()
        return self.client.read_flow_run(flow_run_id)

    def flow_runs(self, **filters: Any) -> list[FlowRun]:
        self.flush()
        flt = FlowRunFilter.model_validate(filters) if filters else None
        return self.client.read_flow_runs(flow_run_filter=flt, limit=200)

    def task_runs(self, flow_run_id: uuid.UUID | None = None) -> list[TaskRun]:
        self.flush()
        flt = (
            FlowRunFilter.model_validate({"id": {"any_": [str(flow_run_id)]}})
            if flow_run_id
            else None
        )
        runs: list[TaskRun] = []
        while True:
            page = self.client.read_task_runs(
                flow_run_filter=flt, task_run_filter=TaskRunFilter(), limit=200, offset=len(runs)
            )
            runs.extend(page)
            if len(page) < 200:
                return runs

    def logs(self, flow_run_id: uuid.UUID | None = None) -> list[Log]:
        self.flush()
        flt = (
            LogFilter.model_validate({"flow_run_id": {"any_": [str(flow_run_id)]}})
            if flow_run_id
            else None
        )
        logs: list[Log] = []
        while True:
            page = self.client.read_logs(flt, limit=200, offset=len(logs))
            logs.extend(page)
            if len(page) < 200:
                return logs


@pytest.fixture
def recorded() -> Iterator[Recorded]:
    client = get_sync_client()
    yield Recorded(client)
    client.close()
