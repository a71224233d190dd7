"""Artifacts: markdown, tables and links that a run publishes for people to read.

Created inside a flow or task, an artifact is attached to that run (its flow run and,
inside a task, its task run); outside any run it stands alone. Giving a ``key``
(lowercase letters, digits and dashes) makes it the latest version of a named artifact
whose history the UI shows. Each function returns the new artifact's id; the ``a``-
prefixed twins do the same from async code without blocking the event loop.

The stored shapes match the official client's, so either UI renders them: markdown is
the text itself, a table is its JSON text, a link is a markdown link.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from flowyard.sdk._client_calls import call_async, sync_client


def _run_ids() -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """(flow_run_id, task_run_id) of the calling run, from the run context."""
    from flowyard.sdk.context import FLOW_RUN, TASK_RUN

    task_ctx = TASK_RUN.get()
    if task_ctx is not None:
        return task_ctx.task_run.flow_run_id, task_ctx.task_run.id
    flow_ctx = FLOW_RUN.get()
    if flow_ctx is not None:
        return flow_ctx.flow_run.id, None
    return None, None


def _fields(kind: str, data: Any, key: str | None, description: str | None) -> dict[str, Any]:
    flow_run_id, task_run_id = _run_ids()
    return {
        "key": key,
        "type": kind,
        "description": description,
        "data": data,
        "flow_run_id": flow_run_id,
        "task_run_id": task_run_id,
    }


def _create(fields: dict[str, Any]) -> uuid.UUID:
    return sync_client().create_artifact(**fields).id


async def _acreate(fields: dict[str, Any]) -> uuid.UUID:
    artifact = await call_async(lambda client: client.create_artifact(**fields))
    return artifact.id


def _markdown_fields(markdown: str, key: str | None, description: str | None) -> dict[str, Any]:
    if not isinstance(markdown, str):
        raise TypeError(f"markdown must be a string, not {type(markdown).__name__}")
    return _fields("markdown", markdown, key, description)


def create_markdown_artifact(
    markdown: str, key: str | None = None, description: str | None = None
) -> uuid.UUID:
    """Publish a markdown document; returns the artifact's id.

    Args:
        markdown: the text.
        key: names the artifact (lowercase letters, digits, dashes) so versions form a
            history; None for a one-off.
        description: a markdown description shown beside it.
    """
    return _create(_markdown_fields(markdown, key, description))


async def acreate_markdown_artifact(
    markdown: str, key: str | None = None, description: str | None = None
) -> uuid.UUID:
    """Async :func:`create_markdown_artifact`."""
    return await _acreate(_markdown_fields(markdown, key, description))


def _table_data(table: Any) -> str:
    """The table as JSON text, NaN and infinities written as null (JSON has neither)."""
    if isinstance(table, Mapping):
        columns = table.values()
        if not all(isinstance(c, Sequence) and not isinstance(c, str) for c in columns):
            raise TypeError("A dict table maps each column name to a list of values.")
        rows: Any = {str(name): [_clean(v) for v in col] for name, col in table.items()}
    elif isinstance(table, Sequence) and not isinstance(table, str | bytes):
        if all(isinstance(row, Mapping) for row in table):
            rows = [{str(k): _clean(v) for k, v in row.items()} for row in table]
        elif all(isinstance(row, Sequence) and not isinstance(row, str) for row in table):
            rows = [[_clean(v) for v in row] for row in table]
        else:
            raise TypeError("A list table holds rows: all dicts, or all lists.")
    else:
        raise TypeError(
            f"A table is a list of dicts, a dict of lists or a list of lists, "
            f"not {type(table).__name__}"
        )
    from flowyard.sdk.serializers import json_default

    return json.dumps(rows, default=json_default)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def create_table_artifact(
    table: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]] | Sequence[Sequence[Any]],
    key: str | None = None,
    description: str | None = None,
) -> uuid.UUID:
    """Publish a table; returns the artifact's id.

    Args:
        table: rows as a list of dicts (``[{"name": "a", "n": 1}, ...]``), columns as a
            dict of lists (``{"name": ["a", "b"], "n": [1, 2]}``), or a list of lists.
        key: names the artifact so versions form a history; None for a one-off.
        description: a markdown description shown beside it.

    Raises:
        TypeError: ``table`` has none of those shapes.
    """
    return _create(_fields("table", _table_data(table), key, description))


async def acreate_table_artifact(
    table: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]] | Sequence[Sequence[Any]],
    key: str | None = None,
    description: str | None = None,
) -> uuid.UUID:
    """Async :func:`create_table_artifact`."""
    return await _acreate(_fields("table", _table_data(table), key, description))


def _link_fields(
    link: str, link_text: str | None, key: str | None, description: str | None
) -> dict[str, Any]:
    if not isinstance(link, str) or not link:
        raise TypeError("link must be a non-empty string (a URL)")
    # Stored as a markdown link, the way the official client stores link artifacts.
    return _fields("markdown", f"[{link_text or link}]({link})", key, description)


def create_link_artifact(
    link: str,
    link_text: str | None = None,
    key: str | None = None,
    description: str | None = None,
) -> uuid.UUID:
    """Publish a link (for example to a report or a dashboard); returns the artifact's id.

    Args:
        link: the URL.
        link_text: the text shown for it (default: the URL).
        key: names the artifact so versions form a history; None for a one-off.
        description: a markdown description shown beside it.
    """
    return _create(_link_fields(link, link_text, key, description))


async def acreate_link_artifact(
    link: str,
    link_text: str | None = None,
    key: str | None = None,
    description: str | None = None,
) -> uuid.UUID:
    """Async :func:`create_link_artifact`."""
    return await _acreate(_link_fields(link, link_text, key, description))
