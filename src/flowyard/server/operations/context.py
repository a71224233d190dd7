"""Who is asking, in which workspace, and the one place their permission is checked.

A :class:`RequestContext` is built once per request (HTTP route, websocket, UI page) or per
service pass, and handed to operations. An operation is an ``async`` function declared with
:func:`operation`, which names the permission it needs and whether it writes; the decorator
checks the permission, opens the read session or write transaction, and hands the function
a :class:`Tx`. Calling an operation with a ``Tx`` instead (one operation composed of
others) reuses that transaction, and still checks the permission.

Every declared operation is listed in :data:`OPERATIONS`, so a test can prove each one
names a permission, and the cloud layer's roles map onto exactly these names.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Concatenate, Literal, ParamSpec, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas import core
from flowyard.server.database.engine import Database
from flowyard.server.errors import Forbidden
from flowyard.server.queries import outbox

P = ParamSpec("P")
R = TypeVar("R")

ActorKind = Literal["local", "user", "service_account", "system"]
Verb = Literal["read", "create", "update", "delete", "run"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Whoever an operation acts for: the person in single-user mode (``local``), a user or
    service account (the cloud layer), or the server itself (``system``: services)."""

    kind: ActorKind
    id: uuid.UUID | None = None
    name: str = ""

    @property
    def resource(self) -> dict[str, str]:
        """The actor as an event's related resource (``prefect.resource.role = actor``)."""
        ident = f"flowyard.{self.kind.replace('_', '-')}.{self.id or self.kind}"
        return {"prefect.resource.id": ident, "prefect.resource.role": "actor",
                "prefect.resource.name": self.name or self.kind}  # fmt: skip


LOCAL_ACTOR = Actor("local", name="local user")
SYSTEM_ACTOR = Actor("system", name="flowyard server")


def permission(verb: Verb, obj: str) -> str:
    """A workspace permission, ``verb:object`` as the contract's roles spell them."""
    return f"{verb}:{obj}"


@dataclass(frozen=True, slots=True)
class RequestContext:
    """One caller in one workspace. ``permissions=None`` allows everything: single-user
    mode and the server's own services; the cloud layer sets the role's permissions."""

    db: Database
    workspace_id: uuid.UUID
    account_id: uuid.UUID
    actor: Actor = LOCAL_ACTOR
    permissions: frozenset[str] | None = None

    def allows(self, needed: str) -> bool:
        return self.permissions is None or needed in self.permissions

    def as_system(self) -> RequestContext:
        """The same workspace, acting as the server (a service's follow-up work)."""
        return RequestContext(self.db, self.workspace_id, self.account_id, SYSTEM_ACTOR)


@dataclass(slots=True)
class Tx:
    """An operation's session: a read session, or a write transaction that commits when the
    outermost operation returns (and rolls back, emitting nothing, when it raises)."""

    ctx: RequestContext
    session: AsyncSession
    writable: bool

    @property
    def workspace_id(self) -> uuid.UUID:
        return self.ctx.workspace_id

    @property
    def dialect(self) -> str:
        return self.ctx.db.dialect

    def emit(self, event: core.Event) -> None:
        """Store ``event`` with this transaction: committed together or not at all."""
        outbox.emit(self.session, self.ctx.workspace_id, event)


@dataclass(frozen=True, slots=True)
class OperationInfo:
    name: str
    permission: str
    writes: bool


OPERATIONS: dict[str, OperationInfo] = {}


def authorize(ctx: RequestContext, needed: str, name: str) -> None:
    """The authorization chokepoint: every operation passes here before it runs."""
    if not ctx.allows(needed):
        raise Forbidden(f"{name} needs the permission {needed!r}, which this role lacks.")


def operation(
    needed: str, *, writes: bool = False
) -> Callable[
    [Callable[Concatenate[Tx, P], Awaitable[R]]],
    Callable[Concatenate[RequestContext | Tx, P], Awaitable[R]],
]:
    """Declare an operation: the permission it needs and whether it writes."""

    def decorate(
        fn: Callable[Concatenate[Tx, P], Awaitable[R]],
    ) -> Callable[Concatenate[RequestContext | Tx, P], Awaitable[R]]:
        name = f"{fn.__module__.rsplit('.', 1)[-1]}.{fn.__name__}"
        OPERATIONS[name] = OperationInfo(name, needed, writes)

        @functools.wraps(fn)
        async def run(caller: RequestContext | Tx, /, *args: P.args, **kwargs: P.kwargs) -> R:
            if isinstance(caller, Tx):
                authorize(caller.ctx, needed, name)
                if writes and not caller.writable:
                    raise RuntimeError(f"{name} writes, but was called in a read session")
                return await fn(caller, *args, **kwargs)
            authorize(caller, needed, name)
            if writes:
                async with caller.db.write() as session:
                    return await fn(Tx(caller, session, True), *args, **kwargs)
            async with caller.db.read() as session:
                return await fn(Tx(caller, session, False), *args, **kwargs)

        return run

    return decorate
