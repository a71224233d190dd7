"""The machinery in rules.py: which rules fire, in what order, and what each verb does."""

from typing import Any

import pytest
from orchestration_helpers import apply_rules, context, flow_run, state

from flowyard.schemas.states import SetStateStatus, StateType
from flowyard.server.database import orm
from flowyard.server.orchestration.rules import (
    ALL_STATES,
    OrchestrationContext,
    Policy,
    Rule,
    Transform,
    orchestrate,
)

S = StateType


def recording_rule(
    label: str,
    log: list[str],
    *,
    from_states: Any = ALL_STATES,
    to_states: Any = ALL_STATES,
    action: str | None = None,
) -> type[Rule[Any]]:
    """A rule that logs each hook it runs and optionally changes the transition."""

    class Recorder(Rule[Any]):
        FROM_STATES = frozenset(from_states)
        TO_STATES = frozenset(to_states)

        async def before_transition(self) -> None:
            log.append(f"{label}.before")
            if action == "reject":
                self.reject_transition(state(S.SCHEDULED, "AwaitingRetry"), "again")
            elif action == "reject-in-place":
                self.reject_transition(None, "no")
            elif action == "wait":
                self.delay_transition(5, "later")
            elif action == "abort":
                self.abort_transition("never")
            elif action == "rename":
                self.rename_state("Renamed")

        async def after_transition(self) -> None:
            log.append(f"{label}.after")

        async def cleanup(self) -> None:
            log.append(f"{label}.cleanup")

    Recorder.__name__ = label
    return Recorder


class RecordingTransform(Transform[Any]):
    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def before_transition(self, ctx: OrchestrationContext[Any]) -> None:
        self.log.append(f"transform.before:{ctx.proposed_type}")

    async def after_transition(self, ctx: OrchestrationContext[Any]) -> None:
        self.log.append("transform.after")


def running_to_failed() -> OrchestrationContext[Any]:
    return context(flow_run(), state(S.RUNNING), state(S.FAILED))


async def test_rules_fire_in_order_and_unwind_in_reverse() -> None:
    log: list[str] = []
    ctx = running_to_failed()
    rules = [recording_rule("a", log), recording_rule("b", log)]
    await orchestrate(ctx, Policy("p", rules), (RecordingTransform(log),))
    assert log == [
        "a.before",
        "b.before",
        "transform.before:FAILED",
        "transform.after",
        "b.after",
        "a.after",
    ]
    assert ctx.status == SetStateStatus.ACCEPT and ctx.wrote_state
    assert ctx.validated_state is ctx.proposed_state


async def test_only_rules_governing_the_transition_fire() -> None:
    log: list[str] = []
    ctx = running_to_failed()
    await apply_rules(
        ctx,
        recording_rule("from_pending", log, from_states={S.PENDING}),
        recording_rule("to_completed", log, to_states={S.COMPLETED}),
        recording_rule("running_to_failed", log, from_states={S.RUNNING}, to_states={S.FAILED}),
    )
    assert log == ["running_to_failed.before", "running_to_failed.after"]


async def test_a_rejection_skips_later_rules_and_cleans_up_earlier_ones() -> None:
    log: list[str] = []
    ctx = running_to_failed()
    await apply_rules(
        ctx,
        recording_rule("earlier", log),
        recording_rule("retry", log, action="reject"),
        recording_rule("later_for_failed", log, to_states={S.FAILED}),
    )
    # The rejecting rule still governs the transition it created, so it is not cleaned up.
    assert log == ["earlier.before", "retry.before", "retry.after", "earlier.cleanup"]
    assert ctx.status == SetStateStatus.REJECT
    assert ctx.validated_state is not None and ctx.validated_state.name == "AwaitingRetry"
    assert ctx.wrote_state
    written = ctx.session.added  # type: ignore[attr-defined]
    assert [row.name for row in written] == ["AwaitingRetry"]
    assert ctx.run.state_name == "AwaitingRetry"


@pytest.mark.parametrize(
    ("action", "status"),
    [
        ("wait", SetStateStatus.WAIT),
        ("abort", SetStateStatus.ABORT),
        ("reject-in-place", SetStateStatus.REJECT),
    ],
)
async def test_nullified_transitions_write_nothing_and_skip_bookkeeping(
    action: str, status: SetStateStatus
) -> None:
    log: list[str] = []
    ctx = running_to_failed()
    initial = ctx.initial_state
    rules = [recording_rule("first", log), recording_rule("stop", log, action=action)]
    await orchestrate(ctx, Policy("p", rules), (RecordingTransform(log),))
    assert log == ["first.before", "stop.before", "first.cleanup"]
    assert ctx.status == status
    assert ctx.validated_state is initial and not ctx.wrote_state
    assert ctx.session.added == []  # type: ignore[attr-defined]
    result = ctx.result()
    assert result.state is initial and result.status == status
    if status == SetStateStatus.WAIT:
        assert result.details.delay_seconds == 5  # type: ignore[union-attr]


async def test_rename_keeps_the_transition_and_its_rules() -> None:
    log: list[str] = []
    ctx = running_to_failed()
    await apply_rules(
        ctx, recording_rule("rename", log, action="rename"), recording_rule("next", log)
    )
    assert log == ["rename.before", "next.before", "next.after", "rename.after"]
    assert ctx.status == SetStateStatus.ACCEPT and ctx.validated_state.name == "Renamed"  # type: ignore[union-attr]


async def test_a_run_without_state_cannot_be_rejected_in_place() -> None:
    ctx = context(flow_run(), None, state(S.PENDING))
    with pytest.raises(RuntimeError, match="without a state"):
        await apply_rules(ctx, recording_rule("r", [], action="reject-in-place"))


async def test_verbs_refuse_once_the_state_is_written() -> None:
    class LateRejecter(Rule[Any]):
        FROM_STATES = ALL_STATES
        TO_STATES = ALL_STATES

        async def after_transition(self) -> None:
            self.abort_transition("too late")

    with pytest.raises(RuntimeError, match="already been written"):
        await apply_rules(running_to_failed(), LateRejecter)


def test_policy_memoises_the_rules_for_each_transition() -> None:
    log: list[str] = []
    a = recording_rule("a", log, to_states={S.RUNNING})
    b = recording_rule("b", log)
    policy = Policy[orm.FlowRun]("p", [a, b])
    assert policy.rules_for(S.PENDING, S.RUNNING) == (a, b)
    assert policy.rules_for(S.PENDING, S.FAILED) == (b,)
    assert policy.rules_for(S.PENDING, S.RUNNING) is policy.rules_for(S.PENDING, S.RUNNING)
    assert "a, b" in repr(policy)


async def test_write_points_the_run_at_the_new_state() -> None:
    ctx = running_to_failed()
    await apply_rules(ctx)
    (written,) = ctx.session.added  # type: ignore[attr-defined]
    assert isinstance(written, orm.FlowRunState) and written.flow_run_id == ctx.run.id
    assert written.workspace_id == ctx.run.workspace_id
    assert (ctx.run.state_id, ctx.run.state_type, ctx.run.state_name) == (
        written.id,
        "FAILED",
        "Failed",
    )
    assert ctx.run.state_timestamp == written.timestamp
