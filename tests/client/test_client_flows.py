"""The flows methods of the client, against the real app in-process."""

from __future__ import annotations

import uuid

import pytest

from flowyard.client import FlowyardClient
from flowyard.exceptions import InvalidRequest, ObjectNotFound
from flowyard.schemas.filters import FlowFilter, NameFilter
from flowyard.schemas.sorting import FlowSort


async def test_create_is_an_upsert_by_name(api_client: FlowyardClient) -> None:
    first = await api_client.create_flow("etl", tags=["nightly"])
    again = await api_client.create_flow("etl")
    assert first.id == again.id
    assert first.tags == ["nightly"]


async def test_read_by_id_and_by_name(api_client: FlowyardClient) -> None:
    flow = await api_client.create_flow("my flow?#1")  # needs escaping in the path
    assert (await api_client.read_flow(flow.id)).name == "my flow?#1"
    assert (await api_client.read_flow_by_name("my flow?#1")).id == flow.id


async def test_missing_flow_is_object_not_found(api_client: FlowyardClient) -> None:
    with pytest.raises(ObjectNotFound, match="Flow not found"):
        await api_client.read_flow(uuid.uuid4())
    with pytest.raises(ObjectNotFound):
        await api_client.read_flow_by_name("nope")
    with pytest.raises(ObjectNotFound):
        await api_client.delete_flow(uuid.uuid4())


async def test_filter_sort_limit_and_count(api_client: FlowyardClient) -> None:
    for name in ("b", "a", "c", "ab"):
        await api_client.create_flow(name)
    names = [f.name for f in await api_client.read_flows()]
    assert names == ["a", "ab", "b", "c"]
    desc = await api_client.read_flows(sort=FlowSort.NAME_DESC, limit=2, offset=1)
    assert [f.name for f in desc] == ["b", "ab"]
    like_a = FlowFilter(name=NameFilter(like_="a"))
    assert {f.name for f in await api_client.read_flows(flow_filter=like_a)} == {"a", "ab"}
    assert await api_client.count_flows() == 4
    assert await api_client.count_flows(flow_filter=like_a) == 2


async def test_update_and_delete(api_client: FlowyardClient) -> None:
    flow = await api_client.create_flow("etl")
    await api_client.update_flow(flow.id, tags=["x", "y"])
    assert (await api_client.read_flow(flow.id)).tags == ["x", "y"]
    await api_client.delete_flow(flow.id)
    assert await api_client.count_flows() == 0


async def test_server_side_validation_is_invalid_request(api_client: FlowyardClient) -> None:
    with pytest.raises(InvalidRequest, match="limit") as info:
        await api_client.read_flows(limit=10_000)
    assert info.value.status_code == 422


async def test_admin_endpoints(api_client: FlowyardClient) -> None:
    await api_client.api_healthcheck()
    assert await api_client.api_version() == "0.8.4"
    assert (await api_client.server_version()).startswith("3.")
    assert not api_client.embedded
