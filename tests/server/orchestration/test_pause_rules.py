"""Pausing and resuming flow runs, rule by rule (no database)."""

import uuid

import pytest
from orchestration_helpers import ago, apply_rules, context, flow_run, later, state

from flowyard.schemas.states import SetStateStatus, StateType
from flowyard.server.orchestration.pause_rules import HandlePausingFlows, HandleResumingPausedFlows

S = StateType
ACCEPT, REJECT, ABORT = SetStateStatus.ACCEPT, SetStateStatus.REJECT, SetStateStatus.ABORT


async def test_only_running_flows_pause() -> None:
    ctx = await apply_rules(
        context(flow_run(), state(S.RUNNING), state(S.PAUSED)), HandlePausingFlows
    )
    assert ctx.status == ACCEPT
    ctx = await apply_rules(
        context(flow_run(), state(S.PENDING), state(S.PAUSED)), HandlePausingFlows
    )
    assert ctx.status == REJECT and ctx.validated_state is ctx.initial_state
    ctx = await apply_rules(context(flow_run(), None, state(S.PAUSED)), HandlePausingFlows)
    assert ctx.status == ABORT


async def test_a_pause_key_fires_once() -> None:
    run = flow_run()
    await apply_rules(
        context(run, state(S.RUNNING), state(S.PAUSED, pause_key="step-1")), HandlePausingFlows
    )
    assert run.empirical_policy["pause_keys"] == ["step-1"]
    again = context(run, state(S.RUNNING), state(S.PAUSED, pause_key="step-1"))
    assert (await apply_rules(again, HandlePausingFlows)).status == REJECT
    other = context(run, state(S.RUNNING), state(S.PAUSED))  # no key: a fresh uuid
    assert (await apply_rules(other, HandlePausingFlows)).status == ACCEPT
    assert len(run.empirical_policy["pause_keys"]) == 2


@pytest.mark.parametrize(
    ("columns", "status"),
    [
        ({"deployment_id": uuid.uuid4()}, ACCEPT),
        ({}, ABORT),
        ({"deployment_id": uuid.uuid4(), "parent_task_run_id": uuid.uuid4()}, ABORT),
    ],
)
async def test_only_deployed_top_level_flows_suspend(columns: dict, status: SetStateStatus) -> None:  # type: ignore[type-arg]
    suspend = state(S.PAUSED, "Suspended", pause_reschedule=True)
    ctx = await apply_rules(
        context(flow_run(**columns), state(S.RUNNING), suspend), HandlePausingFlows
    )
    assert ctx.status == status


@pytest.mark.parametrize("target", [S.RUNNING, S.SCHEDULED, S.COMPLETED, S.CANCELLED])
async def test_resume_into_running_scheduled_or_final(target: StateType) -> None:
    run = flow_run(deployment_id=uuid.uuid4())
    ctx = await apply_rules(context(run, state(S.PAUSED), state(target)), HandleResumingPausedFlows)
    assert ctx.status == ACCEPT
    assert run.empirical_policy.get("resuming", False) is (target in {S.RUNNING, S.SCHEDULED})


@pytest.mark.parametrize("target", [S.PENDING, S.PAUSED, S.CANCELLING])
async def test_resume_into_other_states_is_rejected(target: StateType) -> None:
    ctx = await apply_rules(
        context(flow_run(), state(S.PAUSED), state(target)), HandleResumingPausedFlows
    )
    assert ctx.status == REJECT and ctx.validated_state is ctx.initial_state


async def test_suspended_run_needs_a_deployment_to_resume() -> None:
    suspended = state(S.PAUSED, "Suspended", pause_reschedule=True)
    ctx = await apply_rules(
        context(flow_run(), suspended, state(S.SCHEDULED, "Resuming")), HandleResumingPausedFlows
    )
    assert ctx.status == REJECT and ctx.validated_state is ctx.initial_state


async def test_timed_out_pause_fails_instead_of_resuming() -> None:
    run = flow_run()
    paused = state(S.PAUSED, pause_timeout=ago(1))
    ctx = await apply_rules(context(run, paused, state(S.RUNNING)), HandleResumingPausedFlows)
    assert ctx.status == REJECT and ctx.validated_state.type == S.FAILED  # type: ignore[union-attr]
    assert "never resumed" in ctx.validated_state.message  # type: ignore[union-attr, operator]
    assert "resuming" not in run.empirical_policy
    in_time = context(flow_run(), state(S.PAUSED, pause_timeout=later(60)), state(S.RUNNING))
    assert (await apply_rules(in_time, HandleResumingPausedFlows)).status == ACCEPT
