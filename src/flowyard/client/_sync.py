"""The blocking client: the async client's methods, run on the background loop.

No route is written twice. Each method of :class:`SyncFlowyardClient` is a
:class:`_Blocking` descriptor around the async method of the same name: calling it runs
the coroutine on the process's background loop (:mod:`flowyard.client._loop`) and waits
for the result. The descriptor keeps the async method's parameters (``ParamSpec``), so the
sync methods type-check exactly like the async ones, and a test checks that every public
async method has its blocking twin.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, Generic, ParamSpec, Self, TypeVar, overload

from flowyard.client._client import FlowyardClient, get_client
from flowyard.client._loop import run_in_background
from flowyard.settings import Settings

P = ParamSpec("P")
T = TypeVar("T")


class _Blocking(Generic[P, T]):
    """A sync method made from an async method of :class:`FlowyardClient`."""

    def __init__(self, method: Callable[Concatenate[Any, P], Coroutine[Any, Any, T]]) -> None:
        self._method = method
        self.__doc__ = method.__doc__
        self.__wrapped__ = method

    @overload
    def __get__(self, client: None, owner: type[Any]) -> Self: ...

    @overload
    def __get__(self, client: SyncFlowyardClient, owner: type[Any]) -> Callable[P, T]: ...

    def __get__(
        self, client: SyncFlowyardClient | None, owner: type[Any]
    ) -> Self | Callable[P, T]:
        if client is None:
            return self
        method = self._method
        inner = client.async_client

        # Wrapping the bound method gives the sync method its signature without ``self``.
        @functools.wraps(types.MethodType(method, inner))
        def call(*args: P.args, **kwargs: P.kwargs) -> T:
            return run_in_background(method(inner, *args, **kwargs))

        return call


class SyncFlowyardClient:
    """Blocking client of the Flowyard REST API, for code that is not async.

    It has every method of :class:`FlowyardClient`, with the same arguments, returning the
    result instead of a coroutine::

        with get_sync_client() as client:
            flow = client.create_flow("etl")

    Do not call it from inside the client's own background loop (a ``RuntimeError``
    says so); use the async client there.

    Args:
        client: the async client whose methods this one runs.
    """

    def __init__(self, client: FlowyardClient) -> None:
        self.async_client = client

    @property
    def api_url(self) -> str:
        """The API root this client talks to."""
        return self.async_client.api_url

    @property
    def embedded(self) -> bool:
        """Whether this client talks to a server running inside this process."""
        return self.async_client.embedded

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections this client holds."""
        run_in_background(self.async_client.aclose())

    # admin
    api_healthcheck = _Blocking(FlowyardClient.api_healthcheck)
    api_version = _Blocking(FlowyardClient.api_version)
    server_version = _Blocking(FlowyardClient.server_version)
    # flows
    create_flow = _Blocking(FlowyardClient.create_flow)
    read_flow = _Blocking(FlowyardClient.read_flow)
    read_flow_by_name = _Blocking(FlowyardClient.read_flow_by_name)
    read_flows = _Blocking(FlowyardClient.read_flows)
    count_flows = _Blocking(FlowyardClient.count_flows)
    update_flow = _Blocking(FlowyardClient.update_flow)
    delete_flow = _Blocking(FlowyardClient.delete_flow)

    create_automation = _Blocking(FlowyardClient.create_automation)
    read_automations = _Blocking(FlowyardClient.read_automations)
    read_automations_by_name = _Blocking(FlowyardClient.read_automations_by_name)
    read_automation = _Blocking(FlowyardClient.read_automation)
    set_automation_enabled = _Blocking(FlowyardClient.set_automation_enabled)
    delete_automation = _Blocking(FlowyardClient.delete_automation)
    # flow runs
    create_flow_run = _Blocking(FlowyardClient.create_flow_run)
    read_flow_run = _Blocking(FlowyardClient.read_flow_run)
    read_flow_runs = _Blocking(FlowyardClient.read_flow_runs)
    count_flow_runs = _Blocking(FlowyardClient.count_flow_runs)
    update_flow_run = _Blocking(FlowyardClient.update_flow_run)
    update_flow_run_labels = _Blocking(FlowyardClient.update_flow_run_labels)
    delete_flow_run = _Blocking(FlowyardClient.delete_flow_run)
    set_flow_run_state = _Blocking(FlowyardClient.set_flow_run_state)
    read_flow_run_states = _Blocking(FlowyardClient.read_flow_run_states)
    read_flow_run_history = _Blocking(FlowyardClient.read_flow_run_history)
    # task runs
    create_task_run = _Blocking(FlowyardClient.create_task_run)
    read_task_run = _Blocking(FlowyardClient.read_task_run)
    read_task_runs = _Blocking(FlowyardClient.read_task_runs)
    count_task_runs = _Blocking(FlowyardClient.count_task_runs)
    update_task_run = _Blocking(FlowyardClient.update_task_run)
    delete_task_run = _Blocking(FlowyardClient.delete_task_run)
    set_task_run_state = _Blocking(FlowyardClient.set_task_run_state)
    read_task_run_states = _Blocking(FlowyardClient.read_task_run_states)
    report_task_runs = _Blocking(FlowyardClient.report_task_runs)
    # logs and events
    create_logs = _Blocking(FlowyardClient.create_logs)
    read_logs = _Blocking(FlowyardClient.read_logs)
    read_events = _Blocking(FlowyardClient.read_events)
    emit_events = _Blocking(FlowyardClient.emit_events)
    # concurrency
    create_concurrency_limit = _Blocking(FlowyardClient.create_concurrency_limit)
    read_concurrency_limit = _Blocking(FlowyardClient.read_concurrency_limit)
    read_concurrency_limits = _Blocking(FlowyardClient.read_concurrency_limits)
    update_concurrency_limit = _Blocking(FlowyardClient.update_concurrency_limit)
    delete_concurrency_limit = _Blocking(FlowyardClient.delete_concurrency_limit)
    increment_with_lease = _Blocking(FlowyardClient.increment_with_lease)
    decrement_with_lease = _Blocking(FlowyardClient.decrement_with_lease)
    renew_lease = _Blocking(FlowyardClient.renew_lease)
    increment_slots = _Blocking(FlowyardClient.increment_slots)
    read_concurrency_leases = _Blocking(FlowyardClient.read_concurrency_leases)
    revoke_concurrency_lease = _Blocking(FlowyardClient.revoke_concurrency_lease)
    reset_concurrency_limit = _Blocking(FlowyardClient.reset_concurrency_limit)
    create_tag_concurrency_limit = _Blocking(FlowyardClient.create_tag_concurrency_limit)
    read_tag_concurrency_limit = _Blocking(FlowyardClient.read_tag_concurrency_limit)
    read_tag_concurrency_limits = _Blocking(FlowyardClient.read_tag_concurrency_limits)
    reset_tag_concurrency_limit = _Blocking(FlowyardClient.reset_tag_concurrency_limit)
    delete_tag_concurrency_limit = _Blocking(FlowyardClient.delete_tag_concurrency_limit)
    # variables
    create_variable = _Blocking(FlowyardClient.create_variable)
    read_variable = _Blocking(FlowyardClient.read_variable)
    read_variable_by_name = _Blocking(FlowyardClient.read_variable_by_name)
    read_variables = _Blocking(FlowyardClient.read_variables)
    count_variables = _Blocking(FlowyardClient.count_variables)
    update_variable_by_name = _Blocking(FlowyardClient.update_variable_by_name)
    delete_variable_by_name = _Blocking(FlowyardClient.delete_variable_by_name)
    delete_variable = _Blocking(FlowyardClient.delete_variable)
    # artifacts
    create_artifact = _Blocking(FlowyardClient.create_artifact)
    read_artifact = _Blocking(FlowyardClient.read_artifact)
    read_latest_artifact = _Blocking(FlowyardClient.read_latest_artifact)
    read_artifacts = _Blocking(FlowyardClient.read_artifacts)
    count_artifacts = _Blocking(FlowyardClient.count_artifacts)
    update_artifact = _Blocking(FlowyardClient.update_artifact)
    delete_artifact = _Blocking(FlowyardClient.delete_artifact)
    # flow-run control
    cancel_flow_run = _Blocking(FlowyardClient.cancel_flow_run)
    heartbeat_flow_run = _Blocking(FlowyardClient.heartbeat_flow_run)
    release_flow_run_lease = _Blocking(FlowyardClient.release_flow_run_lease)
    resume_flow_run = _Blocking(FlowyardClient.resume_flow_run)
    create_flow_run_input = _Blocking(FlowyardClient.create_flow_run_input)
    read_flow_run_input = _Blocking(FlowyardClient.read_flow_run_input)
    filter_flow_run_input = _Blocking(FlowyardClient.filter_flow_run_input)
    delete_flow_run_input = _Blocking(FlowyardClient.delete_flow_run_input)
    read_flow_run_blockers = _Blocking(FlowyardClient.read_flow_run_blockers)
    # blocks
    create_block_type = _Blocking(FlowyardClient.create_block_type)
    read_block_type = _Blocking(FlowyardClient.read_block_type)
    read_block_type_by_slug = _Blocking(FlowyardClient.read_block_type_by_slug)
    read_block_types = _Blocking(FlowyardClient.read_block_types)
    update_block_type = _Blocking(FlowyardClient.update_block_type)
    delete_block_type = _Blocking(FlowyardClient.delete_block_type)
    create_block_schema = _Blocking(FlowyardClient.create_block_schema)
    read_block_schema = _Blocking(FlowyardClient.read_block_schema)
    read_block_schema_by_checksum = _Blocking(FlowyardClient.read_block_schema_by_checksum)
    read_block_schemas = _Blocking(FlowyardClient.read_block_schemas)
    delete_block_schema = _Blocking(FlowyardClient.delete_block_schema)
    read_block_capabilities = _Blocking(FlowyardClient.read_block_capabilities)
    create_block_document = _Blocking(FlowyardClient.create_block_document)
    read_block_document = _Blocking(FlowyardClient.read_block_document)
    read_block_document_by_name = _Blocking(FlowyardClient.read_block_document_by_name)
    read_block_documents_by_type = _Blocking(FlowyardClient.read_block_documents_by_type)
    read_block_documents = _Blocking(FlowyardClient.read_block_documents)
    count_block_documents = _Blocking(FlowyardClient.count_block_documents)
    update_block_document = _Blocking(FlowyardClient.update_block_document)
    delete_block_document = _Blocking(FlowyardClient.delete_block_document)
    # work pools
    create_work_pool = _Blocking(FlowyardClient.create_work_pool)
    read_work_pool = _Blocking(FlowyardClient.read_work_pool)
    read_work_pools = _Blocking(FlowyardClient.read_work_pools)
    count_work_pools = _Blocking(FlowyardClient.count_work_pools)
    update_work_pool = _Blocking(FlowyardClient.update_work_pool)
    delete_work_pool = _Blocking(FlowyardClient.delete_work_pool)
    create_work_queue = _Blocking(FlowyardClient.create_work_queue)
    read_work_queue = _Blocking(FlowyardClient.read_work_queue)
    read_work_queue_by_name = _Blocking(FlowyardClient.read_work_queue_by_name)
    read_work_queues = _Blocking(FlowyardClient.read_work_queues)
    update_work_queue = _Blocking(FlowyardClient.update_work_queue)
    delete_work_queue = _Blocking(FlowyardClient.delete_work_queue)
    send_worker_heartbeat = _Blocking(FlowyardClient.send_worker_heartbeat)
    read_workers = _Blocking(FlowyardClient.read_workers)
    delete_worker = _Blocking(FlowyardClient.delete_worker)
    get_scheduled_flow_runs = _Blocking(FlowyardClient.get_scheduled_flow_runs)
    # deployments
    create_deployment = _Blocking(FlowyardClient.create_deployment)
    read_deployment = _Blocking(FlowyardClient.read_deployment)
    read_deployment_by_name = _Blocking(FlowyardClient.read_deployment_by_name)
    read_deployments = _Blocking(FlowyardClient.read_deployments)
    count_deployments = _Blocking(FlowyardClient.count_deployments)
    update_deployment = _Blocking(FlowyardClient.update_deployment)
    delete_deployment = _Blocking(FlowyardClient.delete_deployment)
    pause_deployment = _Blocking(FlowyardClient.pause_deployment)
    resume_deployment = _Blocking(FlowyardClient.resume_deployment)
    schedule_deployment = _Blocking(FlowyardClient.schedule_deployment)
    create_flow_run_from_deployment = _Blocking(FlowyardClient.create_flow_run_from_deployment)
    get_scheduled_flow_runs_for_deployments = _Blocking(
        FlowyardClient.get_scheduled_flow_runs_for_deployments
    )
    read_deployment_schedules = _Blocking(FlowyardClient.read_deployment_schedules)
    create_deployment_schedules = _Blocking(FlowyardClient.create_deployment_schedules)
    update_deployment_schedule = _Blocking(FlowyardClient.update_deployment_schedule)
    delete_deployment_schedule = _Blocking(FlowyardClient.delete_deployment_schedule)


def get_sync_client(settings: Settings | None = None) -> SyncFlowyardClient:
    """A blocking client for the API the settings point at (see :func:`get_client`).

    Args:
        settings: the settings to use; the current ones when ``None``.
    """
    return SyncFlowyardClient(get_client(settings))
