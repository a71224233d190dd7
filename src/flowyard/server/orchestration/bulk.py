"""The bulk entry point: one proposal for each of many flow runs, in one transaction.

The background monitors move hundreds of runs at a time (overdue Scheduled runs to Late);
going through :func:`~flowyard.server.orchestration.transitions.set_flow_run_state` once per
run would cost five statements each. Here the runs and their current states are read with
one statement for the whole batch (two on PostgreSQL, which must lock before it reads the
states), each proposal goes through the very same policy and global transforms as a single
transition -- so every state entered writes its ``prefect.flow-run.<State>`` event through
:mod:`~flowyard.server.orchestration.instrumentation` -- and the new states and changed run
columns are written with one ``executemany`` per statement shape.

Nothing commits here: the caller owns the transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas.states import OrchestrationResult, State, StateCreate, StateType
from flowyard.server.database import orm
from flowyard.server.database.prepared import Prepared, insert_statement
from flowyard.server.orchestration import transitions
from flowyard.server.orchestration.policies import CoreFlowPolicy, GlobalFlowPolicy
from flowyard.server.orchestration.rules import Policy, orchestrate
from flowyard.server.queries.run_states import (
    FLOW_RUN_COLUMNS,
    FLOW_RUN_STATE_COLUMNS,
    FLOW_RUN_STATE_TABLE,
    FLOW_RUN_TABLE,
    detached_flow_run,
    flow_run_state_row,
    state_from_values,
)

RunKey = tuple[uuid.UUID, uuid.UUID]  # (workspace_id, flow_run_id)
# Decides, from the run and its current state as locked, whether to propose at all.
Guard = Callable[[orm.FlowRun, State | None], bool]

_RUN = FLOW_RUN_TABLE.c
_STATE = FLOW_RUN_STATE_TABLE.c
_INSERT_STATES = Prepared(insert_statement(FLOW_RUN_STATE_TABLE))
_UPDATES: dict[tuple[str, ...], Prepared] = {}
_UNSET = object()


@dataclass(slots=True)
class _Loaded:
    run: orm.FlowRun
    state: State | None
    before: dict[str, Any]


async def load_flow_runs(
    session: AsyncSession, keys: Sequence[RunKey]
) -> dict[uuid.UUID, tuple[orm.FlowRun, State | None]]:
    """The runs named by ``keys`` (detached) with their current states, locked for the
    transaction; a run that is not in the workspace its key names is left out."""
    wanted = {run_id: workspace_id for workspace_id, run_id in keys}
    if not wanted:
        return {}
    ids = sorted(wanted, key=lambda run_id: run_id.int)  # one lock order for every caller
    count = len(FLOW_RUN_COLUMNS)
    found: dict[uuid.UUID, tuple[orm.FlowRun, State | None]] = {}
    if session.sync_session.get_bind().dialect.name == "sqlite":
        # One statement: the IMMEDIATE write transaction already excludes other writers.
        rows = await session.execute(
            sa.select(*_RUN, *_STATE)
            .outerjoin(
                FLOW_RUN_STATE_TABLE,
                sa.and_(_STATE.id == _RUN.state_id, _STATE.workspace_id == _RUN.workspace_id),
            )
            .where(_RUN.id.in_(ids))
        )
        pairs = [(tuple(row[:count]), tuple(row[count:])) for row in rows]
    else:
        # Lock first, then read the states committed by whoever held the locks before us.
        run_rows = (
            await session.execute(
                sa.select(*_RUN).where(_RUN.id.in_(ids)).order_by(_RUN.id).with_for_update()
            )
        ).all()
        state_ids = [row[FLOW_RUN_COLUMNS.index("state_id")] for row in run_rows]
        states: dict[uuid.UUID, Sequence[Any]] = {}
        if any(state_ids):
            state_rows = await session.execute(
                sa.select(*_STATE).where(_STATE.id.in_([i for i in state_ids if i]))
            )
            key = FLOW_RUN_STATE_COLUMNS.index("id")
            states = {row[key]: row for row in state_rows}
        pairs = [
            (tuple(row), _state_in_workspace_of(row, states.get(state_id)))
            for row, state_id in zip(run_rows, state_ids, strict=True)
        ]
    for run_values, state_values in pairs:
        run = detached_flow_run(dict(zip(FLOW_RUN_COLUMNS, run_values, strict=True)))
        if wanted.get(run.id) != run.workspace_id:
            continue  # another workspace's run: never touched through this key
        found[run.id] = (run, _current_state(run, state_values))
    return found


_RUN_WORKSPACE = FLOW_RUN_COLUMNS.index("workspace_id")
_STATE_WORKSPACE = FLOW_RUN_STATE_COLUMNS.index("workspace_id")


def _state_in_workspace_of(run: Sequence[Any], state: Sequence[Any] | None) -> tuple[Any, ...]:
    # A state counts only in its run's workspace (as in the joined SQLite read).
    if state is None or state[_STATE_WORKSPACE] != run[_RUN_WORKSPACE]:
        return ()
    return tuple(state)


def _current_state(run: orm.FlowRun, values: Sequence[Any]) -> State | None:
    if run.state_id is None:
        return None
    if values and values[0] is not None:
        return state_from_values(dict(zip(FLOW_RUN_STATE_COLUMNS, values, strict=True)))
    # The history row is gone (retention): the run's own columns say where it stands.
    return State(
        id=run.state_id,
        type=StateType(run.state_type or StateType.PENDING),
        name=run.state_name,
        timestamp=run.state_timestamp or run.updated,
    )


async def set_flow_run_states(
    session: AsyncSession,
    keys: Sequence[RunKey],
    proposal: StateCreate,
    *,
    guard: Guard | None = None,
    policy: Policy[orm.FlowRun] = CoreFlowPolicy,
) -> dict[uuid.UUID, OrchestrationResult]:
    """Propose ``proposal`` for every run of ``keys`` through ``policy``; returns the result
    of each run that was found (and passed ``guard``), by run id."""
    loaded = await load_flow_runs(session, keys)
    contexts: list[tuple[transitions.FlowRunContext, dict[str, Any]]] = []
    for run, state in loaded.values():
        if guard is not None and not guard(run, state):
            continue
        before = dict(run.__dict__)
        ctx = transitions.FlowRunContext(session, run, state, transitions.proposed_state(proposal))
        await orchestrate(ctx, policy, GlobalFlowPolicy)
        contexts.append((ctx, before))
    await _save(session, contexts)
    results: dict[uuid.UUID, OrchestrationResult] = {}
    for ctx, _ in contexts:
        if ctx.run.parent_task_run_id is not None:
            # A subflow's tracking task run follows it: rare here, so one at a time.
            await transitions._follow_subflow(session, ctx)
        results[ctx.run.id] = ctx.result()
    return results


async def _save(
    session: AsyncSession, contexts: Sequence[tuple[transitions.FlowRunContext, Mapping[str, Any]]]
) -> None:
    """Every written state in one ``executemany``, then the changed run columns, grouped by
    which columns changed (one prepared ``UPDATE`` per shape)."""
    states = [
        flow_run_state_row(ctx.run, ctx.written, ctx.now)
        for ctx, _ in contexts
        if ctx.written is not None
    ]
    await _INSERT_STATES.run_many(session, states)
    by_shape: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for ctx, before in contexts:
        values = ctx.run.__dict__
        changed = {
            key: values[key]
            for key in FLOW_RUN_COLUMNS
            if key in values and before.get(key, _UNSET) != values[key]
        }
        if not changed:
            continue
        changed["updated"] = ctx.run.updated = ctx.now
        keys = tuple(sorted(changed))
        by_shape.setdefault(keys, []).append({**changed, "run_id": ctx.run.id})
    for keys, params in by_shape.items():
        update = _UPDATES.get(keys)
        if update is None:
            update = _UPDATES[keys] = Prepared(
                sa.update(FLOW_RUN_TABLE)
                .where(_RUN.id == sa.bindparam("run_id"))
                .values({key: sa.bindparam(key) for key in keys})
            )
        await update.run_many(session, params)
