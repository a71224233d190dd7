"""Instructions per request that the request guard (server/auth/guard.py: Host, API key,
body type and size) adds in front of the app, counted under callgrind.

    .venv/bin/python bench/request_guard.py

Wall-clock time on a shared 2-core machine drifts by a factor of two from one run to the
next; an instruction count does not. Each variant drives N, then 3N requests straight
through the ASGI interface (no socket, no server) into an app that answers at once, so the
difference between variants is the guard alone; (count(3N) - count(N)) / 2N is the cost
of one request. For scale, the same is counted for the whole Flowyard app answering
``GET /api/health``, the cheapest route there is.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYTHON = Path(sys.executable)
N = 2_000
KEY = "k" * 43  # as long as secrets.token_urlsafe(32)
# What a client sends: our SDK and the official one send about this many headers.
HEADERS = [
    (b"host", b"127.0.0.1:4200"),
    (b"accept", b"*/*"),
    (b"accept-encoding", b"gzip, deflate"),
    (b"connection", b"keep-alive"),
    (b"user-agent", b"prefect/3.9.1 (API 0.8.4)"),
    (b"x-prefect-api-version", b"0.8.4"),
    (b"authorization", b"Bearer " + KEY.encode()),
]
BODY = b'{"flows": {"name": {"any_": ["etl"]}}}'
POST_HEADERS = [
    *HEADERS,
    (b"content-type", b"application/json"),
    (b"content-length", str(len(BODY)).encode()),
]


def scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": b"", "headers": headers, "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 4200), "state": {},
    }  # fmt: skip


async def answer_at_once(scope: Any, receive: Any, send: Any) -> None:
    if scope["method"] == "POST":
        await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"true"})


def build(variant: str) -> tuple[Any, dict[str, Any]]:
    from flowyard.server.auth.guard import RequestGuard, guard_options
    from flowyard.settings import Settings

    settings = Settings(server_api_key=KEY, home=Path(tempfile.mkdtemp()))
    get = scope("GET", f"/api/flow_runs/{uuid.uuid4()}", HEADERS)
    post = scope("POST", "/api/flow_runs/filter", POST_HEADERS)
    if variant == "bare-get":
        return answer_at_once, get
    if variant == "guarded-get":
        return RequestGuard(answer_at_once, **guard_options(settings, in_process=False)), get
    if variant == "bare-post":
        return answer_at_once, post
    if variant == "guarded-post":
        return RequestGuard(answer_at_once, **guard_options(settings, in_process=False)), post
    if variant == "app-health":
        from flowyard.server.app import create_app

        app = create_app(settings, services=False)
        return app, scope("GET", "/api/health", HEADERS)
    raise SystemExit(f"unknown variant {variant}")


async def drive(app: Any, request: dict[str, Any], n: int) -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200, message

    for _ in range(n):
        await app(dict(request), receive, send)


def worker(variant: str, n: int) -> None:
    app, request = build(variant)
    asyncio.run(drive(app, request, 10))  # warm: first-call imports and caches
    asyncio.run(drive(app, request, n))


def instructions(variant: str, n: int) -> int:
    with tempfile.NamedTemporaryFile("r") as log:
        subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
             f"--log-file={log.name}", str(PYTHON), __file__, "--worker", variant, str(n)],
            env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
            check=True, capture_output=True,
        )  # fmt: skip
        found = re.search(r"Collected : (\d+)", log.read())
    assert found, "callgrind printed no count"
    return int(found.group(1))


def per_request(variant: str) -> float:
    return (instructions(variant, 3 * N) - instructions(variant, N)) / (2 * N)


def main() -> None:
    counts = {
        v: per_request(v)
        for v in ("bare-get", "guarded-get", "bare-post", "guarded-post", "app-health")
    }
    get = counts["guarded-get"] - counts["bare-get"]
    post = counts["guarded-post"] - counts["bare-post"]
    health = counts["app-health"]
    print(f"guard, GET with Bearer key:   {get:9,.0f} instructions per request")
    print(f"guard, POST JSON with key:    {post:9,.0f} instructions per request")
    print(f"whole app, GET /api/health:   {health:9,.0f} instructions per request")
    print(f"guard share of GET /health:   {100 * get / health:8.1f} %")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        worker(sys.argv[2], int(sys.argv[3]))
    else:
        main()
