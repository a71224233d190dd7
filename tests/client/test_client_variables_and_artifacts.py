"""Variables and artifacts through the client."""

from __future__ import annotations

import pytest

from flowyard.client import FlowyardClient
from flowyard.exceptions import InvalidRequest, ObjectAlreadyExists, ObjectNotFound
from flowyard.schemas.filters import ArtifactFilter, NameFilter, StringFilter, VariableFilter


async def test_variable_crud(api_client: FlowyardClient) -> None:
    created = await api_client.create_variable("db_host", {"host": "x", "port": 5432}, tags=["a"])
    assert (await api_client.read_variable(created.id)).value == {"host": "x", "port": 5432}
    with pytest.raises(ObjectAlreadyExists):
        await api_client.create_variable("db_host", 1)

    await api_client.update_variable_by_name("db_host", value=None)
    read = await api_client.read_variable_by_name("db_host")
    assert read.value is None and read.tags == ["a"]  # tags untouched
    await api_client.update_variable_by_name("db_host", new_name="db-host", tags=["b"])
    assert (await api_client.read_variable_by_name("db-host")).tags == ["b"]

    await api_client.create_variable("other", "v")
    assert [v.name for v in await api_client.read_variables()] == ["db-host", "other"]
    only = VariableFilter(name=NameFilter(any_=["other"]))
    assert await api_client.count_variables(only) == 1
    await api_client.delete_variable_by_name("other")
    await api_client.delete_variable(created.id)
    assert await api_client.count_variables() == 0
    with pytest.raises(ObjectNotFound):
        await api_client.read_variable_by_name("other")


async def test_variable_names_are_checked(api_client: FlowyardClient) -> None:
    with pytest.raises(InvalidRequest, match="lowercase"):
        await api_client.create_variable("Bad Name", 1)


async def test_artifact_crud(api_client: FlowyardClient) -> None:
    first = await api_client.create_artifact(key="report", type="markdown", data="# v1")
    second = await api_client.create_artifact(key="report", type="markdown", data="# v2")
    await api_client.create_artifact(type="table", data=[[1, 2]])
    assert (await api_client.read_latest_artifact("report")).id == second.id
    assert (await api_client.read_artifact(first.id)).data == "# v1"

    await api_client.update_artifact(first.id, description="old one")
    assert (await api_client.read_artifact(first.id)).description == "old one"

    markdown = ArtifactFilter(type=StringFilter(any_=["markdown"]))
    assert {a.id for a in await api_client.read_artifacts(markdown)} == {first.id, second.id}
    assert await api_client.count_artifacts() == 3
    assert await api_client.count_artifacts(markdown) == 2

    await api_client.delete_artifact(first.id)
    with pytest.raises(ObjectNotFound):
        await api_client.read_artifact(first.id)
