"""Deployment concurrency limits: at most ``concurrency_limit`` runs of a deployment between
Pending and their end.

The slots are those of the v2 limit named ``deployment:<id>`` (kept in step with the
deployment by ``operations.deployments``). A run takes one when it becomes Pending — the
moment a worker commits to starting it, before any infrastructure is made — under a lease
whose id rides in the state's details (``deployment_concurrency_lease_id``), and gives it
back when it leaves Pending, Running and Cancelling for anything else. The process running
the flow renews the lease (the official engine does, and so does ours); a run whose process
dies stops renewing, and the lease reaper frees its slot.

A run that finds the limit full is sent back to Scheduled (``AwaitingConcurrencySlot``, due
again a little later: collision strategy ENQUEUE, the default) or Cancelled (CANCEL_NEW).
"""

from __future__ import annotations

import datetime as dt
import uuid

from flowyard.schemas.states import State, StateDetails, StateType
from flowyard.server.database import orm
from flowyard.server.database.orm_deployments import Deployment
from flowyard.server.orchestration.rules import ALL_STATES, Rule
from flowyard.server.queries import concurrency_limits as limits
from flowyard.server.queries.deployment_limits import limit_name
from flowyard.settings import cached_settings

HOLDING = frozenset({StateType.PENDING, StateType.RUNNING, StateType.CANCELLING})
FULL = "Deployment concurrency limit reached."


class SecureDeploymentConcurrencySlot(Rule[orm.FlowRun]):
    """Entering Pending takes a slot of the deployment's limit, or waits / is cancelled."""

    FROM_STATES = ALL_STATES - HOLDING
    TO_STATES = frozenset({StateType.PENDING})

    async def before_transition(self) -> None:
        self._lease_id: uuid.UUID | None = None
        run = self.run
        if run.deployment_id is None:
            return
        session = self.ctx.session
        deployment = await session.get(Deployment, run.deployment_id)
        if (
            deployment is None
            or deployment.workspace_id != run.workspace_id
            or deployment.concurrency_limit is None
        ):
            return
        if deployment.concurrency_limit == 0:
            self.abort_transition(
                "The deployment concurrency limit is 0: the run would never start."
            )
            return
        rows = await limits.lock_active_limits(
            session, run.workspace_id, [limit_name(deployment.id)]
        )
        if not rows:
            return  # the limit was switched off (made inactive) by an operator
        now = self.ctx.now
        if await limits.increment_slots(session, run.workspace_id, rows, 1, now) is None:
            settings = cached_settings()
            options = deployment.concurrency_options or {}
            grace = options.get("grace_period_seconds") or (
                settings.server_deployment_concurrency_lease_seconds
            )
            self._lease_id = await limits.create_lease(
                session,
                run.workspace_id,
                [rows[0].id],
                1,
                now + dt.timedelta(seconds=grace),
                {"type": "flow_run", "id": str(run.id)},
                now,
            )
            self.proposed.state_details.deployment_concurrency_lease_id = self._lease_id
            return
        options = deployment.concurrency_options or {}
        if options.get("collision_strategy") == "CANCEL_NEW":
            self.reject_transition(State(type=StateType.CANCELLED, message=FULL), FULL)
            return
        wait = cached_settings().server_deployment_concurrency_slot_wait_seconds
        waiting = State(
            type=StateType.SCHEDULED,
            name="AwaitingConcurrencySlot",
            message=FULL,
            state_details=StateDetails(scheduled_time=now + dt.timedelta(seconds=wait)),
        )
        self.reject_transition(waiting, FULL)

    async def cleanup(self) -> None:
        # A later rule turned the transition into another one: give the slot back.
        if self._lease_id is not None:
            await limits.release_lease(
                self.ctx.session, self.run.workspace_id, self._lease_id, self.ctx.now
            )


class CopyDeploymentConcurrencyLease(Rule[orm.FlowRun]):
    """Pending -> Running (and on to Cancelling) keeps the lease taken at Pending: the
    client proposes the new state without it."""

    FROM_STATES = HOLDING
    TO_STATES = HOLDING

    async def before_transition(self) -> None:
        held = self.initial.state_details.deployment_concurrency_lease_id
        details = self.proposed.state_details
        if held is not None and details.deployment_concurrency_lease_id is None:
            details.deployment_concurrency_lease_id = held


class ReleaseDeploymentConcurrencySlot(Rule[orm.FlowRun]):
    """Leaving Pending, Running and Cancelling for anything else gives the slot back."""

    FROM_STATES = HOLDING
    TO_STATES = ALL_STATES - HOLDING - {None}

    async def after_transition(self) -> None:
        lease_id = self.initial.state_details.deployment_concurrency_lease_id
        if lease_id is not None:
            await limits.release_lease(
                self.ctx.session, self.run.workspace_id, lease_id, self.ctx.now
            )
