"""Task-run reports: what a client that orchestrates its own task runs tells the server.

A Flowyard extension of the API. The official client reports each new task-run state as a
``prefect.task-run.<State>`` event: about 1.5 KB of JSON repeating the state in resource
labels, the related flow and flow run, the previous state and a snapshot of the run. Our
SDK sends the same facts as one flat report per run (``POST /task_runs/reports``), a few
hundred bytes that validate in a few microseconds; the server records a report exactly as
it records the equivalent event: the same ``task_run`` and ``task_run_state`` rows.

A ``TypedDict`` rather than a model: validation then yields plain dicts, with no model
instance per report, and a client can build reports as dicts without importing pydantic.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal, NotRequired

from pydantic import ConfigDict, Field, TypeAdapter
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from flowyard.schemas.states import StateType

# The widths of the columns these fields land in: longer values are refused with a 422
# naming the field rather than failing the whole batch in the database.
Short = Annotated[str, Field(max_length=255)]
# An INTEGER column: a wider count is a 422, not an overflow in the INSERT.
Count = Annotated[int, Field(ge=0, le=2**31 - 1)]


class PassedState(TypedDict):
    """A state a batch coalesced away. No id: its event gets one only if someone listens
    (making one per task run on the client was a tenth of the hot path)."""

    type: StateType
    name: NotRequired[Short | None]
    timestamp: dt.datetime  # JSON: ISO 8601 or Unix seconds; embedded: Unix seconds too


class TaskInputRef(TypedDict):
    """One upstream input, as ``core.TaskRunInput`` reads it back: a report whose inputs
    have another shape is refused here (422), not stored to fail every later read."""

    input_type: Literal["task_run", "flow_run", "parameter", "constant"]
    id: NotRequired[uuid.UUID | None]
    name: NotRequired[str | None]
    type: NotRequired[str | None]


class TaskRunReport(TypedDict):
    """One task run after a state change: the run's snapshot and the state it entered.

    Within a batch the latest state of each run wins, and a stored run is never overwritten
    by an older state than its own. Optional fields take the defaults of a new task run.
    """

    id: uuid.UUID  # the task run
    flow_run_id: uuid.UUID | None
    name: str  # truncated to 255 characters: display only, never a reason to refuse
    task_key: Short
    dynamic_key: Short
    state_id: uuid.UUID
    state_type: StateType
    state_name: NotRequired[Short | None]  # default: the type's usual name
    state_timestamp: dt.datetime
    state_message: NotRequired[str | None]
    state_details: NotRequired[dict[str, Any]]
    state_data: NotRequired[Any]
    run_count: NotRequired[Count]
    flow_run_run_count: NotRequired[Count]
    expected_start_time: NotRequired[dt.datetime | None]
    start_time: NotRequired[dt.datetime | None]
    end_time: NotRequired[dt.datetime | None]
    total_run_time: NotRequired[float]
    empirical_policy: NotRequired[dict[str, Any]]
    tags: NotRequired[list[str]]
    labels: NotRequired[dict[str, Any]]
    task_inputs: NotRequired[dict[str, list[TaskInputRef]]]
    task_version: NotRequired[Short | None]
    cache_key: NotRequired[str | None]
    # States the run passed through since its last report (oldest first), which the batch
    # coalesced away: each still becomes its ``prefect.task-run.<State>`` event.
    passed_states: NotRequired[list[PassedState]]
    cache_expiration: NotRequired[dt.datetime | None]


# Built on first use: a client that sends no report (a script's flow without tasks, any CLI
# command) does not pay the ~20 ms this validator takes to build.
TASK_RUN_REPORTS: TypeAdapter[list[TaskRunReport]] = TypeAdapter(
    list[TaskRunReport], config=ConfigDict(defer_build=True)
)
