"""What a script and the CLI pay before their first request: the client imports only what
a remote API needs, builds no certificate store for a plain-http API, and leaves httpx's
command-line tool unimported (each measured in bench/startup.py)."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import tempfile

import pytest

from flowyard.client import _versions
from flowyard.client._http import tls_verification

# Modules a client of a remote server never needs: the server, the database layer, the
# schemas of resources a flow run does not touch, jsonschema, httpx's CLI (click, rich).
NOT_FOR_A_REMOTE_CLIENT = (
    "flowyard.server",
    "sqlalchemy",
    "fastapi",
    "jsonschema",
    "httpx._main",
    "rich",
    "flowyard.schemas.work_pools",
    "flowyard.schemas.deployments",
    "flowyard.schemas.blocks",
    "flowyard.schemas.concurrency",
    "flowyard.schemas.flow_run_control",
)


def loaded_after(code: str) -> set[str]:
    """The modules loaded in a fresh interpreter after running ``code``."""
    probe = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    with tempfile.TemporaryDirectory() as home:
        env = {"FLOWYARD_API_URL": "http://127.0.0.1:9/api", "FLOWYARD_HOME": home}
        out = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
        )
    return set(json.loads(out.stdout.splitlines()[-1]))


def unwanted(modules: set[str]) -> list[str]:
    return sorted(
        m for m in modules if any(m == p or m.startswith(p + ".") for p in NOT_FOR_A_REMOTE_CLIENT)
    )


def test_importing_the_client_package_imports_no_http_stack() -> None:
    modules = loaded_after("import flowyard.client")
    assert "httpx" not in modules and "pydantic" not in modules


def test_a_remote_client_loads_only_what_it_needs() -> None:
    modules = loaded_after(
        "from flowyard.client import get_sync_client\n"
        "client = get_sync_client()\n"
        "from flowyard import flow\n"
        "flow(lambda n: n)"
    )
    assert "httpx" in modules  # the probe did build a real client
    assert unwanted(modules) == []


def test_httpx_command_line_tool_still_imports_on_demand() -> None:
    modules = loaded_after(
        "import flowyard.client._http\nimport httpx._main\nassert callable(httpx._main.main)"
    )
    assert "httpx._main" in modules


def test_a_plain_http_api_gets_a_context_that_trusts_no_certificate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    context = tls_verification("http://127.0.0.1:4200/api")
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 0  # fails closed should TLS ever happen


def test_https_and_proxied_apis_verify_with_the_default_bundle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    assert tls_verification("https://flowyard.example.com/api") is True
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example.com:3128")
    assert tls_verification("http://10.0.0.5:4200/api") is True


def test_the_client_states_the_versions_the_server_serves() -> None:
    from flowyard.server.api import admin

    assert _versions.API_VERSION == admin.API_VERSION
    assert _versions.COMPATIBLE_PREFECT_VERSION == admin.COMPATIBLE_PREFECT_VERSION
