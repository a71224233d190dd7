"""The blocking client mirrors the async one, method for method."""

from __future__ import annotations

import inspect
import uuid

import pytest

from flowyard.client import FlowyardClient, SyncFlowyardClient, get_client, get_sync_client
from flowyard.exceptions import ObjectNotFound


def _public_methods(cls: type) -> set[str]:
    return {
        name
        for name, value in inspect.getmembers(cls)
        if not name.startswith("_") and inspect.iscoroutinefunction(value) and name != "aclose"
    }


def test_every_async_method_has_a_blocking_twin() -> None:
    missing = _public_methods(FlowyardClient) - set(vars(SyncFlowyardClient))
    assert not missing, f"SyncFlowyardClient lacks {sorted(missing)}"


def test_twins_keep_signature_and_docstring() -> None:
    sync = get_sync_client()
    assert inspect.signature(sync.create_flow_run) == inspect.signature(
        get_client().create_flow_run
    )
    assert SyncFlowyardClient.read_flow.__doc__ == FlowyardClient.read_flow.__doc__


def test_sync_client_round_trip_and_errors() -> None:
    with get_sync_client() as client:
        assert client.embedded
        flow = client.create_flow("sync-flow")
        assert client.read_flow(flow.id) == flow
        with pytest.raises(ObjectNotFound):
            client.read_flow(uuid.uuid4())


async def test_sync_client_works_inside_an_async_test() -> None:
    # It blocks this loop while the background loop does the work: slow, but correct.
    with get_sync_client() as client:
        assert client.create_flow("from-async").name == "from-async"


def test_blocking_call_from_the_background_loop_is_refused() -> None:
    from flowyard.client._loop import run_in_background

    sync = get_sync_client()

    async def nested() -> None:
        sync.api_version()

    with pytest.raises(RuntimeError, match="own event loop"):
        run_in_background(nested())
