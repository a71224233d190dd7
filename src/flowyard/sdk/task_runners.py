"""Task runners: where ``.submit()``-ed task runs execute.

* :class:`ThreadPoolTaskRunner` (the default) runs them on threads of this process:
  cheap to start, ideal for I/O-bound work and for code that releases the GIL.
* :class:`ProcessPoolTaskRunner` runs them in worker processes (functions and arguments
  travel with cloudpickle), for CPU-bound Python code. Upstream futures are resolved in
  the parent; the run's state changes and log lines come back with its result and are
  reported by the parent.

A flow uses a fresh copy of its runner per run (:meth:`TaskRunner.duplicate`), entered
when the run starts and shut down -- waiting for every submitted run -- when it ends.
"""

from __future__ import annotations

import abc
import concurrent.futures as cf
import contextvars
import os
import threading
from typing import TYPE_CHECKING, Any, Self

from flowyard.sdk import states

if TYPE_CHECKING:
    from flowyard.sdk.engine.task_engine import TaskRunEngine
    from flowyard.sdk.futures import TaskFuture

DEFAULT_THREADS = 128


class TaskRunner(abc.ABC):
    """Runs submitted task runs and gives back futures of their final states."""

    def __init__(self) -> None:
        self._started = False

    def duplicate(self) -> Self:
        """A fresh, unstarted runner with the same settings (one per flow run)."""
        return type(self)(**self._options())

    @abc.abstractmethod
    def _options(self) -> dict[str, Any]:
        """The constructor arguments :meth:`duplicate` copies."""

    def __enter__(self) -> Self:
        self._started = True
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        # On an interrupt, do not wait for queued work: cancel what has not started.
        self.shutdown(wait=exc_type is None or issubclass(exc_type, Exception))
        self._started = False

    @abc.abstractmethod
    def submit(self, engine: TaskRunEngine) -> TaskFuture[Any]:
        """Start ``engine``'s task run; return its future at once."""

    @abc.abstractmethod
    def shutdown(self, wait: bool = True) -> None:
        """Stop accepting work; with ``wait``, return once every submitted run is done."""

    def __getstate__(self) -> dict[str, Any]:
        # Flows holding a runner travel to worker processes: only the settings go along.
        return {"options": self._options()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state["options"])  # type: ignore[misc]


class ThreadPoolTaskRunner(TaskRunner):
    """Runs task runs on a pool of threads in this process (the default runner).

    Args:
        max_workers: the most runs executing at once (default 128, or
            ``FLOWYARD_TASK_RUNNER_THREAD_POOL_MAX_WORKERS``). A run waiting for its
            upstream futures holds a thread while it waits.
    """

    def __init__(self, max_workers: int | None = None) -> None:
        super().__init__()
        if max_workers is None:
            setting = os.environ.get("FLOWYARD_TASK_RUNNER_THREAD_POOL_MAX_WORKERS")
            max_workers = int(setting) if setting else DEFAULT_THREADS
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self.max_workers = max_workers
        self._executor: cf.ThreadPoolExecutor | None = None
        self._last: cf.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def _options(self) -> dict[str, Any]:
        return {"max_workers": self.max_workers}

    def _pool(self) -> cf.ThreadPoolExecutor:
        executor = self._executor
        if executor is None:
            with self._lock:
                if self._executor is None:
                    self._executor = cf.ThreadPoolExecutor(
                        self.max_workers, thread_name_prefix="flowyard-task"
                    )
                executor = self._executor
        return executor

    def submit(self, engine: TaskRunEngine) -> TaskFuture[Any]:
        """Run ``engine`` on a pool thread, in a copy of the submitter's context."""
        from flowyard.sdk.futures import TaskFuture

        context = contextvars.copy_context()
        if engine.task.is_async:
            inner = self._pool().submit(context.run, _run_async_in_thread, engine)
        else:
            inner = self._pool().submit(context.run, engine.run_sync)
        inner.add_done_callback(lambda f: _record_cancellation(f, engine))
        return TaskFuture(engine.run, inner)

    def shutdown(self, wait: bool = True) -> None:
        """Wait for (or, with ``wait=False``, cancel the queued of) the submitted runs."""
        with self._lock:
            # Keep the last pool: an interrupt during a waiting shutdown calls again with
            # wait=False, and that call must still cancel what is queued.
            executor = self._executor or self._last
            self._executor, self._last = None, executor
        if executor is not None:
            executor.shutdown(wait=wait, cancel_futures=not wait)


def _record_cancellation(future: cf.Future[states.State], engine: TaskRunEngine) -> None:
    # A run cancelled before it started (the flow was interrupted) must not stay Pending.
    if future.cancelled():
        engine.finish(states.Cancelled(message="The flow run stopped before this task started."))


def _run_async_in_thread(engine: TaskRunEngine) -> states.State:
    import asyncio

    return asyncio.run(engine.run_async())


class ProcessPoolTaskRunner(TaskRunner):
    """Runs task runs in worker processes, for CPU-bound Python code.

    Functions, arguments and results cross the process boundary with cloudpickle, so
    functions defined in ``__main__`` or as closures work. Workers are started with the
    ``spawn`` method (safe beside the threads a flow run has) unless ``mp_context`` says
    otherwise. A task that calls other tasks runs them inside its worker process.

    Args:
        max_workers: the number of worker processes (default: the CPU count).
        mp_context: a ``multiprocessing`` context or start-method name.
    """

    def __init__(self, max_workers: int | None = None, mp_context: Any = "spawn") -> None:
        super().__init__()
        self.max_workers = max_workers or os.cpu_count() or 1
        self.mp_context = mp_context
        self._processes: cf.ProcessPoolExecutor | None = None
        # Parent-side threads that wait for upstreams, ship the call, and report back.
        self._dispatch: cf.ThreadPoolExecutor | None = None
        self._last: tuple[Any, Any] = (None, None)
        self._lock = threading.Lock()

    def _options(self) -> dict[str, Any]:
        return {"max_workers": self.max_workers, "mp_context": self.mp_context}

    def _pools(self) -> tuple[cf.ThreadPoolExecutor, cf.ProcessPoolExecutor]:
        with self._lock:
            if self._processes is None or self._dispatch is None:
                import multiprocessing

                context = self.mp_context
                if isinstance(context, str):
                    context = multiprocessing.get_context(context)
                self._processes = cf.ProcessPoolExecutor(self.max_workers, mp_context=context)
                self._dispatch = cf.ThreadPoolExecutor(
                    DEFAULT_THREADS, thread_name_prefix="flowyard-dispatch"
                )
            return self._dispatch, self._processes

    def submit(self, engine: TaskRunEngine) -> TaskFuture[Any]:
        """Resolve upstreams here, run the body in a worker process, report here."""
        from flowyard.sdk.futures import TaskFuture

        dispatch, processes = self._pools()
        context = contextvars.copy_context()
        inner = dispatch.submit(context.run, _dispatch_to_process, engine, processes)
        inner.add_done_callback(lambda f: _record_cancellation(f, engine))
        return TaskFuture(engine.run, inner)

    def shutdown(self, wait: bool = True) -> None:
        """Wait for the submitted runs, then stop the worker processes."""
        with self._lock:
            dispatch = self._dispatch or self._last[0]
            processes = self._processes or self._last[1]
            self._dispatch = self._processes = None
            self._last = (dispatch, processes)
        if dispatch is not None:
            dispatch.shutdown(wait=wait, cancel_futures=not wait)
        if processes is not None:
            processes.shutdown(wait=wait, cancel_futures=not wait)


def _dispatch_to_process(engine: TaskRunEngine, processes: cf.ProcessPoolExecutor) -> states.State:
    import cloudpickle  # type: ignore[import-untyped]

    from flowyard.sdk.engine import process_worker

    if engine.has_futures or engine.wait_for:
        not_ready = engine.resolve_inputs()
        if not_ready is not None:
            return not_ready
    payload = cloudpickle.dumps(process_worker.WorkerCall.from_engine(engine))
    try:
        answer = processes.submit(process_worker.run_call, payload).result()
    except Exception as exc:  # noqa: BLE001 - a dead worker or an unpicklable result
        return engine.finish(
            states.Crashed(message=f"The worker process failed: {exc!r}", data=exc)
        )
    return process_worker.report_answer(engine, answer)


_default_runner: ThreadPoolTaskRunner | None = None
_default_lock = threading.Lock()


def default_runner() -> ThreadPoolTaskRunner:
    """The runner for ``.submit()`` outside of any flow run (one per process)."""
    global _default_runner
    with _default_lock:
        if _default_runner is None:
            _default_runner = ThreadPoolTaskRunner()
        return _default_runner
