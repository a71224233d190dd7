"""The flow-run list's filter, as it lives in the URL (bookmarkable; the back button
restores it) and as it becomes the operations' ``RunFilters``.

Query parameters (every one optional, repeatable where plural):
``range`` (``1h``, ``24h``, ``7d``, ``30d``, ``all`` or ``custom`` with ``start``/``end``),
``state`` (a state type, or ``LATE``), ``tag``, ``flow`` (id), ``deployment`` (id),
``pool`` (name), ``q`` (name contains), ``sort``, ``after`` (the keyset cursor), ``limit``.
A malformed value is a 422 page saying which, never a 500.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from flowyard.schemas.filters import (
    DeploymentFilter,
    FlowFilter,
    FlowRunFilter,
    IdFilter,
    NameFilter,
    Operator,
    RunFilters,
    StateFilter,
    StateNameFilter,
    StateTypeFilter,
    TagsFilter,
    TimeFilter,
    WorkPoolFilter,
)
from flowyard.schemas.states import StateType
from flowyard.server.errors import Invalid
from flowyard.server.operations.flow_run_pages import FlowRunOrder, Keyset

RANGES: dict[str, tuple[str, dt.timedelta | None]] = {
    "1h": ("Last hour", dt.timedelta(hours=1)),
    "24h": ("Last day", dt.timedelta(days=1)),
    "7d": ("Last 7 days", dt.timedelta(days=7)),
    "30d": ("Last 30 days", dt.timedelta(days=30)),
    "all": ("Any time", None),
}
CUSTOM = "custom"
LATE = "LATE"
STATE_CHOICES = [s.value for s in StateType] + [LATE]
SORT_LABELS: dict[FlowRunOrder, str] = {
    FlowRunOrder.START_DESC: "Start time, newest first",
    FlowRunOrder.START_ASC: "Start time, oldest first",
    FlowRunOrder.EXPECTED_START_DESC: "Expected start, latest first",
    FlowRunOrder.EXPECTED_START_ASC: "Expected start, earliest first",
    FlowRunOrder.NAME_ASC: "Name, A to Z",
    FlowRunOrder.NAME_DESC: "Name, Z to A",
    FlowRunOrder.DURATION_DESC: "Duration, longest first",
    FlowRunOrder.DURATION_ASC: "Duration, shortest first",
}
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_TEXT = 200
MAX_VALUES = 50


@dataclass(slots=True)
class RunListQuery:
    range: str = "7d"
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    states: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    flows: list[uuid.UUID] = field(default_factory=list)
    deployments: list[uuid.UUID] = field(default_factory=list)
    pools: list[str] = field(default_factory=list)
    search: str = ""
    sort: FlowRunOrder = FlowRunOrder.START_DESC
    after: Keyset | None = None
    limit: int = DEFAULT_LIMIT

    @classmethod
    def parse(cls, items: list[tuple[str, str]], default_range: str = "7d") -> RunListQuery:
        values: dict[str, list[str]] = {}
        for key, value in items:
            values.setdefault(key, []).append(value)
        if any(len(v) > MAX_VALUES for v in values.values()):
            raise Invalid(f"At most {MAX_VALUES} values per filter.")

        def one(key: str) -> str:
            found = [v for v in values.get(key, []) if v.strip()]
            return found[-1].strip() if found else ""

        query = cls(range=one("range") or default_range)
        if query.range not in RANGES and query.range != CUSTOM:
            raise Invalid(f"range: one of {', '.join([*RANGES, CUSTOM])}, not {query.range!r}.")
        if query.range == CUSTOM:
            query.start = _time("start", one("start"))
            query.end = _time("end", one("end"))
            if query.start and query.end and query.end <= query.start:
                raise Invalid("end: must be after start.")
        for state in values.get("state", []):
            if state.upper() not in STATE_CHOICES:
                raise Invalid(f"state: one of {', '.join(STATE_CHOICES)}, not {state!r}.")
            query.states.append(state.upper())
        # One field may hold several tags, comma-separated (the form's single input).
        query.tags = _texts("tag", [t for v in values.get("tag", []) for t in v.split(",")])
        query.flows = _ids("flow", values.get("flow", []))
        query.deployments = _ids("deployment", values.get("deployment", []))
        query.pools = _texts("pool", values.get("pool", []))
        query.search = one("q")[:MAX_TEXT]
        if sort := one("sort"):
            try:
                query.sort = FlowRunOrder(sort)
            except ValueError:
                allowed = ", ".join(o.value for o in FlowRunOrder)
                raise Invalid(f"sort: one of {allowed}, not {sort!r}.") from None
        if after := one("after"):
            query.after = decode_cursor(after, query.sort)
        if limit := one("limit"):
            if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
                raise Invalid(f"limit: a whole number from 1 to {MAX_LIMIT}, not {limit!r}.")
            query.limit = int(limit)
        return query

    def window(self, now: dt.datetime) -> tuple[dt.datetime | None, dt.datetime | None]:
        """The expected-start window: the preset ranges reach into the future (what is
        scheduled next belongs with what just ran); a custom one is exactly as given."""
        if self.range == CUSTOM:
            return self.start, self.end
        span = RANGES[self.range][1]
        return (now - span if span is not None else None), None

    def run_filters(self, now: dt.datetime) -> RunFilters:
        start, end = self.window(now)
        runs: dict[str, Any] = {}
        if start is not None or end is not None:
            runs["expected_start_time"] = TimeFilter(after_=start, before_=end)
        if self.states:
            types = [StateType(s) for s in self.states if s != LATE]
            runs["state"] = StateFilter(
                operator=Operator.or_,
                type=StateTypeFilter(any_=types) if types else None,
                name=StateNameFilter(any_=["Late"]) if LATE in self.states else None,
            )
        if self.tags:
            runs["tags"] = TagsFilter(all_=self.tags)
        if self.search:
            runs["name"] = NameFilter(like_=self.search)
        return RunFilters(
            flow_runs=FlowRunFilter(**runs) if runs else None,
            flows=FlowFilter(id=IdFilter(any_=self.flows)) if self.flows else None,
            deployments=(
                DeploymentFilter(id=IdFilter(any_=self.deployments)) if self.deployments else None
            ),
            work_pools=WorkPoolFilter(name=NameFilter(any_=self.pools)) if self.pools else None,
        )

    def params(self, *, after: Keyset | None = None, **changes: Any) -> list[tuple[str, str]]:
        """This filter as URL parameters (``changes`` replace fields; no cursor unless
        ``after``): the links of the page, the next page and the dashboard's numbers."""
        merged = {
            "range": self.range, "start": self.start, "end": self.end, "state": self.states,
            "tag": self.tags, "flow": self.flows, "deployment": self.deployments,
            "pool": self.pools, "q": self.search, "sort": self.sort, **changes,
        }  # fmt: skip
        out: list[tuple[str, str]] = []
        for key, value in merged.items():
            if key in ("start", "end") and merged["range"] != CUSTOM:
                continue
            if key == "sort" and value == FlowRunOrder.START_DESC:
                continue
            for item in value if isinstance(value, list) else [value]:
                if item is None or item == "":
                    continue
                text = item.isoformat() if isinstance(item, dt.datetime) else str(item)
                out.append((key, text))
        if after is not None:
            out.append(("after", encode_cursor(after)))
        if self.limit != DEFAULT_LIMIT:
            out.append(("limit", str(self.limit)))
        return out


def _time(name: str, text: str) -> dt.datetime | None:
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(f"{name}: a date and time like 2026-01-31T14:00, not {text!r}.") from None
    # The form's datetime-local has no zone: the page shows UTC, so it means UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _ids(name: str, texts: list[str]) -> list[uuid.UUID]:
    ids = []
    for text in texts:
        if not text.strip():
            continue
        try:
            ids.append(uuid.UUID(text.strip()))
        except ValueError:
            raise Invalid(f"{name}: not an id: {text!r}.") from None
    return ids


def _texts(name: str, texts: list[str]) -> list[str]:
    out = []
    for text in texts:
        text = text.strip()
        if len(text) > MAX_TEXT:
            raise Invalid(f"{name}: at most {MAX_TEXT} characters.")
        if text:
            out.append(text)
    return out


def encode_cursor(keyset: Keyset) -> str:
    key = keyset.key
    typed: list[Any] = (
        ["t", key.isoformat()] if isinstance(key, dt.datetime) else
        ["f", key] if isinstance(key, int | float) else ["s", str(key)]
    )  # fmt: skip
    raw = json.dumps([*typed, str(keyset.id)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str, sort: FlowRunOrder) -> Keyset:
    """The cursor of a next-page link; one edited by hand or from another sort is refused."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        kind, key, ident = json.loads(raw)
        value: dt.datetime | str | float = (
            dt.datetime.fromisoformat(key) if kind == "t" else
            float(key) if kind == "f" else str(key)
        )  # fmt: skip
        expected = {"start": "t", "expected": "t", "name": "s", "duration": "f"}
        if expected[sort.value.split("_")[0]] != kind:
            raise ValueError(kind)
        return Keyset(key=value, id=uuid.UUID(ident))
    except (ValueError, TypeError, KeyError):
        raise Invalid("after: not a page cursor of this list; start from the first page.") from None
