"""Global concurrency limits and leases through the client."""

from __future__ import annotations

import uuid

import pytest

from flowyard.client import FlowyardClient
from flowyard.exceptions import ConcurrencySlotTimeout, InvalidRequest, ObjectNotFound
from flowyard.schemas.actions import ConcurrencyLeaseHolder


async def test_limit_crud(api_client: FlowyardClient) -> None:
    limit = await api_client.create_concurrency_limit("db", 2)
    assert (await api_client.read_concurrency_limit("db")).id == limit.id
    assert (await api_client.read_concurrency_limit(limit.id)).limit == 2
    await api_client.update_concurrency_limit("db", limit=5, active=False)
    updated = await api_client.read_concurrency_limit(limit.id)
    assert (updated.limit, updated.active) == (5, False)
    assert [c.name for c in await api_client.read_concurrency_limits()] == ["db"]
    await api_client.delete_concurrency_limit(limit.id)
    with pytest.raises(ObjectNotFound):
        await api_client.read_concurrency_limit("db")


async def test_lease_take_renew_release(api_client: FlowyardClient) -> None:
    await api_client.create_concurrency_limit("db", 1)
    holder = ConcurrencyLeaseHolder(type="task_run", id=uuid.uuid4())
    lease = await api_client.increment_with_lease(["db"], 1, holder=holder)
    assert [limit.name for limit in lease.limits] == ["db"]
    assert (await api_client.read_concurrency_limit("db")).active_slots == 1

    with pytest.raises(ConcurrencySlotTimeout, match="No free slots on db"):
        await api_client.increment_with_lease(["db"], 1, timeout_seconds=0)

    await api_client.renew_lease(lease.lease_id, lease_duration=120)
    await api_client.decrement_with_lease(lease.lease_id)
    assert (await api_client.read_concurrency_limit("db")).active_slots == 0
    again = await api_client.increment_with_lease(["db"], 1, timeout_seconds=0)
    await api_client.decrement_with_lease(again.lease_id)


async def test_unknown_names_give_an_empty_lease(api_client: FlowyardClient) -> None:
    lease = await api_client.increment_with_lease(["no-such-limit"])
    assert lease.limits == []


async def test_renewing_an_unknown_lease_is_not_found(api_client: FlowyardClient) -> None:
    with pytest.raises(ObjectNotFound):
        await api_client.renew_lease(uuid.uuid4())


async def test_lease_duration_is_checked_client_side(api_client: FlowyardClient) -> None:
    with pytest.raises(InvalidRequest, match="lease_duration"):
        await api_client.increment_with_lease(["db"], lease_duration=1)
