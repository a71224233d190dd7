"""Accounts and workspaces: the default pair created at first start, and lookups."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.server.database import orm

DEFAULT_HANDLE = "default"


async def ensure_default_workspace(session: AsyncSession) -> orm.Workspace:
    """The default account and workspace, created on first start. Safe to call every start."""
    account = (
        await session.execute(sa.select(orm.Account).where(orm.Account.handle == DEFAULT_HANDLE))
    ).scalar_one_or_none()
    if account is None:
        account = orm.Account(name="Default account", handle=DEFAULT_HANDLE)
        session.add(account)
        await session.flush()
    workspace = (
        await session.execute(
            sa.select(orm.Workspace).where(
                orm.Workspace.account_id == account.id, orm.Workspace.handle == DEFAULT_HANDLE
            )
        )
    ).scalar_one_or_none()
    if workspace is None:
        workspace = orm.Workspace(account_id=account.id, name="Default", handle=DEFAULT_HANDLE)
        session.add(workspace)
        await session.flush()
    return workspace


async def workspace_belongs_to(
    session: AsyncSession, workspace_id: uuid.UUID, account_id: uuid.UUID
) -> bool:
    found = await session.scalar(
        sa.select(orm.Workspace.id).where(
            orm.Workspace.id == workspace_id, orm.Workspace.account_id == account_id
        )
    )
    return found is not None


async def read_workspace_name(session: AsyncSession, workspace_id: uuid.UUID) -> str | None:
    name: str | None = await session.scalar(
        sa.select(orm.Workspace.name).where(orm.Workspace.id == workspace_id)
    )
    return name


async def create_workspace(
    session: AsyncSession, account_id: uuid.UUID, name: str, handle: str
) -> orm.Workspace:
    workspace = orm.Workspace(account_id=account_id, name=name, handle=handle)
    session.add(workspace)
    await session.flush()
    return workspace
