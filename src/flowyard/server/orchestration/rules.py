"""The orchestration machinery: a context per transition, rules that govern it, and the loop
that applies an ordered list of rules around the moment the new state is written.

A transition is "initial state -> proposed state". Each rule declares the state types it
governs (``FROM_STATES`` / ``TO_STATES``; ``None`` stands for "no state yet"). Rules run in
priority order. A rule's ``before_transition`` may leave the proposal alone, change its
details, or replace it through one of four verbs:

- ``reject_transition(state)``: the run goes to ``state`` instead (REJECT); with ``None`` the
  run keeps its current state and nothing is written;
- ``delay_transition(seconds)``: nothing is written, the client retries later (WAIT);
- ``abort_transition()``: nothing is written, the client gives up (ABORT);
- ``rename_state(name)``: same type, different name (still ACCEPT).

Once a rule has changed the transition, later rules that governed the original transition
no longer apply and are skipped. After the state is written, rules run in reverse order:
``after_transition`` if the transition they saw is the one that happened, else ``cleanup``
to undo what their ``before_transition`` did. (A rule that rejected, delayed or aborted keeps
governing the transition it made; it gets ``after_transition`` only if a state was written.)

Global transforms (bookkeeping such as start times and run counts) run on every transition
that writes a state, after all rules have decided and before the row is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas.states import (
    TERMINAL_STATES,
    OrchestrationResult,
    SetStateStatus,
    State,
    StateAbortDetails,
    StateAcceptDetails,
    StateRejectDetails,
    StateResponseDetails,
    StateType,
    StateWaitDetails,
)
from flowyard.server.database import orm
from flowyard.server.database.types import utcnow
from flowyard.server.queries.run_states import read_parent_flow_run, write_state

RunT = TypeVar("RunT", bound=orm.RunMixin)

StateTypes = frozenset[StateType | None]
ALL_STATES: StateTypes = frozenset({*StateType, None})
TERMINAL: StateTypes = frozenset(TERMINAL_STATES)


class OrchestrationContext(Generic[RunT]):
    """Everything a rule may look at or change for one transition of one run."""

    def __init__(
        self,
        session: AsyncSession,
        run: RunT,
        initial_state: State | None,
        proposed_state: State,
        *,
        now: dt.datetime | None = None,
    ) -> None:
        self.session = session
        self.run = run
        self.initial_state = initial_state
        self.proposed_state: State | None = proposed_state
        self.validated_state: State | None = None
        self.status = SetStateStatus.ACCEPT
        self.details: StateResponseDetails = StateAcceptDetails()
        # One clock reading per transition, so every rule agrees on what "now" is.
        self.now = now or utcnow()
        self._parent_flow_run: orm.FlowRun | None = None
        self._parent_loaded = False

    @property
    def initial_type(self) -> StateType | None:
        return None if self.initial_state is None else self.initial_state.type

    @property
    def proposed_type(self) -> StateType | None:
        return None if self.proposed_state is None else self.proposed_state.type

    @property
    def wrote_state(self) -> bool:
        """True when this transition added a state row (ACCEPT, or REJECT into a new state)."""
        return self.validated_state is not None and self.validated_state is not self.initial_state

    @property
    def policy(self) -> dict[str, Any]:
        """The run's empirical policy (retries, pause keys, ...) as stored."""
        return self.run.empirical_policy or {}

    def update_policy(self, **changes: Any) -> None:
        # Assign a new dict: the JSON column only notices replacement, not mutation.
        self.run.empirical_policy = {**self.policy, **changes}

    async def parent_flow_run(self) -> orm.FlowRun | None:
        """The flow run a task run belongs to, read at most once per transition."""
        if not self._parent_loaded:
            self._parent_flow_run = await read_parent_flow_run(self.session, self.run)
            self._parent_loaded = True
        return self._parent_flow_run

    def write_state(self, state: State) -> None:
        """Record ``state`` as the run's new state: here, a row added to the session (and the
        run pointed at it); a subclass may persist it some other way."""
        write_state(self.session, self.run, state)

    def result(self) -> OrchestrationResult:
        return OrchestrationResult(
            state=self.validated_state, status=self.status, details=self.details
        )


class Rule(Generic[RunT]):
    """One piece of orchestration policy. Subclasses set FROM_STATES/TO_STATES and override
    any of the three hooks; they are instantiated once per transition they govern."""

    FROM_STATES: ClassVar[StateTypes] = frozenset()
    TO_STATES: ClassVar[StateTypes] = frozenset()

    def __init__(
        self, ctx: OrchestrationContext[RunT], from_type: StateType | None, to_type: StateType
    ) -> None:
        self.ctx = ctx
        self.from_type = from_type
        self.to_type: StateType | None = to_type

    @classmethod
    def governs(cls, from_type: StateType | None, to_type: StateType | None) -> bool:
        return from_type in cls.FROM_STATES and to_type in cls.TO_STATES

    def still_governs(self) -> bool:
        """False once another rule has turned the transition into a different one."""
        return self.ctx.proposed_type == self.to_type

    # --- hooks ------------------------------------------------------------------------

    async def before_transition(self) -> None:
        """Inspect or change the proposal before it is written."""

    async def after_transition(self) -> None:
        """Side effects once the transition this rule governed has been written."""

    async def cleanup(self) -> None:
        """Undo ``before_transition`` side effects: a later rule changed the transition."""

    # --- what a rule sees -------------------------------------------------------------

    @property
    def run(self) -> RunT:
        return self.ctx.run

    @property
    def initial(self) -> State:
        """The current state; only for rules whose FROM_STATES exclude ``None``."""
        state = self.ctx.initial_state
        assert state is not None, f"{type(self).__name__} governs runs without a state"
        return state

    @property
    def proposed(self) -> State:
        """The proposal; always set while ``before_transition`` runs."""
        state = self.ctx.proposed_state
        assert state is not None, "the transition was already nullified"
        return state

    # --- verbs ------------------------------------------------------------------------

    def reject_transition(self, state: State | None, reason: str) -> None:
        """Send the run to ``state`` instead; ``None`` keeps the current state."""
        if state is None and self.ctx.initial_state is None:
            raise RuntimeError("a run without a state cannot be rejected into its current state")
        self._replace_proposal(state)
        self.ctx.status = SetStateStatus.REJECT
        self.ctx.details = StateRejectDetails(reason=reason)

    def delay_transition(self, delay_seconds: int, reason: str) -> None:
        """Write nothing and tell the client to propose again after ``delay_seconds``."""
        self._replace_proposal(None)
        self.ctx.status = SetStateStatus.WAIT
        self.ctx.details = StateWaitDetails(delay_seconds=delay_seconds, reason=reason)

    def abort_transition(self, reason: str) -> None:
        """Write nothing and tell the client to stop orchestrating this run."""
        self._replace_proposal(None)
        self.ctx.status = SetStateStatus.ABORT
        self.ctx.details = StateAbortDetails(reason=reason)

    def rename_state(self, name: str) -> None:
        if self.ctx.proposed_state is not None:
            self.ctx.proposed_state.name = name

    def _replace_proposal(self, state: State | None) -> None:
        if self.ctx.validated_state is not None:
            raise RuntimeError("the transition has already been written")
        self.ctx.proposed_state = state
        # The rule that changed the transition keeps governing it, so it does not clean up.
        self.to_type = None if state is None else state.type


class Transform(Generic[RunT]):
    """Bookkeeping that runs on every transition that writes a state. Stateless."""

    async def before_transition(self, ctx: OrchestrationContext[RunT]) -> None:
        """Runs after every rule has decided, on the state about to be written."""

    async def after_transition(self, ctx: OrchestrationContext[RunT]) -> None:
        """Runs right after the state has been written."""


class Policy(Generic[RunT]):
    """An ordered list of rule classes, with the rules governing each transition memoised."""

    def __init__(self, name: str, rules: Sequence[type[Rule[RunT]]]) -> None:
        self.name = name
        self.rules = tuple(rules)
        self._by_transition: dict[tuple[StateType | None, StateType], tuple[type[Rule[RunT]], ...]]
        self._by_transition = {}

    def rules_for(
        self, from_type: StateType | None, to_type: StateType
    ) -> tuple[type[Rule[RunT]], ...]:
        key = (from_type, to_type)
        found = self._by_transition.get(key)
        if found is None:
            found = tuple(rule for rule in self.rules if rule.governs(from_type, to_type))
            self._by_transition[key] = found
        return found

    def __repr__(self) -> str:
        return f"<Policy {self.name}: {', '.join(rule.__name__ for rule in self.rules)}>"


async def orchestrate(
    ctx: OrchestrationContext[RunT],
    policy: Policy[RunT],
    transforms: Sequence[Transform[RunT]],
) -> None:
    """Apply ``policy`` then ``transforms`` to the proposal in ``ctx`` and write the outcome.

    The caller owns the transaction: on return the new state row and the run's columns are
    pending in ``ctx.session``; nothing is committed here.
    """
    from_type = ctx.initial_type
    to_type = ctx.proposed_type
    assert to_type is not None
    entered: list[Rule[RunT]] = []
    for rule_class in policy.rules_for(from_type, to_type):
        rule = rule_class(ctx, from_type, to_type)
        if not rule.still_governs():
            continue
        await rule.before_transition()
        entered.append(rule)

    if ctx.proposed_state is None:
        # WAIT, ABORT or REJECT-in-place: nothing is written; report where the run stands.
        ctx.validated_state = ctx.initial_state
    else:
        for transform in transforms:
            await transform.before_transition(ctx)
        ctx.write_state(ctx.proposed_state)
        ctx.validated_state = ctx.proposed_state
        for transform in reversed(transforms):
            await transform.after_transition(ctx)

    for rule in reversed(entered):
        if not rule.still_governs():
            await rule.cleanup()
        elif ctx.wrote_state:
            # Only the rule that nullified a transition still governs one that wrote nothing;
            # it has nothing to follow up on.
            await rule.after_transition()
