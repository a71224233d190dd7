"""A flow run's graph (``/flow_runs/{id}/graph-v2``) and dependency list (``/graph``).

Nodes are the run's task runs; a task run that tracks a subflow is drawn as that subflow
run (kind ``flow-run``). A node's parents are the task runs whose results it took as
inputs; the runs it was called inside (``__parents__`` inputs) encapsulate it. Runs that
ended before ``since`` are left out, so the UI can poll a running flow for what changed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from flowyard.schemas.graph import (
    DependencyResult,
    Edge,
    Graph,
    GraphArtifact,
    GraphState,
    Node,
    TaskRunResult,
)
from flowyard.schemas.states import State, StateDetails, StateType
from flowyard.server.database.types import utcnow
from flowyard.server.errors import DomainError, NotFound
from flowyard.server.operations.context import Tx, operation, permission
from flowyard.server.queries import flow_run_graph as queries
from flowyard.server.queries import flow_runs as flow_run_queries
from flowyard.server.queries.history import run_time_estimate

READ = permission("read", "flow_run")
MAX_NODES = 10_000
MAX_ARTIFACTS = 10_000
PARENTS_KEY = "__parents__"


class GraphTooLarge(DomainError):
    status_code = 400


def _task_run_ids(inputs: Iterable[Any]) -> list[uuid.UUID]:
    found = []
    for item in inputs or ():
        if isinstance(item, dict) and item.get("input_type") == "task_run" and item.get("id"):
            try:
                found.append(uuid.UUID(str(item["id"])))
            except ValueError:
                continue
    return found


def _edges(task_inputs: dict[str, Any] | None) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """(data parents, encapsulating runs) named by a task run's inputs, each once."""
    parents: dict[uuid.UUID, None] = {}
    encapsulating: dict[uuid.UUID, None] = {}
    for key, inputs in (task_inputs or {}).items():
        target = encapsulating if key == PARENTS_KEY else parents
        for ident in _task_run_ids(inputs):
            target[ident] = None
    return list(parents), list(encapsulating)


async def _require_run(tx: Tx, flow_run_id: uuid.UUID) -> Any:
    run = await flow_run_queries.read_flow_run(tx.session, tx.workspace_id, flow_run_id)
    if run is None:
        raise NotFound("Flow run not found.")
    return run


@operation(READ)
async def read_flow_run_graph(
    tx: Tx, flow_run_id: uuid.UUID, since: dt.datetime | None = None
) -> Graph:
    run = await _require_run(tx, flow_run_id)
    rows = await queries.read_graph_task_runs(
        tx.session, tx.workspace_id, flow_run_id, since, MAX_NODES + 1
    )
    if len(rows) > MAX_NODES:
        raise GraphTooLarge(
            f"This flow run has more than {MAX_NODES} task runs; its graph is too large to draw."
        )
    subflows = await queries.read_subflow_runs(tx.session, tx.workspace_id, [r.id for r in rows])
    # A tracking task run stands for its subflow: edges to it lead to the subflow's node.
    node_id = {r.id: (subflows[r.id].id if r.id in subflows else r.id) for r in rows}
    artifacts = await _artifacts(tx, flow_run_id)
    by_task_run: dict[uuid.UUID, list[GraphArtifact]] = {}
    for task_run_id, artifact in artifacts:
        if task_run_id is not None:
            by_task_run.setdefault(task_run_id, []).append(artifact)
    nodes: dict[uuid.UUID, Node] = {}
    for row in rows:
        parents, encapsulating = _edges(row.task_inputs)
        sub = subflows.get(row.id)
        source = sub if sub is not None else row
        ident = node_id[row.id]
        nodes[ident] = Node(
            kind="flow-run" if sub is not None else "task-run",
            id=ident,
            label=source.name,
            state_type=StateType(source.state_type or StateType.PENDING.value),
            start_time=source.start_time or source.expected_start_time or run.created,
            end_time=source.end_time,
            parents=[Edge(id=node_id.get(p, p)) for p in parents],
            children=[],
            encapsulating=[Edge(id=node_id.get(e, e)) for e in encapsulating],
            artifacts=by_task_run.get(row.id, []),
        )
    for ident, node in nodes.items():
        for parent in node.parents:
            if parent.id in nodes:
                nodes[parent.id].children.append(Edge(id=ident))
    states = await queries.read_flow_run_states(tx.session, tx.workspace_id, flow_run_id)
    return Graph(
        start_time=run.start_time,
        end_time=run.end_time,
        root_node_ids=[i for i, n in nodes.items() if not n.parents],
        nodes=list(nodes.items()),
        artifacts=[a for task_run_id, a in artifacts if task_run_id is None],
        states=[
            GraphState(id=s.id, timestamp=s.timestamp, type=StateType(s.type), name=s.name)
            for s in states
        ],
    )


async def _artifacts(
    tx: Tx, flow_run_id: uuid.UUID
) -> list[tuple[uuid.UUID | None, GraphArtifact]]:
    rows = (await queries.read_graph_artifacts(tx.session, tx.workspace_id, flow_run_id))[
        :MAX_ARTIFACTS
    ]
    keys = sorted({r.key for r in rows if r.key})
    latest = await queries.read_latest_artifact_ids(tx.session, tx.workspace_id, keys)
    return [
        (
            r.task_run_id,
            GraphArtifact(
                id=r.id,
                created=r.created,
                key=r.key,
                type=r.type,
                is_latest=r.key is None or r.id in latest,
                # Progress artifacts are drawn from their value; others are linked to.
                data=r.data if r.type == "progress" else None,
            ),
        )
        for r in rows
    ]


@operation(READ)
async def read_flow_run_dependencies(tx: Tx, flow_run_id: uuid.UUID) -> list[DependencyResult]:
    """The older graph: each task run with the task runs it took inputs from."""
    await _require_run(tx, flow_run_id)
    rows = await queries.read_graph_task_runs(
        tx.session, tx.workspace_id, flow_run_id, None, MAX_NODES + 1
    )
    if len(rows) > MAX_NODES:
        raise GraphTooLarge(f"This flow run has more than {MAX_NODES} task runs.")
    states = await queries.read_task_run_states(
        tx.session, tx.workspace_id, [r.state_id for r in rows if r.state_id]
    )
    now = utcnow()
    return [
        DependencyResult(
            id=row.id,
            name=row.name,
            upstream_dependencies=[TaskRunResult(id=i) for i in _all_inputs(row.task_inputs)],
            state=_state(states.get(row.state_id)),
            expected_start_time=row.expected_start_time,
            start_time=row.start_time,
            end_time=row.end_time,
            total_run_time=row.total_run_time,
            estimated_run_time=run_time_estimate(
                row.state_type, row.state_timestamp, row.total_run_time, now
            ),
            untrackable_result=False,
        )
        for row in rows
    ]


def _all_inputs(task_inputs: dict[str, Any] | None) -> Sequence[uuid.UUID]:
    parents, encapsulating = _edges(task_inputs)
    return list(dict.fromkeys([*parents, *encapsulating]))


def _state(row: Any) -> State | None:
    if row is None:
        return None
    return State(
        id=row.id,
        type=StateType(row.type),
        name=row.name,
        timestamp=row.timestamp,
        message=row.message,
        data=row.data,
        state_details=StateDetails.model_validate(row.state_details or {}),
    )
