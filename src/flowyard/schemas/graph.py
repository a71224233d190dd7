"""A flow run's graph: its task runs and subflow runs as nodes, their data dependencies as
edges (``GET /flow_runs/{id}/graph-v2``), and the older dependency list (``/graph``)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import Field

from flowyard.schemas.base import FlowyardModel
from flowyard.schemas.states import State, StateType


class Edge(FlowyardModel):
    id: uuid.UUID


class GraphArtifact(FlowyardModel):
    id: uuid.UUID
    created: dt.datetime
    key: str | None
    type: str | None
    is_latest: bool
    data: Any | None


class GraphState(FlowyardModel):
    id: uuid.UUID
    timestamp: dt.datetime
    type: StateType
    name: str


class Node(FlowyardModel):
    kind: Literal["flow-run", "task-run"]
    id: uuid.UUID
    label: str
    state_type: StateType
    start_time: dt.datetime
    end_time: dt.datetime | None
    parents: list[Edge]
    children: list[Edge]
    encapsulating: list[Edge]
    artifacts: list[GraphArtifact]


class Graph(FlowyardModel):
    start_time: dt.datetime | None
    end_time: dt.datetime | None
    root_node_ids: list[uuid.UUID]
    nodes: list[tuple[uuid.UUID, Node]]
    artifacts: list[GraphArtifact]
    states: list[GraphState]


class TaskRunResult(FlowyardModel):
    input_type: Literal["task_run"] = "task_run"
    id: uuid.UUID


class DependencyResult(FlowyardModel):
    id: uuid.UUID
    name: str
    upstream_dependencies: list[TaskRunResult] = Field(default_factory=list)
    state: State | None
    expected_start_time: dt.datetime | None
    start_time: dt.datetime | None
    end_time: dt.datetime | None
    total_run_time: float | None
    estimated_run_time: float | None
    untrackable_result: bool = False
