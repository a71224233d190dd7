"""Two servers (two Database objects, two engines, one database) proposing the same transition
at the same moment: exactly one may win."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from orchestration_helpers import create_flow_run, proposal, read_run, state_history

from flowyard.schemas.states import SetStateStatus, StateCreate, StateType
from flowyard.server.database import orm
from flowyard.server.database.engine import Database
from flowyard.server.database.types import utcnow
from flowyard.server.orchestration import transitions
from flowyard.server.orchestration.policies import CoreFlowPolicy
from flowyard.server.orchestration.rules import ALL_STATES, Policy, Rule

S = StateType
ROUNDS = 20


class HoldTheRun(Rule[Any]):
    """Keeps the transaction open after the run was read, so that the other contender is
    certainly trying while the first one holds the run."""

    FROM_STATES = ALL_STATES
    TO_STATES = ALL_STATES

    async def before_transition(self) -> None:
        await asyncio.sleep(0.02)


@pytest.fixture
async def second_server(db: Database) -> AsyncIterator[Database]:
    other = Database(db.url)
    yield other
    await other.dispose()


@pytest.fixture(autouse=True)
def slow_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    slow = Policy[orm.FlowRun]("slow", [HoldTheRun, *CoreFlowPolicy.rules])
    monkeypatch.setattr(transitions, "CoreFlowPolicy", slow)


async def _propose(
    database: Database, workspace_id: uuid.UUID, run_id: uuid.UUID, new: StateCreate
) -> SetStateStatus:
    async with database.write() as session:
        result = await transitions.set_flow_run_state(session, workspace_id, run_id, new)
    assert result is not None
    return result.status


async def test_two_servers_starting_one_run_get_exactly_one_accept(
    db: Database, second_server: Database, workspace_id: uuid.UUID
) -> None:
    for _ in range(ROUNDS):
        run_id = await create_flow_run(db, workspace_id)
        statuses = await asyncio.gather(
            _propose(db, workspace_id, run_id, proposal(S.RUNNING)),
            _propose(second_server, workspace_id, run_id, proposal(S.RUNNING)),
        )
        assert sorted(statuses) == [SetStateStatus.ABORT, SetStateStatus.ACCEPT]
        history = await state_history(db, orm.FlowRunState, run_id)
        assert [t for t, _ in history].count("RUNNING") == 1
        assert (await read_run(db, orm.FlowRun, run_id)).run_count == 1


async def test_two_workers_submitting_one_run_get_exactly_one_accept(
    db: Database, second_server: Database, workspace_id: uuid.UUID
) -> None:
    scheduled = proposal(S.SCHEDULED, scheduled_time=utcnow())
    for _ in range(ROUNDS):
        run_id = await create_flow_run(db, workspace_id, scheduled)
        statuses = await asyncio.gather(
            _propose(db, workspace_id, run_id, proposal(S.PENDING)),
            _propose(second_server, workspace_id, run_id, proposal(S.PENDING)),
        )
        assert sorted(statuses) == [SetStateStatus.ABORT, SetStateStatus.ACCEPT]
        history = await state_history(db, orm.FlowRunState, run_id)
        assert [t for t, _ in history] == ["SCHEDULED", "PENDING"]
