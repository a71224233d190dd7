"""The flow-run list's filter as it lives in the URL."""

from __future__ import annotations

import datetime as dt
import uuid
from urllib.parse import parse_qsl, urlencode

import pytest

from flowyard.schemas.states import StateType
from flowyard.server.errors import Invalid
from flowyard.server.operations.flow_run_pages import FlowRunOrder, Keyset
from flowyard.ui.run_query import RunListQuery, decode_cursor, encode_cursor

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def parse(query: str) -> RunListQuery:
    return RunListQuery.parse(parse_qsl(query, keep_blank_values=True))


def test_every_filter_becomes_the_operations_filter() -> None:
    flow, deployment = uuid.uuid4(), uuid.uuid4()
    query = parse(
        f"range=24h&state=failed&state=LATE&tag=etl,%20nightly&flow={flow}"
        f"&deployment={deployment}&pool=docker&q=backfill&sort=name_asc"
    )
    filters = query.run_filters(NOW)
    runs = filters.flow_runs
    assert runs is not None and runs.expected_start_time is not None
    assert runs.expected_start_time.after_ == NOW - dt.timedelta(days=1)
    assert runs.expected_start_time.before_ is None  # what is scheduled next shows too
    assert runs.state is not None and runs.state.operator == "or_"
    assert runs.state.type is not None and runs.state.type.any_ == [StateType.FAILED]
    assert runs.state.name is not None and runs.state.name.any_ == ["Late"]
    assert runs.tags is not None and runs.tags.all_ == ["etl", "nightly"]
    assert runs.name is not None and runs.name.like_ == "backfill"
    assert filters.flows is not None and filters.flows.id is not None
    assert filters.flows.id.any_ == [flow]
    assert filters.deployments is not None and filters.deployments.id is not None
    assert filters.deployments.id.any_ == [deployment]
    assert filters.work_pools is not None and filters.work_pools.name is not None
    assert filters.work_pools.name.any_ == ["docker"]
    assert query.sort == FlowRunOrder.NAME_ASC


def test_the_filter_round_trips_through_its_url() -> None:
    query = parse(
        "range=custom&start=2026-01-01T00:00&end=2026-01-02T00:00&state=COMPLETED&tag=a&q=x"
    )
    again = RunListQuery.parse(parse_qsl(urlencode(query.params())))
    assert again == query
    assert again.start == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)  # the page shows UTC


def test_all_time_has_no_window() -> None:
    assert parse("range=all").run_filters(NOW).flow_runs is None


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("range=fortnight", "range: one of"),
        ("state=SLEEPING", "state: one of"),
        ("flow=not-an-id", "flow: not an id"),
        ("sort=random", "sort: one of"),
        ("limit=0", "limit: a whole number"),
        ("limit=5000", "limit: a whole number"),
        ("range=custom&start=yesterday", "start: a date and time"),
        ("range=custom&start=2026-01-02T00:00&end=2026-01-01T00:00", "end: must be after start"),
        ("after=bm90LWEtY3Vyc29y", "after: not a page cursor"),
        ("tag=" + "x" * 201, "tag: at most 200"),
    ],
)
def test_bad_values_are_refused_with_a_message(query: str, message: str) -> None:
    with pytest.raises(Invalid, match=message):
        parse(query)


def test_cursors_round_trip_and_belong_to_their_sort() -> None:
    at = Keyset(key=NOW, id=uuid.uuid4())
    assert decode_cursor(encode_cursor(at), FlowRunOrder.START_DESC) == at
    by_name = Keyset(key="run-7", id=uuid.uuid4())
    assert decode_cursor(encode_cursor(by_name), FlowRunOrder.NAME_DESC) == by_name
    # A time cursor on a list sorted by name would compare a name with a time.
    with pytest.raises(Invalid):
        decode_cursor(encode_cursor(at), FlowRunOrder.NAME_ASC)
