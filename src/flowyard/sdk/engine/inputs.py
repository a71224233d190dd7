"""Task arguments that are futures: find them, record them, wait for them.

A future passed as an argument (directly or inside a list, tuple, set or dict) makes the
task wait for that upstream run and receive its value. The upstream runs are recorded as
the run's ``task_inputs`` (``{"x": [{"input_type": "task_run", "id": ...}]}``), which is
what the UI draws the dependency graph from.
"""

from __future__ import annotations

from typing import Any

from flowyard.exceptions import UpstreamTaskError
from flowyard.sdk.futures import TaskFuture
from flowyard.sdk.states import State
from flowyard.sdk.tasks import allow_failure, unmapped

# Values that can never hold a future: skipped without further checks (the common case).
_LEAVES = frozenset({int, float, str, bytes, bool, type(None), complex})
_CONTAINERS = (list, tuple, set, frozenset)
NO_INPUTS: dict[str, list[dict[str, Any]]] = {}


def find_upstreams(value: Any, found: list[Any]) -> None:
    """Append every future, state and ``allow_failure`` wrapper inside ``value``."""
    kind = type(value)
    if kind in _LEAVES:
        return
    if kind is TaskFuture or kind is allow_failure or kind is State:
        found.append(value)
    elif kind is unmapped:
        find_upstreams(value.value, found)
    elif kind in _CONTAINERS or isinstance(value, list):  # a TaskFutureList too
        for item in value:
            if type(item) not in _LEAVES:
                find_upstreams(item, found)
    elif kind is dict:
        for item in value.values():
            if type(item) not in _LEAVES:
                find_upstreams(item, found)
    elif isinstance(value, TaskFuture | State):
        found.append(value)


def task_inputs(
    parameters: dict[str, Any], wait_for: Any, parent_id: Any
) -> tuple[dict[str, list[dict[str, Any]]], bool]:
    """The wire ``task_inputs`` of a call, and whether any argument holds a future."""
    inputs: dict[str, list[dict[str, Any]]] | None = None
    has_futures = False
    for name, value in parameters.items():
        if type(value) in _LEAVES:
            continue
        found: list[Any] = []
        find_upstreams(value, found)
        if not found:
            continue
        has_futures = True
        ids = _run_refs(found)
        if ids:
            inputs = inputs if inputs is not None else {}
            inputs[name] = ids
    if wait_for:
        found = []
        find_upstreams(list(wait_for), found)
        inputs = inputs if inputs is not None else {}
        inputs["wait_for"] = _run_refs(found)
    if parent_id is not None:
        inputs = inputs if inputs is not None else {}
        inputs["__parents__"] = [{"input_type": "task_run", "id": str(parent_id)}]
    return (inputs if inputs is not None else NO_INPUTS), has_futures


def _run_refs(found: list[Any]) -> list[dict[str, Any]]:
    refs = []
    seen = set()
    for item in found:
        future = item.value if isinstance(item, allow_failure) else item
        if isinstance(future, TaskFuture) and future.task_run.id not in seen:
            seen.add(future.task_run.id)
            refs.append({"input_type": "task_run", "id": str(future.task_run.id)})
    return refs


def wait_for_all(wait_for: Any) -> None:
    """Wait for the runs in ``wait_for``; raise if one of them did not complete."""
    found: list[Any] = []
    find_upstreams(list(wait_for), found)
    for item in found:
        _value_of(item)


def resolve(value: Any) -> Any:
    """``value`` with futures and states replaced by their results (waiting as needed).

    Raises:
        UpstreamTaskError: an upstream run did not complete (unless wrapped in
            :class:`~flowyard.sdk.tasks.allow_failure`).
    """
    kind = type(value)
    if kind in _LEAVES:
        return value
    if kind is TaskFuture or kind is State or kind is allow_failure:
        return _value_of(value)
    if kind is unmapped:
        return resolve(value.value)
    if kind in _CONTAINERS:
        return kind(resolve(v) for v in value)
    if isinstance(value, list):  # a TaskFutureList: its values, as a plain list
        return [resolve(v) for v in value]
    if kind is dict:
        return {k: resolve(v) for k, v in value.items()}
    if isinstance(value, TaskFuture | State):
        return _value_of(value)
    return value


def _value_of(item: Any) -> Any:
    tolerate = isinstance(item, allow_failure)
    if tolerate:
        item = item.value
        if not isinstance(item, TaskFuture | State):
            return resolve(item)
    if isinstance(item, TaskFuture):
        item.wait()
        state = item.state
        name = item.task_run.name
    else:
        state = item
        name = state.name
    if state.is_completed():
        return state.data
    if tolerate:
        return state.exception() or state.data
    raise UpstreamTaskError(
        f"Upstream task run {name!r} did not reach a 'COMPLETED' state: {state!r}."
    )
