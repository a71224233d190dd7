"""The public test harness: a throwaway home, a server in the current loop, pytest fixtures."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from flowyard.client import get_client, get_sync_client
from flowyard.settings import get_settings
from flowyard.testing import flowyard_test_harness, in_process_client


def test_harness_uses_a_fresh_home_and_restores_the_environment(
    monkeypatch: pytest.MonkeyPatch, flowyard_home: Path
) -> None:
    monkeypatch.setenv("FLOWYARD_API_URL", "http://example.invalid/api")
    monkeypatch.setenv("FLOWYARD_API_KEY", "k")
    with flowyard_test_harness() as settings:
        home = settings.home
        assert home != flowyard_home and home.exists()
        assert settings.api_url is None and "FLOWYARD_API_KEY" not in os.environ
        with get_sync_client() as client:
            assert client.embedded
            client.create_flow("inside")
            assert [f.name for f in client.read_flows()] == ["inside"]
        assert (home / "flowyard.db").exists()
    assert not home.exists()  # the temporary folder is gone
    assert os.environ["FLOWYARD_HOME"] == str(flowyard_home)
    assert os.environ["FLOWYARD_API_URL"] == "http://example.invalid/api"
    api_key = get_settings().api_key
    assert api_key is not None and api_key.get_secret_value() == "k"
    assert "'k'" not in repr(get_settings())


def test_each_harness_starts_empty() -> None:
    for _ in range(2):
        with flowyard_test_harness(), get_sync_client() as client:
            assert client.count_flows() == 0
            client.create_flow("only-here")


def test_harness_with_a_given_home_keeps_it(tmp_path: Path) -> None:
    with flowyard_test_harness(tmp_path / "kept"), get_sync_client() as client:
        client.create_flow("kept")
    assert (tmp_path / "kept" / "flowyard.db").exists()


async def test_harness_serves_async_clients_too() -> None:
    with flowyard_test_harness():
        async with get_client() as client:
            assert (await client.create_flow("async")).name == "async"


async def test_in_process_client_is_isolated() -> None:
    async with in_process_client() as first, in_process_client() as second:
        await first.create_flow("one")
        assert await first.count_flows() == 1
        assert await second.count_flows() == 0
        assert not first.embedded


def test_pytest_plugin_fixtures(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["flowyard.testing.pytest_plugin"]\n')
    (tmp_path / "test_user_code.py").write_text(
        textwrap.dedent(
            """
            def test_records_go_to_a_throwaway_home(flowyard_harness, flowyard_client):
                assert flowyard_client.embedded
                flowyard_client.create_flow("user-flow")
                assert flowyard_client.count_flows() == 1
                assert (flowyard_harness.home / "flowyard.db").exists()

            def test_and_the_next_test_starts_empty(flowyard_client):
                assert flowyard_client.count_flows() == 0
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWYARD_")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_server_process_serves_and_reports_a_failed_start(tmp_path: Path) -> None:
    from flowyard.testing import server_process

    with server_process(tmp_path / "ok") as url:
        assert httpx.get(f"{url}/health", timeout=10).status_code == 200
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/health", timeout=2)  # stopped on leaving the block
    failing = server_process(tmp_path / "bad", "nosuchdialect://nowhere")
    with pytest.raises(RuntimeError, match="the server exited"), failing:
        pass
