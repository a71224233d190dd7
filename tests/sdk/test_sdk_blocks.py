"""The SDK's blocks in embedded mode: built-ins and user-defined blocks saved and loaded,
secret fields, overwrite, async twins, and blocks used from flows."""

from __future__ import annotations

import asyncio
import datetime as dt
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr

from flowyard import flow, task
from flowyard.blocks import (
    JSON,
    Block,
    DateTime,
    EmailServerCredentials,
    LocalFileSystem,
    Secret,
    SecretDict,
    String,
    Webhook,
)
from flowyard.client import get_sync_client
from flowyard.schemas.blocks import BlockSchemaFilter
from flowyard.schemas.filters import IdFilter


class Endpoint(BaseModel):
    host: str
    api_key: SecretStr


class Warehouse(Block):
    """A data warehouse connection."""

    _block_type_name = "SDK Warehouse"
    host: str
    port: int = 5432
    password: SecretStr
    options: SecretDict = SecretDict({})
    replicas: list[Endpoint] = []


def test_built_ins_round_trip() -> None:
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    Secret(value="s3cr3t").save("api-key")
    Secret(value={"user": "u", "password": "p"}).save("creds")
    Secret(value=[1, "two", None]).save("listed")
    JSON(value={"rows": [1, 2], "ok": True, "none": None}).save("cfg")
    String(value="hello").save("greeting")
    DateTime(value=when).save("launch")
    Webhook(url="https://example.com/hook", headers={"X-Token": "t"}).save("hook")
    EmailServerCredentials(username="me", password="pw", smtp_port=2525).save("mail")
    LocalFileSystem(basepath="/tmp/somewhere").save("disk")

    assert Secret.load("api-key").get() == "s3cr3t"
    assert Secret.load("creds").get() == {"user": "u", "password": "p"}
    assert Secret.load("listed").get() == [1, "two", None]
    assert JSON.load("cfg").value == {"rows": [1, 2], "ok": True, "none": None}
    assert String.load("greeting").value == "hello"
    assert DateTime.load("launch").value == when
    hook = Webhook.load("hook")
    assert hook.url.get_secret_value() == "https://example.com/hook"
    assert hook.headers.get_secret_value() == {"X-Token": "t"}
    mail = EmailServerCredentials.load("mail")
    assert mail.password is not None and mail.password.get_secret_value() == "pw"
    assert mail.smtp_port == 2525
    assert LocalFileSystem.load("disk").basepath == "/tmp/somewhere"
    # The base class loads any registered type by slug.
    assert Block.load("secret/api-key").get() == "s3cr3t"  # type: ignore[attr-defined]
    assert isinstance(Block.load("date-time/launch"), DateTime)


def test_secret_fields_are_masked_on_plain_reads() -> None:
    Warehouse(
        host="db",
        password="pw",
        options={"sslkey": "k"},
        replicas=[Endpoint(host="r1", api_key="k1"), Endpoint(host="r2", api_key="k2")],
    ).save("prod")
    with get_sync_client() as client:
        masked = client.read_block_document_by_name("prod", "sdk-warehouse")
        clear = client.read_block_document_by_name("prod", "sdk-warehouse", include_secrets=True)
    assert masked.data["password"] == "********" and masked.data["options"] == {
        "sslkey": "********"
    }
    assert [r["api_key"] for r in masked.data["replicas"]] == ["********", "********"]
    assert clear.data["password"] == "pw" and clear.data["options"] == {"sslkey": "k"}
    assert [r["api_key"] for r in clear.data["replicas"]] == ["k1", "k2"]
    assert masked.block_schema is not None
    assert masked.block_schema.fields["secret_fields"] == [
        "password",
        "options.*",
        "replicas.api_key",
    ]


def test_user_defined_block_registers_once_and_round_trips() -> None:
    first = Warehouse(host="db", password="pw", replicas=[Endpoint(host="r1", api_key="k1")])
    first.save("a")
    Warehouse(host="db2", password="pw2").save("b")
    loaded = Warehouse.load("a")
    assert loaded.host == "db" and loaded.password.get_secret_value() == "pw"
    assert loaded.replicas[0].api_key.get_secret_value() == "k1"
    assert isinstance(Block.load("sdk-warehouse/b"), Warehouse)
    with get_sync_client() as client:
        block_type = client.read_block_type_by_slug("sdk-warehouse")
        schemas = client.read_block_schemas(
            BlockSchemaFilter(block_type_id=IdFilter(any_=[block_type.id]))
        )
    assert block_type.name == "SDK Warehouse"
    assert block_type.description == "A data warehouse connection."
    assert len(schemas) == 1


def test_overwrite_and_the_error_without_it() -> None:
    Secret(value="one").save("token")
    with pytest.raises(ValueError, match="already exists; pass overwrite=True"):
        Secret(value="two").save("token")
    assert Secret.load("token").get() == "one"
    Secret(value="three").save("token", overwrite=True)
    assert Secret.load("token").get() == "three"


def test_load_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="Unable to find block document secret/missing"):
        Secret.load("missing")
    with pytest.raises(ValueError, match="block-type-slug/name"):
        Block.load("no-slash")
    with pytest.raises(ValueError, match="Unable to find"):
        Block.load("no-such-type/x")


def test_delete() -> None:
    String(value="x").save("gone")
    String.delete("gone")
    with pytest.raises(ValueError):
        String.load("gone")


class GitHubAccess(Block):
    """A repository and the token that reads it."""

    _block_type_name = "SDK GitHub Access"
    repository: str
    token: Secret


def test_a_saved_nested_block_is_a_reference_its_user_keeps_from_deletion() -> None:
    from flowyard.exceptions import ObjectAlreadyExists

    token = Secret(value="ghp_x")
    token.save("nested-token")
    GitHubAccess(repository="https://example.com/r.git", token=token).save("nested-access")
    with get_sync_client() as client:
        outer = client.read_block_document_by_name("nested-access", "sdk-github-access")
    assert set(outer.block_document_references) == {"token"}
    loaded = GitHubAccess.load("nested-access")
    assert loaded.token.get() == "ghp_x"
    with pytest.raises(ObjectAlreadyExists, match="sdk-github-access/nested-access"):
        Secret.delete("nested-token")
    GitHubAccess.delete("nested-access")
    Secret.delete("nested-token")


def test_async_twins_and_sync_calls_inside_a_loop() -> None:
    async def main() -> tuple[Any, Any, Any]:
        await Secret(value="async-value").asave("a")
        loaded = await Secret.aload("a")
        from_sync = Secret.load("a")  # the sync API also works inside a running loop
        await Secret.adelete("a")
        return loaded.get(), from_sync.get(), await asyncio.to_thread(_missing)

    assert asyncio.run(main()) == ("async-value", "async-value", True)


def _missing() -> bool:
    try:
        Secret.load("a")
    except ValueError:
        return True
    return False


def test_blocks_inside_flows_and_as_result_storage(tmp_path: Path) -> None:
    Secret(value="inside").save("flow-secret")
    LocalFileSystem(basepath=str(tmp_path / "results")).save("results")

    @task(persist_result=True, result_storage=LocalFileSystem.load("results"))
    def stored() -> int:
        return 42

    @flow
    def uses_blocks() -> tuple[str, int]:
        return Secret.load("flow-secret").get(), stored()

    assert uses_blocks() == ("inside", 42)
    assert any((tmp_path / "results").iterdir())


@pytest.fixture
def local_http() -> Iterator[tuple[str, list[bytes]]]:
    received: list[bytes] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def test_webhook_refuses_private_addresses_unless_allowed(
    local_http: tuple[str, list[bytes]],
) -> None:
    url, received = local_http
    Webhook(url=url).save("local")
    with pytest.raises(ValueError, match="non-public address"):
        Webhook.load("local").call({"a": 1})
    assert received == []
    Webhook(url=url, allow_private_urls=True).save("local", overwrite=True)
    response = Webhook.load("local").call({"a": 1})
    assert response.status_code == 204 and received == [b'{"a":1}']
