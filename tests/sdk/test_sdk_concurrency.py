"""concurrency(), rate_limit() and tag limits of tasks, in embedded mode."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from flowyard import concurrency, flow, get_run_context, rate_limit, task
from flowyard.exceptions import ConcurrencySlotTimeout, InvalidRequest, ObjectNotFound
from flowyard.sdk.concurrency import RENEWER, arate_limit
from flowyard.sdk.engine.api import get_api
from flowyard.sdk.task_runners import ThreadPoolTaskRunner

DEADLINE = 60.0


def poll(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.05)


def test_slots_are_held_inside_the_block_and_released_after(recorded: Any) -> None:
    client = recorded.client
    client.create_concurrency_limit("db", 3)
    with concurrency("db", occupy=2) as held:
        assert client.read_concurrency_limit("db").active_slots == 2
        [lease] = client.read_concurrency_leases("db")
        assert lease.id == held.lease_id and lease.slots == 2 and lease.holder is None
        assert held.lease_id in RENEWER.held()
    assert client.read_concurrency_limit("db").active_slots == 0
    assert client.read_concurrency_leases("db") == []
    assert held.lease_id is None

    with pytest.raises(RuntimeError, match="boom"), concurrency(["db"], occupy=3):
        assert client.read_concurrency_limit("db").active_slots == 3
        raise RuntimeError("boom")
    assert client.read_concurrency_limit("db").active_slots == 0


def test_a_full_limit_waits_and_times_out(recorded: Any) -> None:
    client = recorded.client
    client.create_concurrency_limit("one", 1)
    with concurrency("one"):
        with (
            pytest.raises(ConcurrencySlotTimeout, match="one"),
            concurrency("one", timeout_seconds=0.3),
        ):
            pass
        released = threading.Event()
        entered: list[float] = []

        def waiter() -> None:
            with concurrency("one", timeout_seconds=DEADLINE):
                entered.append(time.monotonic())
                assert released.is_set()

        thread = threading.Thread(target=waiter)
        thread.start()
        time.sleep(0.3)
        released.set()
    thread.join(DEADLINE)
    assert entered, "the waiter never got the slot"
    assert client.read_concurrency_limit("one").active_slots == 0


def test_occupying_more_than_the_limit_is_refused(recorded: Any) -> None:
    recorded.client.create_concurrency_limit("small", 1)
    with pytest.raises(InvalidRequest, match="slots"), concurrency("small", occupy=2):
        pass
    with pytest.raises(ValueError, match="occupy"):
        concurrency("small", occupy=0)


def test_strict_raises_for_a_missing_limit(recorded: Any, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ObjectNotFound, match="missing"), concurrency("missing", strict=True):
        pytest.fail("the block must not run")
    ran = False
    with caplog.at_level(logging.WARNING, "flowyard.concurrency"), concurrency("missing"):
        ran = True
    assert ran and "'missing'" in caplog.text
    # Strict: a missing name among existing ones gives back what was taken.
    recorded.client.create_concurrency_limit("exists", 1)
    with (
        pytest.raises(ObjectNotFound, match="missing"),
        concurrency(["exists", "missing"], strict=True),
    ):
        pass
    assert recorded.client.read_concurrency_limit("exists").active_slots == 0
    # An inactive limit exists: strict does not complain, and nothing is held.
    recorded.client.create_concurrency_limit("off", 1, active=False)
    with concurrency("off", strict=True):
        assert recorded.client.read_concurrency_limit("off").active_slots == 0


async def test_async_with_waits_without_blocking_the_loop(recorded: Any) -> None:
    client = recorded.client
    await asyncio.to_thread(client.create_concurrency_limit, "alimit", 1)
    order: list[str] = []

    async def worker(name: str) -> None:
        async with concurrency("alimit", timeout_seconds=DEADLINE):
            order.append(f"{name}+")
            await asyncio.sleep(0.2)
            order.append(f"{name}-")

    async def ticker() -> int:
        ticks = 0
        while len(order) < 4:
            ticks += 1
            await asyncio.sleep(0.01)
        return ticks

    *_, ticks = await asyncio.gather(worker("a"), worker("b"), ticker())
    # Never interleaved: one holder at a time; and the loop kept running meanwhile.
    assert order in (["a+", "a-", "b+", "b-"], ["b+", "b-", "a+", "a-"])
    assert ticks > 5
    limit = await asyncio.to_thread(client.read_concurrency_limit, "alimit")
    assert limit.active_slots == 0


@pytest.fixture
def short_leases(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before the client exists: the embedded server reads its settings when created.
    monkeypatch.setenv("FLOWYARD_SERVER_CONCURRENCY_MIN_LEASE_SECONDS", "1")


def test_the_lease_is_renewed_while_held(short_leases: None, recorded: Any) -> None:
    client = recorded.client
    client.create_concurrency_limit("renewed", 1)
    with concurrency("renewed", lease_duration=1):
        [first] = client.read_concurrency_leases("renewed")
        # Renewed every third of a second: the expiration moves on, and an increment
        # (which sweeps expired leases) still finds the limit full long after 1 s.
        poll(
            lambda: (
                client.read_concurrency_leases("renewed")[0].expiration
                > first.expiration + dt_seconds(2)
            ),
            "the lease to be renewed past its first expiration",
        )
        with pytest.raises(ConcurrencySlotTimeout):
            client.increment_with_lease(["renewed"], timeout_seconds=0)
    assert client.read_concurrency_limit("renewed").active_slots == 0


def dt_seconds(seconds: float) -> Any:
    import datetime as dt

    return dt.timedelta(seconds=seconds)


def test_rate_limit_spaces_calls_by_slot_decay(recorded: Any) -> None:
    client = recorded.client
    client.create_concurrency_limit("api", 2, slot_decay_per_second=5.0)
    for _ in range(6):
        rate_limit("api", timeout_seconds=DEADLINE)
    # Nothing to release: the slots decay by themselves.
    poll(lambda: client.read_concurrency_limit("api").active_slots == 0, "slots to decay")
    client.create_concurrency_limit("not-a-rate", 1)
    with pytest.raises(InvalidRequest, match="slot decay"):
        rate_limit("not-a-rate")
    with pytest.raises(ObjectNotFound, match="nope"):
        rate_limit("nope", strict=True)
    asyncio.run(arate_limit("api", timeout_seconds=DEADLINE))


def _waited(recorded: Any, task_run_id: uuid.UUID) -> bool:
    names = [s.name for s in recorded.client.read_task_run_states(task_run_id)]
    return "AwaitingConcurrencySlot" in names


def test_tagged_tasks_wait_for_their_tag_slot(recorded: Any) -> None:
    client = recorded.client
    client.create_tag_concurrency_limit("db", 1)
    inside = 0
    most = 0
    lock = threading.Lock()

    @task(tags=["db", "other"])
    def query(i: int) -> int:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        holders = client.read_tag_concurrency_limit("db").active_slots
        time.sleep(0.1)
        with lock:
            inside -= 1
        assert len(holders) == 1
        return i

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=4))
    def pipeline() -> tuple[list[int], Any]:
        results = [f.result() for f in [query.submit(i) for i in range(4)]]
        return results, get_run_context().flow_run.id  # type: ignore[union-attr]

    results, flow_run_id = pipeline()
    assert results == [0, 1, 2, 3]
    assert most == 1
    runs = recorded.task_runs(flow_run_id)
    assert len(runs) == 4 and all(r.state_name == "Completed" for r in runs)
    # At most one ran at once, so at least three had to wait, and their states say so.
    assert sum(_waited(recorded, r.id) for r in runs) >= 3
    assert client.read_tag_concurrency_limit("db").active_slots == []
    assert client.read_concurrency_leases("tag:db") == []


def test_async_tagged_tasks_respect_the_limit(recorded: Any) -> None:
    recorded.client.create_tag_concurrency_limit("io", 2)
    inside = most = 0

    @task(tags=["io"])
    async def fetch(i: int) -> int:
        nonlocal inside, most
        inside += 1
        most = max(most, inside)
        await asyncio.sleep(0.1)
        inside -= 1
        return i

    @flow
    async def pipeline() -> list[int]:
        return list(await asyncio.gather(*(fetch(i) for i in range(6))))

    assert asyncio.run(pipeline()) == list(range(6))
    assert most <= 2
    assert recorded.client.read_concurrency_limit("tag:io").active_slots == 0


def test_a_zero_limit_fails_the_task_with_a_message(recorded: Any) -> None:
    recorded.client.create_tag_concurrency_limit("never", 0)

    @task(tags=["never"])
    def blocked() -> int:
        return 1

    @flow
    def pipeline() -> tuple[str, str]:
        state = blocked(return_state=True)
        return state.type, state.message or ""

    kind, message = pipeline()
    assert kind == "FAILED" and "tag:never" in message and "only has 0" in message


def test_tags_without_limits_make_no_request_per_task(recorded: Any) -> None:
    recorded.client.create_tag_concurrency_limit("limited", 5)
    paths: list[str] = []

    async def count(request: httpx.Request) -> None:
        paths.append(request.url.path)

    http = get_api().client.async_client._http
    http.event_hooks["request"].append(count)

    @task(tags=["unlimited"])
    def tagged(i: int) -> int:
        return i

    @flow
    def pipeline() -> int:
        return sum(tagged(i) for i in range(200))

    try:
        assert pipeline() == sum(range(200))
    finally:
        http.event_hooks["request"].remove(count)
    concurrency_calls = [p for p in paths if "concurrency_limits" in p]
    # One look-up of which tags are limited, for the whole flow run; no slot requests.
    assert len(concurrency_calls) == 1 and concurrency_calls[0].endswith("/filter")
