"""Calls every public method of the official ``prefect==3.9.1`` ``PrefectClient`` and
``SyncPrefectClient`` against the server at ``PREFECT_API_URL``; run by
``test_official_client_methods.py`` in the official client's own venv (it imports
``prefect``, never ``flowyard``).

Each method is called with its default arguments, and every method that takes one of the
contract's filter objects is called again with that object's every field filled
(:func:`full`, recursively) and once per value of its sort. A method is in :data:`CALLS`
(the scenario calls it) or in :data:`NOT_SERVED` (with the reason); the report lists the
calls that failed, the methods in neither list (a newer client's) and the not-served
methods that now answer (to be moved into the scenario).

Usage: ``python official_client_methods.py REPORT.json``
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import inspect
import json
import sys
import traceback
import types
import typing
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from prefect import flow, task
from prefect.client.orchestration import PrefectClient, SyncPrefectClient, get_client
from prefect.client.schemas import actions, filters, objects, sorting
from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule, RRuleSchedule
from prefect.events import filters as event_filters
from prefect.events.actions import DoNothing
from prefect.events.schemas.automations import AutomationCore, EventTrigger
from prefect.states import Cancelled, Completed, Paused, Pending, Running, Scheduled
from pydantic import BaseModel, RootModel

# Methods whose route Flowyard does not serve, and why. The scenario still calls each one
# (expecting a failure): one that starts answering must move into the scenario.
NOT_SERVED: dict[str, str] = {
    # Prefect Cloud only: not in the OSS contract.
    "apply_slas_for_deployment": "SLAs are Prefect Cloud's (/slas/...), not in the contract",
    "create_deployment_branch": "deployment branches are Prefect Cloud's, not in the contract",
}

class Failure(Exception):
    """A call that raised: the method, the exception and the server's answer if any."""


def describe(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    text = ""
    if isinstance(response, httpx.Response):
        text = f" -> {response.status_code} {response.text[:600]}"
    last = traceback.extract_tb(exc.__traceback__)[-1:]
    where = f" at {last[0].filename.rsplit('/', 2)[-1]}:{last[0].lineno}" if last else ""
    return f"{type(exc).__name__}: {str(exc)[:600]}{text}{where}"


class Recorder:
    """Wraps a client: every method call is recorded, sync ones run in a thread."""

    def __init__(self, client: Any, label: str, sync: bool) -> None:
        self.client = client
        self.label = label
        self.sync = sync
        self.called: set[str] = set()
        self.failures: list[str] = []
        self.answered_not_served: list[str] = []

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self.client, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            self.called.add(name)
            try:
                if self.sync:
                    result = await asyncio.to_thread(method, *args, **kwargs)
                else:
                    result = method(*args, **kwargs)
                    if inspect.isawaitable(result):
                        result = await result
            except Exception as exc:
                if name not in NOT_SERVED:
                    self.failures.append(f"{self.label}.{name}: {describe(exc)}")
                return None
            if isinstance(result, Exception):  # api_healthcheck returns its error
                self.failures.append(f"{self.label}.{name}: returned {describe(result)}")
            if isinstance(result, httpx.Response) and result.is_error:
                self.failures.append(
                    f"{self.label}.{name}: {result.status_code} {result.text[:600]}"
                )
            if name in NOT_SERVED:
                self.answered_not_served.append(name)
            return result

        return call


# --- every field filled ------------------------------------------------------------------

NOW = dt.datetime.now(dt.UTC)


def example(annotation: Any, depth: int = 0) -> Any:
    """A value of this type, with every field of a model filled."""
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (typing.Union, types.UnionType):
        return example(args[0], depth)
    if origin is typing.Literal:
        return args[0]
    if origin is typing.Annotated:
        return example(args[0], depth)
    if origin in (list, set, frozenset, typing.Sequence):
        return [example(args[0], depth)] if args else []
    if origin is tuple:
        return tuple(example(a, depth) for a in args if a is not Ellipsis)
    if origin is dict:
        return {"prefect.resource.id": "prefect.flow-run.x"} if args else {}
    if isinstance(annotation, type):
        if issubclass(annotation, RootModel):
            root = annotation.model_fields["root"].annotation
            return annotation.model_validate(example(root, depth))
        if issubclass(annotation, BaseModel):
            return full(annotation, depth + 1)
        if issubclass(annotation, enum.Enum):
            return next(iter(annotation))
        if issubclass(annotation, bool):
            return True
        if issubclass(annotation, int):
            return 1
        if issubclass(annotation, float):
            return 1.0
        if issubclass(annotation, str):
            return "x"
        if issubclass(annotation, uuid.UUID):
            return uuid.uuid4()
        if issubclass(annotation, dt.datetime):
            return NOW
    if annotation is Any:
        return "x"
    raise TypeError(f"no example for {annotation!r}")


def full(model: type[BaseModel], depth: int = 0) -> Any:
    """An instance of ``model`` with every field set (recursively)."""
    values = {name: example(field.annotation, depth) for name, field in model.model_fields.items()}
    return model(**values)


def worker_filter() -> filters.WorkerFilter:
    # The client types the status as str; the contract's values are ONLINE and OFFLINE.
    flt = full(filters.WorkerFilter)
    flt.status = filters.WorkerFilterStatus(any_=["ONLINE"], not_any_=["OFFLINE"])
    return flt


def all_filters() -> dict[str, Any]:
    return {
        "flow_filter": full(filters.FlowFilter),
        "flow_run_filter": full(filters.FlowRunFilter),
        "task_run_filter": full(filters.TaskRunFilter),
        "deployment_filter": full(filters.DeploymentFilter),
        "work_pool_filter": full(filters.WorkPoolFilter),
        "work_queue_filter": full(filters.WorkQueueFilter),
    }


# --- the scenario ------------------------------------------------------------------------


@flow(name="methods-flow")
def methods_flow(x: int = 1) -> int:
    return x


@task(name="methods-task", tags=["methods"])
def methods_task(x: int) -> int:
    return x


async def scenario(c: Recorder, tag: str) -> None:
    """Every method, in an order where each finds what it needs. ``tag`` keeps the names of
    the async and sync runs apart."""
    await c.api_healthcheck()
    await c.api_version()
    await c.client_version()
    await c.hello()
    await c.raise_for_api_version_mismatch()
    await c.raise_for_api_version_mismatch_once()
    await c.read_server_default_result_storage()

    # flows
    flow_id = await c.create_flow(methods_flow)
    named_flow_id = await c.create_flow_from_name(f"named-{tag}")
    await c.read_flow(flow_id)
    await c.read_flow_by_name("methods-flow")
    await c.request("GET", "/flows/{id}", path_params={"id": flow_id})
    await c.read_flows()
    await c.read_flows(**all_filters(), limit=5, offset=0)
    for sort in sorting.FlowSort:
        await c.read_flows(sort=sort, limit=2)

    # work pools, queues and workers
    pool = f"pool-{tag}"
    await c.read_worker_metadata()
    await c.create_work_pool(
        actions.WorkPoolCreate(
            name=pool, type="process", description="d", concurrency_limit=5, is_paused=False
        )
    )
    await c.create_work_pool(
        actions.WorkPoolCreate(name=pool, type="process", description="again"), overwrite=True
    )
    await c.create_work_pool(actions.WorkPoolCreate(name=f"plain-{tag}"))
    await c.read_work_pool(pool)
    await c.read_work_pools()
    await c.read_work_pools(limit=5, offset=0, work_pool_filter=full(filters.WorkPoolFilter))
    await c.update_work_pool(
        pool, actions.WorkPoolUpdate(description="changed", concurrency_limit=3, is_paused=False)
    )
    queue = await c.create_work_queue(
        f"queue-{tag}", description="q", is_paused=False, concurrency_limit=2, priority=1,
        work_pool_name=pool,
    )  # fmt: skip
    legacy_queue = await c.create_work_queue(f"legacy-{tag}")
    queue_id = queue.id if queue else uuid.uuid4()
    await c.read_work_queue(queue_id)
    await c.read_work_queue_by_name(f"queue-{tag}", work_pool_name=pool)
    await c.read_work_queue_by_name(f"legacy-{tag}")
    await c.read_work_queues()
    await c.read_work_queues(
        work_pool_name=pool, work_queue_filter=full(filters.WorkQueueFilter), limit=5, offset=0
    )
    await c.update_work_queue(queue_id, description="changed", concurrency_limit=4)
    await c.read_work_queue_status(queue_id)
    await c.match_work_queues(["queue"], work_pool_name=pool)
    await c.match_work_queues(["legacy"])
    await c.send_worker_heartbeat(pool, f"worker-{tag}")
    await c.send_worker_heartbeat(
        pool,
        f"worker-{tag}",
        heartbeat_interval_seconds=30,
        get_worker_id=True,
        worker_metadata=objects.WorkerMetadata(
            integrations=[objects.Integration(name="prefect-x", version="1.0")]
        ),
    )
    await c.read_workers_for_work_pool(pool)
    await c.read_workers_for_work_pool(
        pool, worker_filter=worker_filter(), offset=0, limit=5
    )
    await c.get_scheduled_flow_runs_for_work_pool(pool)
    await c.get_scheduled_flow_runs_for_work_pool(
        pool, work_queue_names=[f"queue-{tag}"], scheduled_before=NOW + dt.timedelta(days=1)
    )
    await c.get_runs_in_work_queue(queue_id)
    await c.read_work_pool_concurrency_status(pool)
    await c.read_work_queue_concurrency_status(queue_id)

    # deployments and schedules
    schedules = [
        actions.DeploymentScheduleCreate(
            schedule=CronSchedule(cron="0 0 * * *", timezone="UTC"), slug="nightly",
            active=True, max_scheduled_runs=2, parameters={"x": 2},
        ),
        actions.DeploymentScheduleCreate(schedule=IntervalSchedule(interval=3600), slug="hourly"),
    ]  # fmt: skip
    deployment_id = await c.create_deployment(
        flow_id, f"dep-{tag}",
        version="1", schedules=schedules, concurrency_limit=2,
        concurrency_options=objects.ConcurrencyOptions(collision_strategy="ENQUEUE"),
        parameters={"x": 1}, description="d", work_queue_name=f"queue-{tag}",
        work_pool_name=pool, tags=["methods"], path=".", entrypoint="flows.py:methods_flow",
        parameter_openapi_schema={"type": "object", "properties": {"x": {"type": "integer"}}},
        paused=False, pull_steps=[{"prefect.deployments.steps.set_working_directory":
                                   {"directory": "/tmp"}}],
        enforce_parameter_schema=True, job_variables={"env": {"A": "1"}},
    )  # fmt: skip
    plain_deployment_id = await c.create_deployment(named_flow_id, f"plain-{tag}")
    deployment = await c.read_deployment(deployment_id)
    if deployment is not None:
        slugs = sorted(s.slug or "" for s in deployment.schedules)
        if slugs != ["hourly", "nightly"]:
            c.failures.append(f"{c.label}: schedule slugs not kept: {slugs}")
    await c.read_deployment(str(deployment_id))
    await c.read_deployment_by_name(f"methods-flow/dep-{tag}")
    await c.read_deployments()
    await c.read_deployments(**all_filters(), limit=5, offset=0)
    for sort in sorting.DeploymentSort:
        await c.read_deployments(sort=sort, limit=2)
    tagged = await c.read_deployments(
        deployment_filter=filters.DeploymentFilter(
            tags=filters.DeploymentFilterTags(all_=["methods"]),
            work_queue_name=filters.DeploymentFilterWorkQueueName(any_=[f"queue-{tag}"]),
            concurrency_limit=filters.DeploymentFilterConcurrencyLimit(ge_=1),
        )
    )
    if tagged is not None and [d.id for d in tagged] != [deployment_id]:
        c.failures.append(f"{c.label}: deployments filter by tags: {tagged}")
    await c.update_deployment(
        deployment_id,
        actions.DeploymentUpdate(
            description="changed",
            schedules=[
                actions.DeploymentScheduleUpdate(
                    schedule=CronSchedule(cron="0 1 * * *"), slug="nightly"
                )
            ],
            tags=["methods", "changed"],
        ),
    )
    await c.pause_deployment(deployment_id)
    await c.resume_deployment(deployment_id)
    await c.set_deployment_paused_state(deployment_id, False)
    created_schedules = await c.create_deployment_schedules(
        deployment_id, [(RRuleSchedule(rrule="FREQ=WEEKLY"), False)], slug="weekly"
    )
    await c.create_deployment_schedules(
        deployment_id,
        [actions.DeploymentScheduleCreate(schedule=CronSchedule(cron="5 5 * * *"), slug="five")],
    )
    await c.read_deployment_schedules(deployment_id)
    if created_schedules:
        await c.update_deployment_schedule(
            deployment_id, created_schedules[0].id, active=True,
            schedule=RRuleSchedule(rrule="FREQ=DAILY"), max_scheduled_runs=3,
            parameters={"x": 4}, slug="daily",
        )  # fmt: skip
        await c.delete_deployment_schedule(deployment_id, created_schedules[0].id)
    await c.get_scheduled_flow_runs_for_deployments([deployment_id])
    await c.get_scheduled_flow_runs_for_deployments(
        [deployment_id], scheduled_before=NOW + dt.timedelta(days=2), limit=5
    )
    await c.delete_resource_owned_automations(f"prefect.deployment.{deployment_id}")

    # flow runs
    run = await c.create_flow_run(methods_flow)
    full_run = await c.create_flow_run(
        methods_flow, name=f"run-{tag}", parameters={"x": 3}, context={"k": "v"},
        tags=["methods"], state=Scheduled(scheduled_time=NOW + dt.timedelta(days=1)),
        work_pool_name=pool,
        work_queue_name=f"queue-{tag}", job_variables={"env": {"B": "2"}},
    )  # fmt: skip
    deployment_run = await c.create_flow_run_from_deployment(deployment_id)
    await c.create_flow_run_from_deployment(
        deployment_id, parameters={"x": 5}, context={"k": "v"},
        state=Scheduled(scheduled_time=NOW + dt.timedelta(hours=1)), name=f"from-dep-{tag}",
        tags=["methods"], idempotency_key=f"once-{tag}", work_queue_name=f"queue-{tag}",
        job_variables={"env": {"C": "3"}}, labels={"team": "data"},
    )  # fmt: skip
    run_id = run.id if run else uuid.uuid4()
    await c.read_flow_run(run_id)
    await c.read_flow_runs()
    await c.read_flow_runs(**all_filters(), limit=5, offset=0)
    for sort in sorting.FlowRunSort:
        await c.read_flow_runs(sort=sort, limit=2)
    await c.count_flow_runs()
    await c.count_flow_runs(**all_filters())
    by_deployment = await c.read_flow_runs(
        deployment_filter=filters.DeploymentFilter(
            tags=filters.DeploymentFilterTags(any_=["methods"]),
            work_queue_name=filters.DeploymentFilterWorkQueueName(any_=[f"queue-{tag}"]),
        )
    )
    found = {r.id for r in by_deployment or []}
    if deployment_run is not None and deployment_run.id not in found:
        c.failures.append(f"{c.label}: flow runs by deployment tags miss the run")
    await c.update_flow_run(run_id)
    # Job variables change only on a deployment's run that has not started (contract).
    scheduled_id = deployment_run.id if deployment_run else uuid.uuid4()
    await c.update_flow_run(
        scheduled_id, flow_version="2", parameters={"x": 9}, name=f"renamed-{tag}",
        tags=["a"], empirical_policy=objects.FlowRunPolicy(retries=1, retry_delay=2),
        infrastructure_pid="123", job_variables={"env": {}},
    )  # fmt: skip
    await c.set_flow_run_name(run_id, f"named-run-{tag}")
    await c.update_flow_run_labels(run_id, {"team": "data", "n": 1})
    result = await c.set_flow_run_state(run_id, Running())
    await c.set_flow_run_state(str(run_id), Running(), force=True)
    if result is not None and result.state is not None:
        await c.read_flow_run_state(result.state.id)
    await c.read_flow_run_states(run_id)
    await c.create_flow_run_input(run_id, "answer", '"42"')
    await c.create_flow_run_input(run_id, "other", '"1"', sender="me")
    await c.read_flow_run_input(run_id, "answer")
    await c.filter_flow_run_input(run_id, "an", 5, set())
    await c.filter_flow_run_input(run_id, "", 5, {"answer"})
    await c.delete_flow_run_input(run_id, "answer")
    await c.set_flow_run_state(run_id, Paused(pause_key="p", timeout_seconds=300), force=True)
    await c.resume_flow_run(run_id)
    await c.resume_flow_run(run_id, run_input={"x": 1})

    # task runs
    task_run = await c.create_task_run(methods_task, run_id, "0")
    await c.create_task_run(
        methods_task, run_id, "1", id=uuid.uuid4(), name=f"task-{tag}", extra_tags=["more"],
        state=Pending(),
        task_inputs={"x": [objects.TaskRunResult(id=task_run.id if task_run else uuid.uuid4())]},
    )  # fmt: skip
    task_run_id = task_run.id if task_run else uuid.uuid4()
    await c.read_task_run(task_run_id)
    await c.read_task_runs()
    await c.read_task_runs(
        flow_filter=full(filters.FlowFilter), flow_run_filter=full(filters.FlowRunFilter),
        task_run_filter=full(filters.TaskRunFilter),
        deployment_filter=full(filters.DeploymentFilter), limit=5, offset=0,
    )  # fmt: skip
    for sort in sorting.TaskRunSort:
        await c.read_task_runs(sort=sort, limit=2)
    await c.set_task_run_state(task_run_id, Running())
    await c.set_task_run_state(task_run_id, Completed(), force=True)
    await c.read_task_run_states(task_run_id)
    await c.set_task_run_name(task_run_id, f"task-renamed-{tag}")

    # logs
    await c.create_logs(
        [
            actions.LogCreate(
                name="methods", level=20, message=f"hello {tag}", timestamp=NOW,
                flow_run_id=run_id, task_run_id=task_run_id,
            ),
            {"name": "methods", "level": 40, "message": "as a dict", "timestamp": NOW.isoformat(),
             "flow_run_id": str(run_id)},
        ]
    )  # fmt: skip
    await c.read_logs()
    await c.read_logs(log_filter=full(filters.LogFilter), limit=5, offset=0)
    for sort in sorting.LogSort:
        await c.read_logs(sort=sort, limit=2)

    # artifacts
    artifact = await c.create_artifact(
        actions.ArtifactCreate(
            key=f"art-{tag}", type="markdown", description="d", data="# hi",
            flow_run_id=run_id, task_run_id=task_run_id,
        )
    )  # fmt: skip
    await c.read_artifacts()
    await c.read_artifacts(
        artifact_filter=full(filters.ArtifactFilter), flow_run_filter=full(filters.FlowRunFilter),
        task_run_filter=full(filters.TaskRunFilter), limit=5, offset=0,
    )  # fmt: skip
    for artifact_sort in sorting.ArtifactSort:
        await c.read_artifacts(sort=artifact_sort, limit=2)
    await c.read_latest_artifacts()
    await c.read_latest_artifacts(
        artifact_filter=full(filters.ArtifactCollectionFilter),
        flow_run_filter=full(filters.FlowRunFilter), task_run_filter=full(filters.TaskRunFilter),
        limit=5, offset=0,
    )  # fmt: skip
    for collection_sort in sorting.ArtifactCollectionSort:
        await c.read_latest_artifacts(sort=collection_sort, limit=2)
    if artifact is not None:
        await c.update_artifact(artifact.id, actions.ArtifactUpdate(data="# changed"))
        await c.delete_artifact(artifact.id)

    # variables
    await c.create_variable(actions.VariableCreate(name=f"var-{tag}", value={"a": 1}, tags=["t"]))
    await c.read_variable_by_name(f"var-{tag}")
    await c.read_variables()
    await c.read_variables(limit=5)
    await c.update_variable(actions.VariableUpdate(name=f"var-{tag}", value=[1, 2], tags=["u"]))
    await c.delete_variable_by_name(f"var-{tag}")

    # tag concurrency limits (v1)
    limit_tag = f"tag-{tag}"
    await c.create_concurrency_limit(limit_tag, 2)
    await c.read_concurrency_limit_by_tag(limit_tag)
    await c.read_concurrency_limits(limit=5, offset=0)
    await c.increment_v1_concurrency_slots([limit_tag], task_run_id)
    await c.decrement_v1_concurrency_slots([limit_tag], task_run_id, 1.5)
    await c.reset_concurrency_limit_by_tag(limit_tag)
    await c.reset_concurrency_limit_by_tag(limit_tag, slot_override=[task_run_id])
    await c.delete_concurrency_limit_by_tag(limit_tag)

    # global concurrency limits (v2)
    gcl = f"gcl-{tag}"
    await c.create_global_concurrency_limit(
        actions.GlobalConcurrencyLimitCreate(name=gcl, limit=3, active=True, active_slots=0,
                                             slot_decay_per_second=0.0)
    )  # fmt: skip
    await c.read_global_concurrency_limit_by_name(gcl)
    await c.read_global_concurrency_limits()
    await c.read_global_concurrency_limits(limit=5, offset=0)
    await c.update_global_concurrency_limit(
        gcl, actions.GlobalConcurrencyLimitUpdate(limit=4, active=True)
    )
    await c.upsert_global_concurrency_limit_by_name(gcl, 5)
    await c.upsert_global_concurrency_limit_by_name(f"{gcl}-new", 2, slot_decay_per_second=0.5)
    await c.increment_concurrency_slots([gcl], 1, "concurrency")
    await c.release_concurrency_slots([gcl], 1, 0.5)
    leased = await c.increment_concurrency_slots_with_lease(
        [gcl], 1, "concurrency", 60.0, holder=objects.ConcurrencyLeaseHolder(
            type="task_run", id=task_run_id)
    )  # fmt: skip
    await c.increment_concurrency_slots_with_lease([f"{gcl}-new"], 1, "rate_limit", 60.0)
    lease_id = leased.json()["lease_id"] if leased is not None else uuid.uuid4()
    await c.renew_concurrency_lease(lease_id, 120.0)
    await c.release_concurrency_slots_with_lease(lease_id)
    await c.delete_global_concurrency_limit_by_name(gcl)
    await c.delete_global_concurrency_limit_by_name(f"{gcl}-new")

    # blocks
    block_type = await c.create_block_type(
        actions.BlockTypeCreate(
            name=f"Methods {tag}", slug=f"methods-{tag}", description="d",
            documentation_url="https://example.com/docs", code_example="x",
        )
    )  # fmt: skip
    await c.read_block_type_by_slug(f"methods-{tag}")
    await c.read_block_types()
    block_type_id = block_type.id if block_type else uuid.uuid4()
    await c.update_block_type(block_type_id, actions.BlockTypeUpdate(description="changed"))
    fields = {
        "title": f"Methods{tag}", "type": "object",
        "properties": {"value": {"title": "Value", "type": "string"}}, "required": ["value"],
        "block_type_slug": f"methods-{tag}", "secret_fields": [], "block_schema_references": {},
    }  # fmt: skip
    schema = await c.create_block_schema(
        actions.BlockSchemaCreate(
            fields=fields, block_type_id=block_type_id, capabilities=["read-path", "write-path"],
            version="1",
        )
    )
    await c.read_block_schemas()
    if schema is not None:
        await c.read_block_schema_by_checksum(schema.checksum)
        await c.read_block_schema_by_checksum(schema.checksum, version="1")
    await c.get_most_recent_block_schema_for_block_type(block_type_id)
    document = await c.create_block_document(
        actions.BlockDocumentCreate(
            name=f"doc-{tag}", data={"value": "v"},
            block_schema_id=schema.id if schema else uuid.uuid4(), block_type_id=block_type_id,
        )
    )  # fmt: skip
    document_id = document.id if document else uuid.uuid4()
    await c.read_block_document(document_id)
    await c.read_block_document(document_id, include_secrets=False)
    await c.read_block_document_by_name(f"doc-{tag}", f"methods-{tag}")
    await c.read_block_documents()
    await c.read_block_documents(block_schema_type="x", offset=0, limit=5, include_secrets=False)
    await c.read_block_documents_by_type(f"methods-{tag}")
    await c.read_block_documents_by_type(f"methods-{tag}", offset=0, limit=5)
    await c.update_block_document(
        document_id, actions.BlockDocumentUpdate(data={"value": "w"}, merge_existing_data=True)
    )
    await c.update_server_default_result_storage(document_id)
    await c.read_server_default_result_storage()
    await c.clear_server_default_result_storage()
    await c.delete_block_document(document_id)
    await c.delete_block_type(block_type_id)

    # events
    page = await c.read_events()
    await c.read_events(filter=full(event_filters.EventFilter), limit=5)
    several = await c.read_events(limit=1)
    next_page = several.next_page if several is not None else None
    if next_page is not None:
        await c.read_events_page(next_page)
    elif page is not None and page.total > 1:
        c.failures.append(f"{c.label}: read_events(limit=1) of {page.total} had no next page")
    else:
        await c.read_events_page(httpx.URL(str(c.client.api_url)).join("events/filter/next"))

    # automations
    automation = AutomationCore(
        name=f"auto-{tag}",
        trigger=EventTrigger(expect={"prefect.flow-run.Failed"}, posture="Reactive", threshold=1),
        actions=[DoNothing()],
    )
    automation_id = await c.create_automation(automation)
    if automation_id is not None:
        await c.read_automation(automation_id)
        await c.read_automations()
        await c.read_automations_by_name(f"auto-{tag}")
        await c.find_automation(f"auto-{tag}")
        await c.read_resource_related_automations(f"prefect.deployment.{deployment_id}")
        # As a user does: change the automation read from the server (a model the client
        # built itself is sent without its actions' types).
        current = await c.read_automation(automation_id)
        if current is not None:
            fields = current.model_dump(include=set(AutomationCore.model_fields))
            renamed = AutomationCore.model_validate({**fields, "name": f"auto-{tag}-renamed"})
            await c.update_automation(automation_id, renamed)
        await c.pause_automation(automation_id)
        await c.resume_automation(automation_id)
        await c.delete_automation(automation_id)
    await c.apply_slas_for_deployment(deployment_id, [])
    await c.create_deployment_branch(deployment_id, "branch")

    # deletes last
    await c.set_flow_run_state(run_id, Cancelled(), force=True)
    await c.delete_task_run(task_run_id)
    if full_run is not None:
        await c.delete_flow_run(full_run.id)
    await c.delete_flow_run(run_id)
    await c.delete_deployment(plain_deployment_id)
    await c.delete_deployment(deployment_id)
    await c.delete_work_queue_by_id(legacy_queue.id if legacy_queue else uuid.uuid4())
    await c.delete_flow(named_flow_id)
    await c.delete_work_pool(f"plain-{tag}")


def public_methods(cls: type) -> set[str]:
    return {
        name
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_") and inspect.isfunction(member)
    }


async def main(report_path: str) -> None:
    report: dict[str, Any] = {}
    async with get_client() as client:
        recorder = Recorder(client, "PrefectClient", sync=False)
        await scenario(recorder, f"async-{uuid.uuid4().hex[:8]}")
    with get_client(sync_client=True) as sync_client:
        sync_recorder = Recorder(sync_client, "SyncPrefectClient", sync=True)
        await scenario(sync_recorder, f"sync-{uuid.uuid4().hex[:8]}")
    for cls, rec in ((PrefectClient, recorder), (SyncPrefectClient, sync_recorder)):
        methods = public_methods(cls)
        report[cls.__name__] = {
            "failures": rec.failures,
            "never_called": sorted(methods - rec.called - set(NOT_SERVED)),
            "unknown_in_lists": sorted(set(NOT_SERVED) - methods),
            "not_served_but_answered": sorted(set(rec.answered_not_served)),
            "called": len(rec.called & methods),
            "methods": len(methods),
        }
    with open(report_path, "w") as out:
        json.dump(report, out, indent=1)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
