"""Contract test: Schemathesis over our own OpenAPI document, every operation, in-process.

For each operation of ``/api/openapi.json`` (both prefixes; nothing is excluded) Schemathesis
sends the document's own examples and a bounded number of generated requests, valid and
invalid, derandomized so that every run sends the same ones; a sample of operations also
gets the coverage cases (every boundary of every field: huge integers, 1e400, NUL bytes,
empty lists, bad dates, missing and extra fields; see ``CONFIG``). Each answer must not be a
server error, and must match the schema the document declares for its status (every 422
included: ``ErrorResponse``).

Requests go to the ``app`` fixture through httpx's ASGI transport, on the event loop the
app was started on (its database engine and single writer belong to that loop). Most
operations that name an id answer 404: that is a valid answer too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.case import Case
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import response_schema_conformance

T = TypeVar("T")

BASE_URL = "http://test"
MAX_EXAMPLES = 5
CONFIG = {
    "generation": {
        "mode": "all",  # valid requests, and invalid ones that must be refused with a 4xx
        "max-examples": MAX_EXAMPLES,
        "deterministic": True,
        "database": "none",
    },
    "suppress-health-check": ["all"],
    "phases": {
        "examples": {"enabled": True},
        "coverage": {"enabled": False},
        "fuzzing": {"enabled": True},
        "stateful": {"enabled": False},  # needs links between operations; the document has none
    },
    "operations": [
        {
            # Coverage cases (every boundary of every field: huge and negative integers,
            # 1e400, NUL bytes, empty lists, bad dates) for a sample of the operations that
            # share the request models and the filter compiler: several hundred requests
            # each, too many for every operation in CI. An out-of-range integer in a log was
            # a 500 (SQLite overflow), and an empty ``startswith_`` list a 500 in every filter.
            "include-path-regex": "^/api/(logs/|flow_runs/filter)$",
            "phases": {"coverage": {"enabled": True}},
        },
        {
            # The same handlers again, under the workspace prefix (pinned to the default
            # workspace below): fewer examples, the routing and the declared parameters
            # are what these add.
            "include-path-regex": "^/api/accounts/",
            "generation": {"max-examples": 1},
        },
    ],
}


class Bridge:
    """Runs coroutines on the loop the app lives on, from Hypothesis' synchronous test."""

    def __init__(self, app: FastAPI, loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.loop = loop
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    def send(self, case: Case) -> httpx.Response:
        kwargs = case.as_transport_kwargs(base_url=BASE_URL)
        headers = dict(kwargs.get("headers") or {})
        cookies = kwargs.get("cookies") or {}
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        return self.run(
            self.client.request(
                kwargs["method"],
                kwargs["url"],
                params=kwargs.get("params"),
                headers=headers,
                json=kwargs.get("json"),
                content=kwargs.get("data"),
            )
        )


@pytest.fixture
async def bridge(app: FastAPI) -> AsyncIterator[Bridge]:
    bridge = Bridge(app, asyncio.get_running_loop())
    yield bridge
    await bridge.client.aclose()


@pytest.fixture
def contract_schema(bridge: Bridge) -> BaseSchema:
    """The document the app serves at ``/api/openapi.json``."""
    document = bridge.run(bridge.client.get("/api/openapi.json")).json()
    return schemathesis.openapi.from_dict(document, config=SchemathesisConfig.from_dict(CONFIG))


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    # Schemathesis 4.32 renames the test item after each operation through ``Node._nodeid``,
    # which pytest 9 no longer has (``nodeid`` reads ``_id``): give it the attribute to set.
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


# One test, every operation a subtest of it, all against one app (the ``app`` fixture):
# starting an app per operation would cost more than all the requests together.
schema = schemathesis.pytest.from_fixture("contract_schema")


@schema.parametrize()
@pytest.mark.timeout(900)  # every operation in this one test: more than the default 300 s
def test_contract(case: Case, bridge: Bridge) -> None:
    if "workspace_id" in case.path_parameters:
        case.path_parameters["account_id"] = str(bridge.app.state.default_account_id)
        case.path_parameters["workspace_id"] = str(bridge.app.state.default_workspace_id)
    response = bridge.send(case)
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
