"""The public surface: ``flowyard.__all__`` is frozen, and importing it stays light."""

from __future__ import annotations

import subprocess
import sys

import flowyard

PUBLIC = [
    "CachePolicy",
    "DaskTaskRunner",
    "FLOW_PARAMETERS",
    "Flow",
    "INPUTS",
    "JSONSerializer",
    "LocalFileSystem",
    "NO_CACHE",
    "PickleSerializer",
    "ProcessPoolTaskRunner",
    "RUN_ID",
    "State",
    "TASK_SOURCE",
    "Task",
    "TaskFuture",
    "ThreadPoolTaskRunner",
    "Variable",
    "__version__",
    "allow_failure",
    "as_completed",
    "concurrency",
    "create_link_artifact",
    "create_markdown_artifact",
    "create_table_artifact",
    "exponential_backoff",
    "flow",
    "get_run_context",
    "get_run_logger",
    "load_result",
    "pause_flow_run",
    "rate_limit",
    "resume_flow_run",
    "run_deployment",
    "serve",
    "task",
    "unmapped",
    "wait",
]


def test_all_is_frozen() -> None:
    # Adding a public name is a decision: update this list with it.
    assert sorted(flowyard.__all__) == PUBLIC


def test_every_public_name_resolves_and_is_documented() -> None:
    for name in flowyard.__all__:
        value = getattr(flowyard, name)
        if name != "__version__":
            assert value.__doc__, f"flowyard.{name} has no docstring"


def test_unknown_attribute() -> None:
    try:
        flowyard.no_such_name  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_importing_the_sdk_loads_no_server_client_or_pydantic() -> None:
    probe = (
        "import sys\n"
        "from flowyard import flow, task\n"
        "@task\n"
        "def t(): pass\n"
        "@flow\n"
        "def f(): pass\n"
        "heavy = ['pydantic', 'sqlalchemy', 'fastapi', 'httpx', 'asyncio', 'flowyard.server',"
        " 'flowyard.client', 'flowyard.settings']\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
