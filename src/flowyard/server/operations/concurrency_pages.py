"""What the web UI's Concurrency page reads: every limit with the leases holding its slots.

A tag (v1) limit is the global limit named ``tag:<tag>`` (see :mod:`.concurrency_limits`),
so one read of the limits and one of their leases serve both sections: two statements
whatever the number of limits or holders.
"""

from __future__ import annotations

from dataclasses import dataclass

from flowyard.schemas import core
from flowyard.schemas.concurrency import TAG_PREFIX, ConcurrencyLease
from flowyard.server.database.types import utcnow
from flowyard.server.operations.concurrency_limits_v2 import READ, find_limit, limit_schema
from flowyard.server.operations.context import Tx, operation
from flowyard.server.queries import concurrency_holders as holders
from flowyard.server.queries import concurrency_limits as queries

# A page shows at most this many limits (the API pages them the same way).
MAX_LIMITS = 200


@dataclass(frozen=True, slots=True)
class HeldLimit:
    limit: core.ConcurrencyLimitV2
    leases: list[ConcurrencyLease]

    @property
    def is_tag_limit(self) -> bool:
        return self.limit.name.startswith(TAG_PREFIX)

    @property
    def tag(self) -> str:
        return self.limit.name.removeprefix(TAG_PREFIX)


@dataclass(frozen=True, slots=True)
class ConcurrencyOverview:
    tag_limits: list[HeldLimit]
    global_limits: list[HeldLimit]


@operation(READ)
async def read_concurrency_overview(tx: Tx) -> ConcurrencyOverview:
    rows = await queries.read_concurrency_limits(tx.session, tx.workspace_id, limit=MAX_LIMITS)
    leases = await holders.read_leases(tx.session, tx.workspace_id, [row.id for row in rows])
    now = utcnow()
    held = [
        HeldLimit(
            limit_schema(row, now), [ConcurrencyLease.model_validate(x) for x in leases[row.id]]
        )
        for row in rows
    ]
    return ConcurrencyOverview(
        [h for h in held if h.is_tag_limit], [h for h in held if not h.is_tag_limit]
    )


@operation(READ)
async def read_held_limit(tx: Tx, id_or_name: str) -> HeldLimit:
    """One limit (by id or name) with its leases."""
    row = await find_limit(tx, id_or_name)
    leases = (await holders.read_leases(tx.session, tx.workspace_id, [row.id]))[row.id]
    return HeldLimit(
        limit_schema(row, utcnow()), [ConcurrencyLease.model_validate(x) for x in leases]
    )
