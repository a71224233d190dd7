"""A pause that timed out says so in words (not "The flow was failed and never resumed")."""

from orchestration_helpers import ago, apply_rules, context, flow_run, state

from flowyard.schemas.states import StateType
from flowyard.server.orchestration.pause_rules import HandleResumingPausedFlows

S = StateType


async def test_a_timed_out_pause_says_it_was_paused_not_failed() -> None:
    timed_out = state(S.PAUSED, pause_timeout=ago(1))
    for proposed in (S.RUNNING, S.FAILED):
        ctx = await apply_rules(
            context(flow_run(), timed_out, state(proposed)), HandleResumingPausedFlows
        )
        assert ctx.validated_state is not None and ctx.validated_state.type == S.FAILED
        assert ctx.validated_state.message == (
            "The flow run was paused and never resumed before its timeout."
        )
