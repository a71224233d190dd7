"""`flowyard block ls|inspect|delete` and `flowyard block type ls`, in embedded mode."""

from __future__ import annotations

import json
import uuid

from cli_helpers import Flowyard, one_error_line
from pydantic import SecretStr

from flowyard.blocks import JSON, Block, Secret


class Pipeline(Block):
    """A pipeline that nests a secret."""

    _block_type_name = "CLI Pipeline"
    token: Secret
    label: str = "nightly"


def test_ls_inspect_delete_never_print_secrets(flowyard: Flowyard) -> None:
    Secret(value="t0p-s3cr3t-value").save("api-key")
    JSON(value={"rows": 3}).save("settings")

    listed = flowyard("block", "ls")
    assert listed.exit_code == 0, listed.output
    assert "secret/api-key" in listed.output and "json/settings" in listed.output
    assert "t0p-s3cr3t" not in listed.output
    only_json = flowyard("block", "ls", "--type", "json")
    assert "json/settings" in only_json.output and "api-key" not in only_json.output

    shown = flowyard("block", "inspect", "secret/api-key")
    assert shown.exit_code == 0, shown.output
    assert "t0p-s3cr3t" not in shown.output
    document = json.loads(shown.output)
    assert document["data"] == {"value": "********"} and document["name"] == "api-key"
    by_id = flowyard("block", "inspect", document["id"])
    assert json.loads(by_id.output)["id"] == document["id"]

    deleted = flowyard("block", "delete", "json/settings")
    assert deleted.exit_code == 0 and "Deleted block json/settings" in deleted.output
    assert "settings" not in flowyard("block", "ls").output


def test_block_type_ls_shows_built_ins(flowyard: Flowyard) -> None:
    result = flowyard("block", "type", "ls")
    assert result.exit_code == 0, result.output
    for slug in (
        "secret",
        "json",
        "string",
        "date-time",
        "local-file-system",
        "webhook",
        "email-server-credentials",
    ):
        assert slug in result.output


def test_errors_are_one_line(flowyard: Flowyard) -> None:
    assert "not found" in one_error_line(flowyard("block", "inspect", "secret/nope"))
    assert "not found" in one_error_line(flowyard("block", "inspect", str(uuid.uuid4())))
    assert "type-slug/name" in one_error_line(flowyard("block", "delete", "just-a-name"))
    assert "not found" in one_error_line(flowyard("block", "delete", "nope/x"))
    assert "'nope' not found" in one_error_line(flowyard("block", "ls", "--type", "nope"))


def test_delete_of_a_block_in_use_names_the_user(flowyard: Flowyard) -> None:
    token = Secret(value=SecretStr("inner"))
    token.save("inner-token")
    from flowyard.client import get_sync_client
    from flowyard.schemas.blocks import BlockDocumentCreate

    # Nest the saved secret by reference, as the official client does.
    with get_sync_client() as client:
        Pipeline(token=token).save("etl")
        etl = client.read_block_document_by_name("etl", "cli-pipeline")
        inner = client.read_block_document_by_name("inner-token", "secret")
        client.create_block_document(
            BlockDocumentCreate(
                name="etl-ref",
                data={"token": {"$ref": {"block_document_id": str(inner.id)}}},
                block_schema_id=etl.block_schema_id,
                block_type_id=etl.block_type_id,
            )
        )
    line = one_error_line(flowyard("block", "delete", "secret/inner-token"))
    assert "cli-pipeline/etl-ref" in line
    assert "inner-token" in flowyard("block", "ls").output
