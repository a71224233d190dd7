"""The worker channel (``/work_pools/{name}/workers/connect``, version
``work_pool_worker_channel.v1``): the frames a worker and the server exchange.

After the websocket auth handshake the worker says hello (its name, type, heartbeat interval,
the capabilities it asks for); the server answers ready (what it accepts, the work queues
the worker serves, and a first snapshot of the pool); from then on the worker sends
heartbeats and the server sends a new snapshot whenever the pool changes. Runs are still
taken over REST (``get_scheduled_flow_runs``): the channel replaces only the worker's
heartbeat and pool polling.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from flowyard.schemas.work_pools import WorkPool

VERSION = "work_pool_worker_channel.v1"
HEARTBEAT = "worker_heartbeat.v1"
SNAPSHOT = "work_pool_snapshot.v1"
# Both are required by the protocol; cleanup delivery (the third) is optional and not
# served: Flowyard's cancellation service finishes runs a worker leaves Cancelling.
REQUIRED_CAPABILITIES = (HEARTBEAT, SNAPSHOT)


class _Frame(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    sent_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))


class HelloPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    consumer_id: uuid.UUID
    worker_name: str = Field(min_length=1, max_length=255)
    worker_type: str = Field(min_length=1, max_length=255)
    heartbeat_interval_seconds: int = Field(gt=0, le=86_400)
    supported_channel_versions: list[str] = Field(min_length=1, max_length=20)
    requested_capabilities: list[str] = Field(min_length=1, max_length=20)
    work_queue_names: list[str] = Field(default_factory=list, max_length=1_000)
    create_pool_if_not_found: bool = False
    default_base_job_template: dict[str, Any] = Field(default_factory=dict)
    worker_metadata: dict[str, Any] | None = None


class Hello(_Frame):
    type: Literal["worker.hello.v1"]
    payload: HelloPayload


class HeartbeatPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    consumer_id: uuid.UUID
    worker_name: str = Field(min_length=1, max_length=255)
    heartbeat_interval_seconds: int = Field(gt=0, le=86_400)


class Heartbeat(_Frame):
    type: Literal["worker.heartbeat.v1"]
    payload: HeartbeatPayload


class ResolvedWorkQueue(BaseModel):
    id: uuid.UUID
    name: str


class Snapshot(BaseModel):
    snapshot_sequence: int
    reason: str
    work_pool: WorkPool


class ReadyPayload(BaseModel):
    consumer_id: uuid.UUID
    worker_id: uuid.UUID | None
    selected_channel_version: str = VERSION
    effective_heartbeat_interval_seconds: int
    accepted_capabilities: list[str]
    rejected_capabilities: list[str]
    effective_max_cleanup_concurrency: int = 0
    resolved_work_queues: list[ResolvedWorkQueue]
    initial_snapshot: Snapshot


class Ready(_Frame):
    type: Literal["worker.ready.v1"] = "worker.ready.v1"
    payload: ReadyPayload


class SnapshotFrame(_Frame):
    type: Literal["work_pool.snapshot.v1"] = "work_pool.snapshot.v1"
    payload: Snapshot
