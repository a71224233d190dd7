"""The v2 concurrency limit behind a deployment's ``concurrency_limit``, named
``deployment:<id>``: made, resized and removed with the deployment, and read back for its
``global_concurrency_limit``. Orchestration takes and gives back its slots
(``orchestration.deployment_concurrency``)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas.actions import ConcurrencyLimitV2Create, ConcurrencyLimitV2Update
from flowyard.server.database import orm
from flowyard.server.database.orm_deployments import Deployment
from flowyard.server.queries import concurrency_limits as limits
from flowyard.server.queries.concurrency_holders import delete_limit_and_leases

PREFIX = "deployment:"


def limit_name(deployment_id: uuid.UUID) -> str:
    return f"{PREFIX}{deployment_id}"


async def sync_deployment_limit(
    session: AsyncSession, deployment: Deployment, now: dt.datetime
) -> None:
    """Make the limit match ``deployment.concurrency_limit``: created, resized, or removed
    (with the leases holding it) when the deployment has none."""
    name = limit_name(deployment.id)
    found = await limits.read_concurrency_limit_by_name(session, deployment.workspace_id, name)
    wanted = deployment.concurrency_limit
    if wanted is None:
        if found is not None:
            await delete_limit_and_leases(session, deployment.workspace_id, found.id, now)
        return
    if found is None:
        await limits.create_concurrency_limit(
            session, deployment.workspace_id, ConcurrencyLimitV2Create(name=name, limit=wanted)
        )
    elif found.limit != wanted:
        await limits.update_concurrency_limit(
            session,
            deployment.workspace_id,
            found.id,
            ConcurrencyLimitV2Update(limit=wanted),
            now,
        )


async def delete_deployment_limit(
    session: AsyncSession, deployment: Deployment, now: dt.datetime
) -> None:
    found = await limits.read_concurrency_limit_by_name(
        session, deployment.workspace_id, limit_name(deployment.id)
    )
    if found is not None:
        await delete_limit_and_leases(session, deployment.workspace_id, found.id, now)


async def read_deployment_limits(
    session: AsyncSession, workspace_id: uuid.UUID, deployment_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, orm.ConcurrencyLimit]:
    """The limits of those deployments that have one, by deployment id."""
    if not deployment_ids:
        return {}
    names = {limit_name(i): i for i in deployment_ids}
    rows = await session.scalars(
        sa.select(orm.ConcurrencyLimit).where(
            orm.ConcurrencyLimit.workspace_id == workspace_id,
            orm.ConcurrencyLimit.name.in_(list(names)),
        )
    )
    return {names[row.name]: row for row in rows}
