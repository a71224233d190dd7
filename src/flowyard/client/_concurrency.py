"""Client methods for /v2/concurrency_limits: global limits, slots and leases."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from typing import TYPE_CHECKING, Any, Literal

from flowyard.client._http import (
    BaseClient,
    build,
    dump,
    error_for,
    parse,
    parse_list,
    retry_delay,
    segment,
)
from flowyard.exceptions import ConcurrencySlotTimeout
from flowyard.schemas.actions import (
    ConcurrencyLeaseHolder,
    ConcurrencyLeaseRenewal,
    ConcurrencyLimitV2Create,
    ConcurrencyLimitV2Update,
    ConcurrencySlotsIncrementWithLease,
)
from flowyard.schemas.core import (
    ConcurrencyLimitV2,
    ConcurrencyLimitWithLeaseResponse,
    MinimalConcurrencyLimitResponse,
)

if TYPE_CHECKING:
    from flowyard.schemas.concurrency import ConcurrencyLease, ConcurrencyLimit

LOCKED = 423
LimitRef = uuid.UUID | str
# The longest pause between two attempts on a full limit. The server's Retry-After grows
# with the queue it has seen; capping it keeps a freed slot from sitting idle for long.
MAX_WAIT_SECONDS = 2.0


def _wait_delay(response: Any, attempt: int) -> float:
    # Jittered downwards so that clients turned away together do not come back together.
    base = min(retry_delay(response, min(attempt, 4)), MAX_WAIT_SECONDS)
    return base * random.uniform(0.5, 1.0)  # noqa: S311 - not for security


class ConcurrencyAPI(BaseClient):
    """Global concurrency limits and the leased slots that hold them."""

    async def create_concurrency_limit(
        self,
        name: str,
        limit: int,
        *,
        active: bool = True,
        slot_decay_per_second: float = 0.0,
    ) -> ConcurrencyLimitV2:
        """Create a global concurrency limit of ``limit`` slots.

        Args:
            name: the limit's name, used by ``increment_with_lease``.
            limit: how many slots may be held at once.
            active: an inactive limit never blocks.
            slot_decay_per_second: above zero, makes the limit a rate limit whose slots free
                themselves at this rate.
        """
        body = build(
            ConcurrencyLimitV2Create,
            name=name,
            limit=limit,
            active=active,
            slot_decay_per_second=slot_decay_per_second,
        )
        response = await self._request("POST", "/v2/concurrency_limits/", json=dump(body))
        return parse(ConcurrencyLimitV2, response)

    async def read_concurrency_limit(self, id_or_name: LimitRef) -> ConcurrencyLimitV2:
        """Read one limit by id or by name. Raises ``ObjectNotFound``."""
        path = f"/v2/concurrency_limits/{_ref(id_or_name)}"
        return parse(ConcurrencyLimitV2, await self._request("GET", path))

    async def read_concurrency_limits(
        self, *, limit: int | None = None, offset: int = 0
    ) -> list[ConcurrencyLimitV2]:
        """Every global concurrency limit, a page at a time."""
        body: dict[str, Any] = {"offset": offset}
        if limit is not None:
            body["limit"] = limit
        response = await self._request("POST", "/v2/concurrency_limits/filter", json=body)
        return parse_list(ConcurrencyLimitV2, response)

    async def update_concurrency_limit(
        self,
        id_or_name: LimitRef,
        *,
        limit: int | None = None,
        active: bool | None = None,
        name: str | None = None,
        slot_decay_per_second: float | None = None,
    ) -> None:
        """Change the given fields of a limit; fields left ``None`` are not touched."""
        fields = {
            "limit": limit,
            "active": active,
            "name": name,
            "slot_decay_per_second": slot_decay_per_second,
        }
        body = build(ConcurrencyLimitV2Update, **{k: v for k, v in fields.items() if v is not None})
        path = f"/v2/concurrency_limits/{_ref(id_or_name)}"
        await self._request("PATCH", path, json=dump(body))

    async def delete_concurrency_limit(self, id_or_name: LimitRef) -> None:
        """Delete a limit by id or by name. Raises ``ObjectNotFound``."""
        await self._request("DELETE", f"/v2/concurrency_limits/{_ref(id_or_name)}")

    async def increment_with_lease(
        self,
        names: list[str],
        slots: int = 1,
        *,
        mode: Literal["concurrency", "rate_limit"] = "concurrency",
        lease_duration: float = 300.0,
        holder: ConcurrencyLeaseHolder | None = None,
        timeout_seconds: float | None = None,
    ) -> ConcurrencyLimitWithLeaseResponse:
        """Take ``slots`` slots on each named limit, held by a lease until released.

        While the limits are full the server answers 423 with a ``Retry-After``; this
        method waits that long and asks again, until the slots are granted or
        ``timeout_seconds`` have passed. Names with no limit are ignored: if none of them
        exists, the result has an empty ``limits`` list and nothing needs releasing.

        Args:
            names: the limits to take slots on (all or nothing).
            slots: how many slots on each.
            mode: ``concurrency`` (slots are held until released) or ``rate_limit``.
            lease_duration: seconds the lease lives unless renewed (60 to 86400).
            holder: the run or deployment holding the slots.
            timeout_seconds: give up after this long; ``None`` waits as long as it takes.

        Raises:
            ConcurrencySlotTimeout: the slots were still taken after ``timeout_seconds``.
        """
        body = dump(
            build(
                ConcurrencySlotsIncrementWithLease,
                names=names,
                slots=slots,
                mode=mode,
                lease_duration=lease_duration,
                holder=holder,
            )
        )
        path = "/v2/concurrency_limits/increment-with-lease"
        response = await self._until_granted(path, body, names, timeout_seconds)
        return parse(ConcurrencyLimitWithLeaseResponse, response)

    async def increment_slots(
        self,
        names: list[str],
        slots: int = 1,
        *,
        mode: Literal["concurrency", "rate_limit"] = "rate_limit",
        timeout_seconds: float | None = None,
    ) -> list[MinimalConcurrencyLimitResponse]:
        """Take ``slots`` on each named limit without a lease (how rate limits are used:
        their slots decay by themselves). Waits while full, like :meth:`increment_with_lease`.

        Raises:
            ConcurrencySlotTimeout: the slots were still taken after ``timeout_seconds``.
            InvalidRequest: ``rate_limit`` mode on a limit with no slot decay.
        """
        body = {"names": names, "slots": slots, "mode": mode}
        path = "/v2/concurrency_limits/increment"
        response = await self._until_granted(path, body, names, timeout_seconds)
        return parse_list(MinimalConcurrencyLimitResponse, response)

    async def _until_granted(
        self, path: str, body: Any, names: list[str], timeout_seconds: float | None
    ) -> Any:
        deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
        attempt = 0
        while True:
            response = await self._request("POST", path, json=body, accept=(LOCKED,))
            if response.status_code != LOCKED:
                return response
            delay = _wait_delay(response, attempt)
            if deadline is not None and time.monotonic() + delay > deadline:
                raise ConcurrencySlotTimeout(
                    f"No free slots on {', '.join(names)} within {timeout_seconds:g}s "
                    f"({error_for(response)}).",
                    LOCKED,
                )
            await asyncio.sleep(delay)
            attempt += 1

    async def decrement_with_lease(self, lease_id: uuid.UUID) -> None:
        """Release the slots held by a lease."""
        body = {"lease_id": str(lease_id)}
        await self._request("POST", "/v2/concurrency_limits/decrement-with-lease", json=body)

    async def renew_lease(self, lease_id: uuid.UUID, lease_duration: float = 300.0) -> None:
        """Extend a lease by ``lease_duration`` seconds from now.

        Raises:
            ObjectNotFound: the lease expired already (its slots were freed).
        """
        body = dump(build(ConcurrencyLeaseRenewal, lease_duration=lease_duration))
        path = f"/v2/concurrency_limits/leases/{lease_id}/renew"
        await self._request("POST", path, json=body)

    # -- admin: leases ---------------------------------------------------------------------

    async def read_concurrency_leases(self, id_or_name: LimitRef) -> list[ConcurrencyLease]:
        """The leases holding slots of a limit (by id or name), oldest first."""
        from flowyard.schemas.concurrency import ConcurrencyLease

        path = f"/v2/concurrency_limits/{_ref(id_or_name)}/leases"
        return parse_list(ConcurrencyLease, await self._request("GET", path))

    async def revoke_concurrency_lease(self, lease_id: uuid.UUID) -> None:
        """Revoke a lease: its slots are free at once. Raises ``ObjectNotFound``."""
        await self._request("DELETE", f"/v2/concurrency_limits/leases/{lease_id}")

    async def reset_concurrency_limit(self, id_or_name: LimitRef, active_slots: int = 0) -> None:
        """Revoke every lease on a limit and set its held slots (default: all free)."""
        path = f"/v2/concurrency_limits/{_ref(id_or_name)}/reset"
        await self._request("POST", path, json={"active_slots": active_slots})

    # -- tag (v1) limits -------------------------------------------------------------------

    async def create_tag_concurrency_limit(self, tag: str, limit: int) -> ConcurrencyLimit:
        """Limit how many task runs tagged ``tag`` run at once (resizes an existing one).

        The limit is stored as the global limit ``tag:<tag>``.
        """
        from flowyard.schemas.concurrency import ConcurrencyLimit

        body = {"tag": tag, "concurrency_limit": limit}
        return parse(
            ConcurrencyLimit, await self._request("POST", "/concurrency_limits/", json=body)
        )

    async def read_tag_concurrency_limit(self, tag: str) -> ConcurrencyLimit:
        """The limit on ``tag``, with the task runs holding its slots. Raises ``ObjectNotFound``."""
        from flowyard.schemas.concurrency import ConcurrencyLimit

        path = f"/concurrency_limits/tag/{segment(tag)}"
        return parse(ConcurrencyLimit, await self._request("GET", path))

    async def read_tag_concurrency_limits(
        self, *, limit: int | None = None, offset: int = 0
    ) -> list[ConcurrencyLimit]:
        """Every tag limit, by tag, a page at a time."""
        from flowyard.schemas.concurrency import ConcurrencyLimit

        body: dict[str, Any] = {"offset": offset}
        if limit is not None:
            body["limit"] = limit
        response = await self._request("POST", "/concurrency_limits/filter", json=body)
        return parse_list(ConcurrencyLimit, response)

    async def reset_tag_concurrency_limit(
        self, tag: str, slot_override: list[uuid.UUID] | None = None
    ) -> None:
        """Free every slot of the limit on ``tag`` (or give them to ``slot_override``)."""
        body = {"slot_override": [str(i) for i in slot_override] if slot_override else None}
        path = f"/concurrency_limits/tag/{segment(tag)}/reset"
        await self._request("POST", path, json=body)

    async def delete_tag_concurrency_limit(self, tag: str) -> None:
        """Delete the limit on ``tag``. Raises ``ObjectNotFound``."""
        await self._request("DELETE", f"/concurrency_limits/tag/{segment(tag)}")


def _ref(id_or_name: LimitRef) -> str:
    return str(id_or_name) if isinstance(id_or_name, uuid.UUID) else segment(id_or_name)
