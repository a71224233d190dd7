"""Ids inside a request body: each must name an object of the caller's workspace.

Two rules, by what the id names:

- an object the caller must already have (a block document, a concurrency limit): unknown
  here, whether it does not exist or is another workspace's, is a 404 naming the field;
- a run (a log's, an artifact's, a subflow's parent task run, a task's upstream input):
  another workspace's is a 404 naming the field, but one not recorded yet is accepted.
  Clients report task runs in batches, after the logs and subflows that name them (the
  official client does too, through events), and refusing those would lose them.

A refusal never says whether the id exists elsewhere: the answer is the one an unknown id
would get.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from flowyard.schemas import core
from flowyard.server.database import orm
from flowyard.server.database.orm_blocks import BlockDocument
from flowyard.server.errors import Invalid, NotFound
from flowyard.server.operations.context import Tx
from flowyard.server.queries import references as queries


async def require_block_document(tx: Tx, field: str, document_id: uuid.UUID | None) -> None:
    if document_id is None:
        return
    if not await queries.ids_here(tx.session, tx.workspace_id, BlockDocument, [document_id]):
        raise NotFound(f"{field}: no block document {document_id} in this workspace.")


async def require_storage_configuration(tx: Tx, configuration: Mapping[str, Any] | None) -> None:
    """A work pool's ``storage_configuration`` (free-form JSON) names its result storage
    block document by id: one of this workspace's, like any other."""
    named = (configuration or {}).get("default_result_storage_block_id")
    if named is None:
        return
    field = "storage_configuration.default_result_storage_block_id"
    try:
        document_id = uuid.UUID(str(named))
    except ValueError:
        raise Invalid(f"{field}: {named!r} is not a block document id.") from None
    await require_block_document(tx, field, document_id)


async def require_concurrency_limit(tx: Tx, field: str, limit_id: uuid.UUID | None) -> None:
    if limit_id is None:
        return
    if not await queries.ids_here(tx.session, tx.workspace_id, orm.ConcurrencyLimit, [limit_id]):
        raise NotFound(f"{field}: no concurrency limit {limit_id} in this workspace.")


async def refuse_foreign_runs(
    tx: Tx,
    flow_run_ids: Mapping[str, Iterable[uuid.UUID | None]] | None = None,
    task_run_ids: Mapping[str, Iterable[uuid.UUID | None]] | None = None,
) -> None:
    """404 if any id, by field name, is a run of another workspace (see the module doc)."""
    by_kind = {"flow run": flow_run_ids or {}, "task run": task_run_ids or {}}
    named = {
        kind: {i for ids in by_field.values() for i in ids if i is not None}
        for kind, by_field in by_kind.items()
    }
    if not named["flow run"] and not named["task run"]:
        return
    foreign = dict(
        zip(
            by_kind,
            await queries.runs_elsewhere(
                tx.session, tx.workspace_id, named["flow run"], named["task run"]
            ),
            strict=True,
        )
    )
    for kind, by_field in by_kind.items():
        for field, ids in by_field.items():
            for run_id in ids:
                if run_id in foreign[kind]:
                    raise NotFound(f"{field}: no {kind} {run_id} in this workspace.")


def upstream_runs(
    task_inputs: Mapping[str, Sequence[core.TaskRunInput]],
) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """The (flow run ids, task run ids) a task run's inputs name."""
    flow_runs, task_runs = [], []
    for inputs in task_inputs.values():
        for item in inputs:
            if item.id is not None and item.input_type == "task_run":
                task_runs.append(item.id)
            elif item.id is not None and item.input_type == "flow_run":
                flow_runs.append(item.id)
    return flow_runs, task_runs
