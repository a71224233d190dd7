"""Artifacts attached to the current run, and variables backed by the variables API."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from flowyard import (
    Variable,
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
    flow,
    task,
)
from flowyard.exceptions import InvalidRequest
from flowyard.sdk.artifacts import (
    acreate_link_artifact,
    acreate_markdown_artifact,
    acreate_table_artifact,
)
from flowyard.sdk.context import get_run_context


def flow_run_id() -> Any:
    return get_run_context().flow_run.id  # type: ignore[union-attr]


def test_artifacts_are_attached_to_the_current_run(recorded: Any) -> None:
    @task
    def report() -> Any:
        table = [{"name": "a", "n": 1}, {"name": "b", "n": math.nan}]
        return create_table_artifact(table, key="counts", description="per name")

    @flow
    def pipeline() -> Any:
        markdown_id = create_markdown_artifact("# Done\nAll good.", key="summary")
        link_id = create_link_artifact("https://example.com/r/1", link_text="the report")
        return markdown_id, link_id, report(), flow_run_id()

    markdown_id, link_id, table_id, run_id = pipeline()
    client = recorded.client
    markdown = client.read_artifact(markdown_id)
    assert (markdown.type, markdown.key, markdown.data) == (
        "markdown",
        "summary",
        "# Done\nAll good.",
    )
    assert markdown.flow_run_id == run_id and markdown.task_run_id is None
    link = client.read_artifact(link_id)
    assert link.type == "markdown" and link.data == "[the report](https://example.com/r/1)"
    table = client.read_artifact(table_id)
    assert table.type == "table" and table.description == "per name"
    assert json.loads(table.data) == [{"name": "a", "n": 1}, {"name": "b", "n": None}]
    (task_run,) = recorded.task_runs(run_id)
    assert table.task_run_id == task_run.id and table.flow_run_id == run_id
    assert client.read_latest_artifact("summary").id == markdown_id


def test_table_shapes_and_errors(recorded: Any) -> None:
    columns = create_table_artifact({"x": [1, 2], "y": ["a", "b"]})
    rows = create_table_artifact([[1, "a"], [2, "b"]])
    assert json.loads(recorded.client.read_artifact(columns).data) == {
        "x": [1, 2],
        "y": ["a", "b"],
    }
    assert json.loads(recorded.client.read_artifact(rows).data) == [[1, "a"], [2, "b"]]
    assert recorded.client.read_artifact(rows).flow_run_id is None  # outside any run
    for bad in ("text", 3, {"x": 1}, [{"a": 1}, [2]]):
        with pytest.raises(TypeError):
            create_table_artifact(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        create_markdown_artifact(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        create_link_artifact("")
    with pytest.raises(InvalidRequest):
        create_markdown_artifact("x", key="Not A Valid Key")


async def test_async_artifacts(recorded: Any) -> None:
    @flow
    async def pipeline() -> Any:
        return (
            await acreate_markdown_artifact("**hi**"),
            await acreate_table_artifact([{"a": 1}]),
            await acreate_link_artifact("https://example.com"),
            flow_run_id(),
        )

    *ids, run_id = await pipeline()
    for artifact_id in ids:
        assert recorded.client.read_artifact(artifact_id).flow_run_id == run_id
    assert (
        recorded.client.read_artifact(ids[2]).data == "[https://example.com](https://example.com)"
    )


def test_variables() -> None:
    assert Variable.get("batch_size") is None
    assert Variable.get("batch_size", default=100) == 100
    created = Variable.set("batch_size", 500, tags=["etl"])
    assert created == Variable("batch_size", 500, ["etl"])
    assert Variable.get("batch_size") == 500
    with pytest.raises(ValueError, match="already exists"):
        Variable.set("batch_size", 1)
    assert Variable.set("batch_size", {"rows": [1, 2]}, overwrite=True).tags == ["etl"]
    assert Variable.get("batch_size") == {"rows": [1, 2]}
    assert Variable.unset("batch_size") is True
    assert Variable.unset("batch_size") is False
    assert Variable.get("batch_size", default="gone") == "gone"


def test_variables_inside_a_flow() -> None:
    @flow
    def configured() -> Any:
        Variable.set("threshold", 0.5)
        return Variable.get("threshold") * 2

    assert configured() == 1.0


async def test_async_variables() -> None:
    assert await Variable.aget("mode", default="dev") == "dev"
    await Variable.aset("mode", "prod")
    assert await Variable.aget("mode") == "prod"
    with pytest.raises(ValueError, match="overwrite=True"):
        await Variable.aset("mode", "test")
    await Variable.aset("mode", "test", tags=["x"], overwrite=True)
    assert Variable.get("mode") == "test"
    assert await Variable.aunset("mode") is True
    assert await Variable.aunset("mode") is False
