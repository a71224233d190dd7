"""Filter bodies of the ``POST …/filter`` and ``…/count`` endpoints.

Each resource filter is a set of optional field filters joined by ``operator`` (``and_`` by
default, or ``or_``). A field filter's attributes are operators: ``any_``, ``not_any_``,
``all_``, ``like_``, ``is_null_``, ``before_``, ``after_``, ``ge_``, ``le_``, ``eq_``,
``startswith_``. The server compiles every filter to a single SQL statement
(``server/queries/filtering.py``) by field and operator name, so adding a field here is
all it takes to make it filterable, as long as the ORM column has the same name.
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any

from pydantic import Field

from flowyard.schemas.base import ActionModel, FilterModel
from flowyard.schemas.states import StateType


class Operator(StrEnum):
    and_ = "and_"
    or_ = "or_"


class FilterSet(FilterModel):
    """A group of field filters joined by ``operator``."""

    operator: Operator = Operator.and_


# --- field filters, by the operators they offer ------------------------------------------


class IdFilter(FilterModel):
    # Some Prefect field filters carry their own ``operator`` (joining their operators);
    # accepted here so that clients dumping every field are not refused.
    operator: Operator = Operator.and_
    any_: list[uuid.UUID] | None = None
    not_any_: list[uuid.UUID] | None = None


class OptionalIdFilter(IdFilter):
    is_null_: bool | None = None


class NameFilter(FilterModel):
    any_: list[str] | None = None
    like_: str | None = None
    not_any_: list[str] | None = None
    # The contract's work-queue name filter takes a list of prefixes (any matches, case
    # aside); one prefix alone is accepted too.
    startswith_: str | list[str] | None = None


class StringFilter(FilterModel):
    operator: Operator = Operator.and_
    any_: list[str] | None = None
    not_any_: list[str] | None = None
    is_null_: bool | None = None
    like_: str | None = None


class TagsFilter(FilterSet):
    all_: list[str] | None = None
    any_: list[str] | None = None
    is_null_: bool | None = None


class TimeFilter(FilterModel):
    before_: dt.datetime | None = None
    after_: dt.datetime | None = None
    is_null_: bool | None = None


class IntFilter(FilterModel):
    ge_: int | None = None
    le_: int | None = None
    eq_: int | None = None


class BoolFilter(FilterModel):
    eq_: bool | None = None


class StateTypeFilter(FilterModel):
    any_: list[StateType] | None = None
    not_any_: list[StateType] | None = None


class StateNameFilter(FilterModel):
    any_: list[str] | None = None
    not_any_: list[str] | None = None


class StateFilter(FilterSet):
    type: StateTypeFilter | None = None
    name: StateNameFilter | None = None


class ExistsFilter(FilterModel):
    exists_: bool | None = None


class TextFilter(FilterModel):
    query: str = Field(max_length=200)


# --- resource filters --------------------------------------------------------------------


class FlowDeploymentFilter(FilterSet):
    """Flows with (``is_null_: false``) or without (``true``) a deployment."""

    is_null_: bool | None = None


class FlowFilter(FilterSet):
    id: IdFilter | None = None
    name: NameFilter | None = None
    tags: TagsFilter | None = None
    deployment: FlowDeploymentFilter | None = None


class CreatedByFilter(FilterSet):
    """Who created a flow run (``created_by.id`` / ``created_by.type``)."""

    id_: list[uuid.UUID] | None = None
    type_: list[str] | None = None
    is_null_: bool | None = None


class FlowRunFilter(FilterSet):
    id: IdFilter | None = None
    name: NameFilter | None = None
    tags: TagsFilter | None = None
    deployment_id: OptionalIdFilter | None = None
    work_queue_name: StringFilter | None = None
    state: StateFilter | None = None
    flow_version: StringFilter | None = None
    start_time: TimeFilter | None = None
    end_time: TimeFilter | None = None
    expected_start_time: TimeFilter | None = None
    next_scheduled_start_time: TimeFilter | None = None
    parent_flow_run_id: IdFilter | None = None
    parent_task_run_id: OptionalIdFilter | None = None
    idempotency_key: StringFilter | None = None
    flow_id: IdFilter | None = None
    created_by: CreatedByFilter | None = None


class TaskRunFilter(FilterSet):
    id: IdFilter | None = None
    name: NameFilter | None = None
    tags: TagsFilter | None = None
    state: StateFilter | None = None
    start_time: TimeFilter | None = None
    end_time: TimeFilter | None = None
    expected_start_time: TimeFilter | None = None
    subflow_runs: ExistsFilter | None = None
    flow_run_id: OptionalIdFilter | None = None


class DeploymentOrFlowNameFilter(FilterModel):
    """A case-insensitive substring of the deployment's name or of its flow's name."""

    like_: str | None = None


class DeploymentConcurrencyLimitFilter(FilterModel):
    """Deprecated in the contract, which accepts it and ignores it; so does Flowyard."""

    ge_: int | None = None
    le_: int | None = None
    is_null_: bool | None = None


class DeploymentFilter(FilterSet):
    """The deployments filter, the same object wherever it appears (``/deployments/filter``
    and beside the flow-run, task-run and flow filters)."""

    id: IdFilter | None = None
    name: NameFilter | None = None
    flow_or_deployment_name: DeploymentOrFlowNameFilter | None = None
    paused: BoolFilter | None = None
    tags: TagsFilter | None = None
    work_queue_name: StringFilter | None = None
    concurrency_limit: DeploymentConcurrencyLimitFilter | None = None


class WorkPoolTypeFilter(FilterModel):
    any_: list[str] | None = None


class WorkPoolFilter(FilterSet):
    id: IdFilter | None = None
    name: NameFilter | None = None
    type: WorkPoolTypeFilter | None = None


class WorkQueueFilter(FilterSet):
    id: IdFilter | None = None
    name: NameFilter | None = None


class LogFilter(FilterSet):
    level: IntFilter | None = None
    timestamp: TimeFilter | None = None
    flow_run_id: IdFilter | None = None
    task_run_id: OptionalIdFilter | None = None
    text: TextFilter | None = None


class VariableFilter(FilterSet):
    id: IdFilter | None = None
    name: NameFilter | None = None
    tags: TagsFilter | None = None


class ArtifactKeyFilter(StringFilter):
    exists_: bool | None = None


class ArtifactFilter(FilterSet):
    id: IdFilter | None = None
    key: ArtifactKeyFilter | None = None
    flow_run_id: IdFilter | None = None
    task_run_id: IdFilter | None = None
    type: StringFilter | None = None


class ArtifactCollectionFilter(FilterSet):
    """Filters the newest artifact of each key (``/artifacts/latest/...``)."""

    latest_id: IdFilter | None = None
    key: ArtifactKeyFilter | None = None
    flow_run_id: IdFilter | None = None
    task_run_id: IdFilter | None = None
    type: StringFilter | None = None


class ConcurrencyLimitFilter(FilterSet):
    id: IdFilter | None = None
    name: NameFilter | None = None


# --- events ------------------------------------------------------------------------------


def _one_day_ago() -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(days=1)


def _far_future() -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(days=365)


class EventOccurredFilter(FilterModel):
    since: dt.datetime = Field(default_factory=_one_day_ago)
    until: dt.datetime = Field(default_factory=_far_future)


class EventNameFilter(FilterModel):
    prefix: list[str] | None = None
    exclude_prefix: list[str] | None = None
    name: list[str] | None = None
    exclude_name: list[str] | None = None


class EventResourceFilter(FilterModel):
    id: list[str] | None = None
    id_prefix: list[str] | None = None
    labels: dict[str, Any] | None = None
    distinct: bool = False


class EventAnyResourceFilter(FilterModel):
    id: list[str] | None = None
    id_prefix: list[str] | None = None
    labels: dict[str, Any] | None = None


class EventRelatedFilter(FilterModel):
    id: list[str] | None = None
    role: list[str] | None = None
    resources_in_roles: list[tuple[str, str]] | None = None
    labels: dict[str, Any] | None = None


class EventIDFilter(FilterModel):
    id: list[uuid.UUID] | None = None


class EventOrder(StrEnum):
    ASC = "ASC"
    DESC = "DESC"


class EventFilter(FilterModel):
    """Which events ``/events/filter`` returns; every part given must match."""

    occurred: EventOccurredFilter = Field(default_factory=EventOccurredFilter)
    event: EventNameFilter | None = None
    resource: EventResourceFilter | None = None
    related: EventRelatedFilter | list[EventRelatedFilter] | None = None
    any_resource: EventAnyResourceFilter | list[EventAnyResourceFilter] | None = None
    id: EventIDFilter = Field(default_factory=EventIDFilter)
    text: TextFilter | None = None
    order: EventOrder = EventOrder.DESC


# --- request bodies ----------------------------------------------------------------------


class Page(ActionModel):
    limit: int | None = Field(default=None, ge=0)
    offset: int = Field(default=0, ge=0)


class RunFilters(FilterModel):
    """The side-by-side filters that flow-run and task-run queries accept (all ANDed)."""

    flows: FlowFilter | None = None
    flow_runs: FlowRunFilter | None = None
    task_runs: TaskRunFilter | None = None
    deployments: DeploymentFilter | None = None
    work_pools: WorkPoolFilter | None = None
    work_pool_queues: WorkQueueFilter | None = None
    # The name the history endpoints use for the same filter.
    work_queues: WorkQueueFilter | None = None


def filter_fields(model: ActionModel) -> dict[str, Any]:
    """The field filters that were actually set (operator excluded)."""
    return {
        name: getattr(model, name)
        for name in model.model_fields_set
        if name != "operator" and getattr(model, name) is not None
    }

