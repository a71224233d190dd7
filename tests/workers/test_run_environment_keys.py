"""A run's process gets the key of the server it reports to, under every name a client
there reads: ``FLOWYARD_API_KEY`` for our engine, ``PREFECT_API_KEY`` and
``PREFECT_API_AUTH_STRING`` for the official one (whose websocket sends only the latter)."""

from __future__ import annotations

import os
import uuid

import pytest

from flowyard.sdk.execute import adopt_official_worker_settings
from flowyard.settings import get_settings
from flowyard.workers.process import run_environment

URL = "http://127.0.0.1:1/api"


@pytest.fixture
def shell_with_other_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    # The worker's shell holds keys meant for other servers.
    monkeypatch.setenv("FLOWYARD_API_KEY", "for-elsewhere")
    monkeypatch.setenv("PREFECT_API_KEY", "for-elsewhere")
    monkeypatch.setenv("PREFECT_API_AUTH_STRING", "someone:for-elsewhere")


@pytest.mark.usefixtures("shell_with_other_keys")
def test_the_run_gets_the_workers_key_under_every_name() -> None:
    # The template's env cannot give our engine another key for the worker's server.
    env = run_environment(uuid.uuid4(), URL, {"FLOWYARD_API_KEY": "template"}, api_key="ours")
    assert env["FLOWYARD_API_KEY"] == "ours"
    assert env["PREFECT_API_KEY"] == "ours"
    assert env["PREFECT_API_AUTH_STRING"] == "ours"


@pytest.mark.usefixtures("shell_with_other_keys")
def test_without_a_key_no_key_meant_for_elsewhere_is_passed_on() -> None:
    env = run_environment(uuid.uuid4(), URL, None)
    for name in ("FLOWYARD_API_KEY", "PREFECT_API_KEY", "PREFECT_API_AUTH_STRING"):
        assert name not in env


@pytest.mark.parametrize(("auth_string", "key"), [("me:k-123", "k-123"), ("k-123", "k-123")])
def test_a_run_of_the_official_worker_uses_the_key_of_its_auth_string(
    monkeypatch: pytest.MonkeyPatch, auth_string: str, key: str
) -> None:
    monkeypatch.delenv("FLOWYARD_FLOW_RUN_ID", raising=False)
    monkeypatch.delenv("PREFECT_API_KEY", raising=False)
    monkeypatch.setenv("PREFECT__FLOW_RUN_ID", str(uuid.uuid4()))
    monkeypatch.setenv("PREFECT_API_URL", URL)
    monkeypatch.setenv("PREFECT_API_AUTH_STRING", auth_string)
    monkeypatch.setenv("FLOWYARD_API_KEY", "for-elsewhere")
    adopt_official_worker_settings()
    found = get_settings().api_key
    assert found is not None and found.get_secret_value() == key
    assert os.environ["FLOWYARD_API_URL"] == URL
