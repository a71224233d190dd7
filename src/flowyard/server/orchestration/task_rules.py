"""Rules only task runs have: the server-side cache, and ties to the enclosing flow run."""

from __future__ import annotations

from flowyard.schemas.states import State, StateType
from flowyard.server.database import orm
from flowyard.server.orchestration.rules import ALL_STATES, Rule
from flowyard.server.queries import task_run_state_cache as cache
from flowyard.server.queries.run_states import read_current_state, state_from_row


class CacheRetrieval(Rule[orm.TaskRun]):
    """A task about to run whose cache key already has an unexpired completed state is
    sent straight to a copy of that state, named Cached, instead of running."""

    FROM_STATES = ALL_STATES
    TO_STATES = frozenset({StateType.RUNNING})

    async def before_transition(self) -> None:
        details = self.proposed.state_details
        key = details.cache_key
        if not key or details.refresh_cache or not cache.cacheable(key):
            return
        row = await cache.read_cached_state(
            self.ctx.session, self.run.workspace_id, key, self.ctx.now
        )
        if row is None:
            return
        cached = state_from_row(row)
        copy = State(
            type=cached.type,
            name="Cached",
            message=cached.message,
            data=cached.data,
            state_details=cached.state_details.model_copy(),
        )
        self.reject_transition(copy, "Retrieved state from cache.")


class CacheInsertion(Rule[orm.TaskRun]):
    """A completed state with a cache key becomes the cached state for that key."""

    FROM_STATES = ALL_STATES
    TO_STATES = frozenset({StateType.COMPLETED})

    async def after_transition(self) -> None:
        state = self.ctx.validated_state
        if state is None:
            return
        key = state.state_details.cache_key
        if not key or not cache.cacheable(key):
            return
        # The entry references the new state row, which must reach the database first.
        await self.ctx.session.flush()
        await cache.create_cache_entry(
            self.ctx.session,
            self.run.workspace_id,
            key,
            state.state_details.cache_expiration,
            state.id,
        )


class PreventRunningTasksFromStoppedFlows(Rule[orm.TaskRun]):
    """A task may only start while its flow run is running. If the flow is paused the task
    waits as Paused ("NotReady"), with the flow's pause timeout; otherwise it is aborted."""

    FROM_STATES = ALL_STATES
    TO_STATES = frozenset({StateType.RUNNING})

    async def before_transition(self) -> None:
        flow_run = await self.ctx.parent_flow_run()
        if flow_run is None:
            return
        if flow_run.state_type == StateType.RUNNING:
            return
        if flow_run.state_type == StateType.PAUSED:
            flow_state = await read_current_state(self.ctx.session, flow_run)
            paused = State(type=StateType.PAUSED, name="NotReady")
            if flow_state is not None:
                paused.state_details.pause_timeout = flow_state.state_details.pause_timeout
                paused.state_details.pause_reschedule = flow_state.state_details.pause_reschedule
            self.reject_transition(
                paused,
                "The flow is paused, new tasks can execute after resuming flow run:"
                f" {flow_run.id}.",
            )
            return
        self.abort_transition("The enclosing flow must be running to begin task execution.")


class UpdateFlowRunTrackerOnTasks(Rule[orm.TaskRun]):
    """Record which attempt of its flow run a task ran in, so that a flow retry can tell
    tasks that ran in an earlier attempt (and must be rerun) from current ones."""

    FROM_STATES = ALL_STATES
    TO_STATES = frozenset({StateType.RUNNING})

    async def after_transition(self) -> None:
        flow_run = await self.ctx.parent_flow_run()
        if flow_run is not None:
            self.run.flow_run_run_count = flow_run.run_count
