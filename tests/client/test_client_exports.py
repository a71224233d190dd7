"""The public surface of flowyard.client and flowyard.testing, frozen."""

from __future__ import annotations

import flowyard.client
import flowyard.testing


def test_client_exports() -> None:
    assert sorted(flowyard.client.__all__) == [
        "FlowyardClient",
        "SyncFlowyardClient",
        "get_client",
        "get_sync_client",
        "shutdown_embedded",
    ]


def test_testing_exports() -> None:
    assert sorted(flowyard.testing.__all__) == [
        "flowyard_test_harness",
        "in_process_client",
        "server_process",
    ]


def test_public_client_methods_are_documented() -> None:
    client = flowyard.client.FlowyardClient
    undocumented = [
        name
        for name in dir(client)
        if not name.startswith("_") and callable(getattr(client, name))
        and not getattr(client, name).__doc__
    ]
    assert undocumented == []
