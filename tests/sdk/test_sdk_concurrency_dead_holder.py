"""A process killed with SIGKILL while holding slots: they come back when its lease expires.

The holder takes two slots with ``concurrency(..., lease_duration=2)`` (the server's minimum
lease is lowered for the test) and keeps them, renewed in the background, until it is
killed. Against a real server nothing else touches the limit: the lease reaper frees the
slots. In embedded mode no reaper runs in the holder's process (it is dead); the next
process that asks for slots sweeps the expired lease.
"""

from __future__ import annotations

import datetime as dt
import signal
import textwrap
from pathlib import Path

import pytest
from concurrency_helpers import clean_env, poll, server, spawn

from flowyard import concurrency
from flowyard.client import SyncFlowyardClient, get_sync_client

pytestmark = pytest.mark.e2e

SHORT_LEASES = {"FLOWYARD_SERVER_CONCURRENCY_MIN_LEASE_SECONDS": "1"}

HOLDER = textwrap.dedent(
    """
    import sys
    import time

    from flowyard import concurrency

    with concurrency(sys.argv[1], occupy=2, lease_duration=2):
        print("acquired", flush=True)
        time.sleep(3600)
    """
)


def _hold_then_kill(client: SyncFlowyardClient, tmp_path: Path, env: dict[str, str]) -> None:
    client.create_concurrency_limit("held", 2)
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    log = tmp_path / "holder.log"
    proc = spawn(script, ["held"], env, log)
    try:
        poll(lambda: "acquired" in log.read_text() or proc.poll() is not None, "the holder")
        assert proc.poll() is None, log.read_text()
        [lease] = client.read_concurrency_leases("held")
        assert lease.slots == 2 and client.read_concurrency_limit("held").active_slots == 2
        # Alive, the holder renews its 2 s lease: it outlives its first expiration.
        poll(
            lambda: (
                client.read_concurrency_leases("held")[0].expiration
                > lease.expiration + dt.timedelta(seconds=2)
            ),
            "the holder to renew its lease",
        )
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def test_the_reaper_frees_a_killed_holders_slots(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reaper = {"FLOWYARD_SERVER_SERVICES_CONCURRENCY_LEASES_LOOP_SECONDS": "0.5"}
    with server(tmp_path / "server-home", database_url, **SHORT_LEASES, **reaper) as url:
        monkeypatch.setenv("FLOWYARD_API_URL", url)
        client = get_sync_client()
        try:
            env = clean_env(FLOWYARD_API_URL=url, FLOWYARD_HOME=str(tmp_path))
            _hold_then_kill(client, tmp_path, env)
            # Only reads from here on: nothing but the reaper can free the slots.
            poll(
                lambda: client.read_concurrency_limit("held").active_slots == 0,
                "the reaper to free the dead holder's slots",
            )
            assert client.read_concurrency_leases("held") == []
            with concurrency("held", occupy=2, timeout_seconds=5):
                assert client.read_concurrency_limit("held").active_slots == 2
            assert client.read_concurrency_limit("held").active_slots == 0
        finally:
            client.close()


def test_embedded_the_next_taker_sweeps_a_killed_holders_lease(
    tmp_path: Path,
    flowyard_home: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in SHORT_LEASES.items():
        monkeypatch.setenv(key, value)
    env = clean_env(FLOWYARD_HOME=str(flowyard_home), **SHORT_LEASES)
    if database_url.startswith("postgresql"):
        monkeypatch.setenv("FLOWYARD_DATABASE_URL", database_url)
        env["FLOWYARD_DATABASE_URL"] = database_url
    client = get_sync_client()
    try:
        _hold_then_kill(client, tmp_path, env)
        # Waits (bounded) for the dead lease to expire; taking slots sweeps it first.
        with concurrency("held", occupy=2, timeout_seconds=60):
            assert client.read_concurrency_limit("held").active_slots == 2
            assert len(client.read_concurrency_leases("held")) == 1
        assert client.read_concurrency_limit("held").active_slots == 0
        assert client.read_concurrency_leases("held") == []
    finally:
        client.close()
