"""The application layer's chokepoint: every operation names a permission, and a caller
without it is refused before anything is read or written."""

import importlib
import pkgutil
import uuid

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from flowyard.schemas import actions
from flowyard.server import operations
from flowyard.server.database import orm
from flowyard.server.database.engine import Database
from flowyard.server.errors import Forbidden
from flowyard.server.operations import flow_runs
from flowyard.server.operations.context import OPERATIONS, RequestContext, Tx, permission

VERBS = {"read", "create", "update", "delete", "run"}


def _all_operations() -> dict[str, object]:
    for module in pkgutil.iter_modules(operations.__path__):
        importlib.import_module(f"{operations.__name__}.{module.name}")
    return dict(OPERATIONS)


def test_every_operation_names_a_permission_of_the_contract_form() -> None:
    found = _all_operations()
    assert len(found) > 10
    for name, info in found.items():
        verb, _, obj = info.permission.partition(":")  # type: ignore[attr-defined]
        assert verb in VERBS and obj, f"{name} declares {info.permission!r}"  # type: ignore[attr-defined]


def test_reads_never_declare_writes_and_writers_do() -> None:
    found = _all_operations()
    assert found["flow_runs.read_flow_run"].writes is False  # type: ignore[attr-defined]
    assert found["flow_runs.create_flow_run"].writes is True  # type: ignore[attr-defined]


def _context(app: FastAPI, db: Database, *allowed: str) -> RequestContext:
    return RequestContext(
        db, app.state.default_workspace_id, app.state.default_account_id,
        permissions=frozenset(allowed),
    )  # fmt: skip


async def _flow(db: Database, workspace_id: uuid.UUID) -> uuid.UUID:
    async with db.write() as session:
        flow = orm.Flow(workspace_id=workspace_id, name="etl")
        session.add(flow)
        await session.flush()
        return flow.id


async def _run_count(db: Database) -> int:
    async with db.read() as session:
        return await session.scalar(sa.select(sa.func.count()).select_from(orm.FlowRun)) or 0


async def test_a_caller_without_the_permission_is_refused_and_nothing_is_written(
    app: FastAPI, db: Database
) -> None:
    flow_id = await _flow(db, app.state.default_workspace_id)
    reader = _context(app, db, permission("read", "flow_run"))
    with pytest.raises(Forbidden, match="create:flow_run"):
        await flow_runs.create_flow_run(reader, actions.FlowRunCreate(flow_id=flow_id))
    assert await _run_count(db) == 0

    writer = _context(app, db, permission("create", "flow_run"))
    run, created = await flow_runs.create_flow_run(writer, actions.FlowRunCreate(flow_id=flow_id))
    assert created and await _run_count(db) == 1
    # The writer may not read: the check holds for reads too.
    with pytest.raises(Forbidden):
        await flow_runs.read_flow_run(writer, run.id)
    assert (await flow_runs.read_flow_run(reader, run.id)).id == run.id


async def test_an_operation_composed_into_another_is_checked_too(
    app: FastAPI, db: Database
) -> None:
    flow_id = await _flow(db, app.state.default_workspace_id)
    creator = _context(app, db, permission("create", "flow_run"))
    with pytest.raises(Forbidden):
        async with db.write() as session:
            tx = Tx(creator, session, True)
            await flow_runs.create_flow_run(tx, actions.FlowRunCreate(flow_id=flow_id))
            await flow_runs.delete_flow_run(tx, uuid.uuid4())  # needs delete:flow_run
    # The refusal rolled the whole transaction back, the create included.
    assert await _run_count(db) == 0
