"""``DaskTaskRunner``: submitted task runs execute on a Dask cluster.

Install the extra: ``pip install flowyard[dask]``. Then::

    @flow(task_runner=DaskTaskRunner(cluster_kwargs={"n_workers": 4}))      # a LocalCluster
    @flow(task_runner=DaskTaskRunner(address="tcp://scheduler:8786"))      # an existing one

How a run travels: this process waits for the run's upstream futures (without holding a
thread), cloudpickles the task, its resolved arguments and its run record, and submits
that to Dask. The worker runs the task engine with a collecting reporter -- it never
talks to the Flowyard API -- and returns the final state together with every state change
and log line, which this process then hands to its own reporter. So runs on Dask are
recorded exactly like local ones, and the workers need no access to the server.

Caching and result persistence happen on the worker, against *its* result storage:
point ``result_storage`` at a folder every worker shares when the cluster spans machines.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import contextvars
import importlib
import threading
from typing import TYPE_CHECKING, Any

from flowyard.sdk import states
from flowyard.sdk.task_runners import TaskRunner

if TYPE_CHECKING:
    from flowyard.sdk.engine.task_engine import TaskRunEngine
    from flowyard.sdk.futures import TaskFuture


class DaskTaskRunner(TaskRunner):
    """Runs submitted task runs on Dask workers: a temporary cluster, or an existing one.

    Each flow run gets its own runner; without ``address`` it starts a cluster when the
    flow run starts and closes it when the run ends.

    Args:
        address: the scheduler of an existing cluster (``"tcp://host:8786"``); it is
            neither started nor closed here.
        cluster_class: the cluster to start when no address is given: a class or its
            import path (default ``distributed.LocalCluster``).
        cluster_kwargs: keyword arguments of the cluster (``n_workers``,
            ``threads_per_worker``, ``processes``, ...).
        client_kwargs: keyword arguments of the ``distributed.Client``.

    Raises:
        ImportError: at the first run, if ``dask[distributed]`` is not installed.
    """

    def __init__(
        self,
        address: str | None = None,
        cluster_class: str | type[Any] | None = None,
        cluster_kwargs: dict[str, Any] | None = None,
        client_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if address is not None and (cluster_class is not None or cluster_kwargs):
            raise ValueError("Give either the address of a cluster or how to start one, not both.")
        self.address = address
        self.cluster_class = cluster_class
        self.cluster_kwargs = dict(cluster_kwargs or {})
        self.client_kwargs = dict(client_kwargs or {})
        self._client: Any = None
        self._cluster: Any = None
        self._lock = threading.Lock()
        # Dask cancels a task whose future is garbage collected: hold each until it is done.
        self._running: dict[Any, Any] = {}
        # Submitted runs not yet finished, with their engines (to record a cancellation).
        self._outstanding: dict[cf.Future[states.State], TaskRunEngine] = {}

    def _options(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "cluster_class": self.cluster_class,
            "cluster_kwargs": self.cluster_kwargs,
            "client_kwargs": self.client_kwargs,
        }

    def __repr__(self) -> str:
        where = self.address or getattr(self._cluster, "scheduler_address", None) or "not started"
        return f"DaskTaskRunner({where})"

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` (connecting, or starting the cluster, on first use)."""
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _connect(self) -> Any:
        try:
            import distributed
        except ImportError as exc:
            raise ImportError(
                "DaskTaskRunner needs dask.distributed: pip install 'flowyard[dask]'"
            ) from exc
        if self.address is not None:
            return distributed.Client(self.address, **self.client_kwargs)  # type: ignore[no-untyped-call]
        cluster_class = self.cluster_class or distributed.LocalCluster
        if isinstance(cluster_class, str):
            module, _, name = cluster_class.rpartition(".")
            cluster_class = getattr(importlib.import_module(module), name)
        self._cluster = cluster_class(**self.cluster_kwargs)
        return distributed.Client(self._cluster, **self.client_kwargs)  # type: ignore[no-untyped-call]

    def __enter__(self) -> DaskTaskRunner:
        super().__enter__()
        self.client  # noqa: B018 - start the cluster with the flow run, not at the first submit
        return self

    def submit(self, engine: TaskRunEngine) -> TaskFuture[Any]:
        """Submit to Dask once the run's upstream futures are done; returns a future now."""
        from flowyard.sdk.engine import inputs
        from flowyard.sdk.futures import TaskFuture

        outer: cf.Future[states.State] = cf.Future()
        with self._lock:
            self._outstanding[outer] = engine
        outer.add_done_callback(self._forget)
        context = contextvars.copy_context()
        pending: list[cf.Future[Any]] = []
        if engine.has_futures or engine.wait_for:
            found: list[Any] = []
            for value in engine.parameters.values():
                inputs.find_upstreams(value, found)
            if engine.wait_for:
                inputs.find_upstreams(list(engine.wait_for), found)
            for item in found:
                future = getattr(item, "value", item)  # allow_failure(future)
                if isinstance(future, TaskFuture) and not future.done():
                    pending.append(future._future)
        if not pending:
            context.run(self._launch, engine, outer)
        else:
            # Launch from the callback of the last upstream to finish: no thread waits.
            remaining = [len(pending)]
            count_lock = threading.Lock()

            def upstream_done(_: Any) -> None:
                with count_lock:
                    remaining[0] -= 1
                    last = remaining[0] == 0
                if last:
                    context.run(self._launch, engine, outer)

            for future in pending:
                future.add_done_callback(upstream_done)
        return TaskFuture(engine.run, outer)

    def _forget(self, outer: cf.Future[states.State]) -> None:
        with self._lock:
            self._outstanding.pop(outer, None)

    def _launch(self, engine: TaskRunEngine, outer: cf.Future[states.State]) -> None:
        import cloudpickle  # type: ignore[import-untyped]

        from flowyard.sdk.engine import process_worker

        if outer.done():
            return  # cancelled by a shutdown meanwhile
        try:
            if engine.has_futures or engine.wait_for:
                not_ready = engine.resolve_inputs()  # upstreams are done: does not block
                if not_ready is not None:
                    _resolve(outer, not_ready)
                    return
            payload = cloudpickle.dumps(process_worker.WorkerCall.from_engine(engine))
            key = f"{engine.run.name}-{engine.run.id}"
            remote = self.client.submit(process_worker.run_call, payload, key=key, pure=False)
            with self._lock:
                self._running[key] = remote
            remote.add_done_callback(lambda done: self._finished(engine, outer, key, done))
        except Exception as exc:  # noqa: BLE001 - unpicklable arguments, a closed cluster...
            _settle(outer, engine, f"The task run could not be sent to Dask: {exc!r}", exc)

    def _finished(
        self, engine: TaskRunEngine, outer: cf.Future[states.State], key: str, remote: Any
    ) -> None:
        from flowyard.sdk.engine import process_worker

        with self._lock:
            self._running.pop(key, None)
        if outer.done():
            return
        try:
            if remote.cancelled():
                _settle(outer, engine, "The Dask task was cancelled before it finished.", None)
                return
            state = process_worker.report_answer(engine, remote.result())
        except Exception as exc:  # noqa: BLE001 - a dead worker or an unpicklable result
            _settle(outer, engine, f"The Dask worker failed: {exc!r}", exc)
            return
        _resolve(outer, state)

    def shutdown(self, wait: bool = True) -> None:
        """Wait for the submitted runs (or cancel them), then close what this runner opened."""
        with self._lock:
            outstanding = list(self._outstanding.items())
        if wait:
            cf.wait([outer for outer, _ in outstanding])
        else:
            for outer, engine in outstanding:
                if not outer.done():
                    cancelled = states.Cancelled(
                        message="The flow run stopped before this task run finished."
                    )
                    _resolve(outer, engine.finish(cancelled))
        with self._lock:
            running = list(self._running.values())
            self._running.clear()
            client, cluster = self._client, self._cluster
            self._client = self._cluster = None
        if client is not None:
            if running:
                client.cancel(running)
            client.close()
        if cluster is not None:
            cluster.close()

    def __getstate__(self) -> dict[str, Any]:
        return {"options": self._options()}


def _settle(
    outer: cf.Future[states.State], engine: TaskRunEngine, message: str, exc: BaseException | None
) -> None:
    """Finish the run Crashed (recorded through the parent's reporter) and its future."""
    if outer.done():
        return
    _resolve(outer, engine.finish(states.Crashed(message=message, data=exc)))


def _resolve(outer: cf.Future[states.State], state: states.State) -> None:
    # Two threads may race to settle a run (a shutdown and a late answer): first one wins.
    with contextlib.suppress(cf.InvalidStateError):
        outer.set_result(state)
