"""Each command imports what it needs, not the server or the HTTP stack it does not use:
``flowyard version`` and ``--help`` import neither; a command that reads from a remote
server imports the client but never the server (timings in bench/startup.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile

SERVER_SIDE = ("flowyard.server", "sqlalchemy", "fastapi", "uvicorn", "jsonschema")
HTTP_STACK = ("httpx", "httpcore")


def loaded_by(*argv: str) -> set[str]:
    """The modules loaded by ``flowyard <argv>`` run in a fresh interpreter."""
    probe = (
        "import sys, json\n"
        "from flowyard.cli.main import app\n"
        "try:\n"
        f"    app({list(argv)!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    with tempfile.TemporaryDirectory() as home:
        # Port 9 (discard): nothing answers, the command fails after its imports are done.
        env = {"FLOWYARD_HOME": home, "FLOWYARD_API_URL": "http://127.0.0.1:9/api"}
        out = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120
        )
    return set(json.loads(out.stdout.splitlines()[-1]))


def among(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in {p.split(".")[0] for p in packages}
                  and any(m == p or m.startswith(p + ".") for p in packages))  # fmt: skip


def test_version_imports_neither_the_server_nor_http() -> None:
    modules = loaded_by("version")
    assert "flowyard.cli.main" in modules
    assert among(modules, SERVER_SIDE + HTTP_STACK) == []


def test_help_imports_neither_the_server_nor_http() -> None:
    modules = loaded_by("--help")
    assert among(modules, SERVER_SIDE + HTTP_STACK) == []


def test_a_remote_listing_imports_the_client_not_the_server() -> None:
    modules = loaded_by("flow-run", "ls")
    assert "httpx" in modules  # it did try the API
    assert among(modules, SERVER_SIDE) == []
