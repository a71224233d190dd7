"""Blocks across clients: the official ``prefect==3.9.1`` client and Flowyard's SDK save and
load each other's block documents on one Flowyard server.

``prefect.blocks.system`` in 3.9.1 has ``Secret`` but no longer ``JSON``/``String``/
``DateTime`` (removed from Prefect 3), so the official side defines the JSON block the way
a user of that release does (a ``Block`` subclass named "JSON", slug ``json``), which maps
onto Flowyard's built-in JSON type.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e

TIMEOUT = 180.0
SERVER_KIND = os.environ.get("FLOWYARD_E2E_SERVER", "flowyard")


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without PREFECT_*/FLOWYARD_* settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "FLOWYARD_"))}
    env.update(extra)
    return env


PREFECT_SCRIPT = textwrap.dedent(
    """
    import sys
    from typing import Any

    from prefect.blocks.core import Block
    from prefect.blocks.system import Secret


    class JSON(Block):
        _block_type_name = "JSON"
        value: Any


    Secret(value="s3cr3t").save("x")
    assert Secret.load("x").get() == "s3cr3t"
    Secret(value="changed").save("x", overwrite=True)
    assert Secret.load("x").get() == "changed"
    try:
        Secret(value="again").save("x")
    except ValueError:
        pass
    else:
        raise AssertionError("saving over an existing name without overwrite succeeded")
    Secret(value={"user": "u", "password": "p"}).save("creds")
    assert Secret.load("creds").get() == {"user": "u", "password": "p"}
    Secret(value=[1, 2, 3]).save("numbers")

    class Conn(Block):
        host: str
        password: Secret

    # A saved block nested in another is sent as {"$ref": {"block_document_id": ...}}.
    Secret(value="nested-pw").save("nested-secret")
    Conn(host="db", password=Secret.load("nested-secret")).save("conn")
    conn = Conn.load("conn")
    assert conn.host == "db" and conn.password.get() == "nested-pw"
    assert conn.password._block_document_name == "nested-secret"

    JSON(value={"rows": [1, 2, 3], "ok": True}).save("cfg")
    assert JSON.load("cfg").value == {"rows": [1, 2, 3], "ok": True}
    if sys.argv[1] == "flowyard-saved":
        assert JSON.load("from-flowyard").value == {"made": "by flowyard"}
        assert Secret.load("fy-secret").get() == "fy-value"
    print("prefect-ok")
    """
)

FLOWYARD_SAVE = textwrap.dedent(
    """
    from flowyard.blocks import JSON, Secret

    JSON(value={"made": "by flowyard"}).save("from-flowyard")
    Secret(value="fy-value").save("fy-secret")
    """
)

FLOWYARD_LOAD = textwrap.dedent(
    """
    from flowyard.blocks import JSON, Block, Secret

    assert Secret.load("x").get() == "changed"
    assert Secret.load("creds").get() == {"user": "u", "password": "p"}
    assert Secret.load("numbers").get() == [1, 2, 3]
    assert JSON.load("cfg").value == {"rows": [1, 2, 3], "ok": True}
    assert Block.load("json/cfg").value == {"rows": [1, 2, 3], "ok": True}
    print("flowyard-ok")
    """
)


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> str:
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, f"{argv[:2]} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.mark.skipif(SERVER_KIND != "flowyard", reason="Flowyard's SDK needs a Flowyard server")
def test_official_and_flowyard_clients_share_blocks(
    server_api_url: str,
    prefect_python: Path,
    prefect_client_env: dict[str, str],
    api: httpx.Client,
    tmp_path: Path,
) -> None:
    flowyard_env = clean_env(FLOWYARD_API_URL=server_api_url, FLOWYARD_HOME=str(tmp_path / "fy"))
    _run([sys.executable, "-c", FLOWYARD_SAVE], flowyard_env, tmp_path)
    out = _run(
        [str(prefect_python), "-c", PREFECT_SCRIPT, "flowyard-saved"], prefect_client_env, tmp_path
    )
    assert "prefect-ok" in out
    assert "flowyard-ok" in _run([sys.executable, "-c", FLOWYARD_LOAD], flowyard_env, tmp_path)

    # Through the REST API: masked without include_secrets, clear with it.
    masked = api.get("/block_types/slug/secret/block_documents/name/x")
    assert masked.status_code == 200 and masked.json()["data"]["value"] == "********"
    clear = api.get(
        "/block_types/slug/secret/block_documents/name/x", params={"include_secrets": "true"}
    )
    assert clear.json()["data"]["value"] == "changed"

    # The nested secret is held by reference: deleting it is refused, naming its user.
    nested = api.get("/block_types/slug/secret/block_documents/name/nested-secret").json()
    refused = api.delete(f"/block_documents/{nested['id']}")
    assert refused.status_code == 409 and "conn/conn" in refused.json()["detail"]

    # The official CLI lists them.
    prefect = str(prefect_python.parent / "prefect")
    listed = _run([prefect, "block", "ls"], prefect_client_env, tmp_path)
    assert "cfg" in listed and "creds" in listed
    types = _run([prefect, "block", "type", "ls"], prefect_client_env, tmp_path)
    assert "secret" in types and "email-server-credentials" in types
    _run([prefect, "block", "delete", "secret/numbers"], prefect_client_env, tmp_path)
    gone = api.get("/block_types/slug/secret/block_documents/name/numbers")
    assert gone.status_code == 404
