"""Runs that enter a work queue: linked to their queue and pool, and workers woken.

Every new run that names a pool goes through :func:`prepare_queued_run` before it is
inserted, whoever creates it (the API, a deployment, an automation).
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.server.database import orm
from flowyard.server.database.wakeups import notify_after_commit
from flowyard.server.queries.job_templates import validate_job_variables
from flowyard.server.queries.work_pools import (
    WorkPoolNotFound,
    read_work_pool_by_name,
    resolve_work_queue,
)


async def prepare_queued_run(
    session: AsyncSession, workspace_id: uuid.UUID, run: orm.FlowRun
) -> None:
    """Before a new run is inserted: link it to its queue when it names a work pool but no
    queue id (``FlowRunCreate.work_pool_name``/``work_queue_name``), checking its job
    variables against the pool's template (InvalidJobTemplate, a 422 naming the variable),
    and arrange for waiting workers to be woken once it is stored. A pool that does not
    exist leaves the run unlinked, as before."""
    if run.work_queue_id is None and run.work_pool_name:
        try:
            queue = await resolve_work_queue(
                session, workspace_id, run.work_pool_name, run.work_queue_name
            )
        except WorkPoolNotFound:
            return
        pool = await read_work_pool_by_name(session, workspace_id, run.work_pool_name)
        if pool is not None and run.job_variables:
            validate_job_variables(pool.base_job_template, run.job_variables)
        run.work_queue_id = queue.id
        run.work_queue_name = queue.name
        run.work_pool_id = queue.work_pool_id
    if run.work_queue_id is not None:
        notify_after_commit(session)
