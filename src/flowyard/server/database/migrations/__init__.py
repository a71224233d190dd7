"""Schema migrations. (Placeholder until the Alembic environment lands: creates tables.)"""

from __future__ import annotations

from flowyard.server.database.engine import Database


async def upgrade_to_head(db: Database) -> None:
    await db.create_all()
