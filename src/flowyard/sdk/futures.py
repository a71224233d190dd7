"""Futures of submitted task runs, and the helpers that wait on many of them.

A :class:`TaskFuture` wraps a ``concurrent.futures.Future`` whose value is the run's final
:class:`~flowyard.sdk.states.State`. The engine never lets a task's own exception escape
into that future: failures are states, and :meth:`TaskFuture.result` re-raises them.
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

from flowyard.sdk import states

if TYPE_CHECKING:
    import uuid

    from flowyard.sdk.tasks import TaskRun

R = TypeVar("R")


class TaskFuture(Generic[R]):
    """The pending result of a submitted task run.

    Attributes:
        task_run: the run's :class:`~flowyard.sdk.tasks.TaskRun` (id, name, state, ...).
    """

    __slots__ = ("task_run", "_future")

    def __init__(self, task_run: TaskRun, future: cf.Future[states.State]) -> None:
        self.task_run = task_run
        self._future = future

    @property
    def task_run_id(self) -> uuid.UUID:
        """The id of the task run this future tracks."""
        run_id: uuid.UUID = self.task_run.id
        return run_id

    @property
    def state(self) -> states.State:
        """The run's current state (final once :meth:`done` is true)."""
        if self._future.done() and not self._future.cancelled():
            error = self._future.exception()
            if error is None:
                return self._future.result()
            return states.Crashed(message=f"Task run engine failed: {error!r}", data=error)
        if self._future.cancelled():
            return states.Cancelled(message="The task run was cancelled before it started.")
        return self.task_run.state or states.Pending()

    def done(self) -> bool:
        """True once the run reached a final state."""
        return self._future.done()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the run is done, or ``timeout`` seconds pass (no error either way)."""
        cf.wait([self._future], timeout=timeout)

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> R:
        """The run's return value; waits up to ``timeout`` seconds.

        Raises:
            TimeoutError: the run did not finish in time.
            Exception: the run's own exception if it failed (unless ``raise_on_failure``
                is false, in which case the exception is returned).
        """
        try:
            state = self._future.result(timeout=timeout)
        except cf.TimeoutError:
            raise TimeoutError(
                f"Task run {self.task_run.name!r} did not finish within {timeout} seconds."
            ) from None
        except cf.CancelledError:
            state = self.state
        value: R = state.result(raise_on_failure=raise_on_failure)
        return value

    def add_done_callback(self, fn: Any) -> None:
        """Call ``fn(self)`` when the run is done (at once if it already is)."""
        self._future.add_done_callback(lambda _f: fn(self))

    def __repr__(self) -> str:
        return f"TaskFuture({self.task_run.name!r}, state={self.state!r})"


class TaskFutureList(list[TaskFuture[R]]):
    """The futures returned by ``Task.map``: a list with ``wait`` and ``result`` helpers."""

    def wait(self, timeout: float | None = None) -> None:
        """Wait for every run (up to ``timeout`` seconds in total)."""
        wait(self, timeout=timeout)

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> list[R]:
        """Every run's return value, in order; raises the first failure."""
        wait(self, timeout=timeout)
        return [f.result(timeout=0, raise_on_failure=raise_on_failure) for f in self]


class DoneAndNotDoneFutures(NamedTuple, Generic[R]):
    """What :func:`wait` returns: the finished futures and the others."""

    done: set[TaskFuture[R]]
    not_done: set[TaskFuture[R]]


def wait(
    futures: Iterable[TaskFuture[R]], timeout: float | None = None
) -> DoneAndNotDoneFutures[R]:
    """Wait until every future is done or ``timeout`` seconds passed."""
    by_inner = {f._future: f for f in futures}
    done, not_done = cf.wait(by_inner, timeout=timeout)
    return DoneAndNotDoneFutures({by_inner[f] for f in done}, {by_inner[f] for f in not_done})


def as_completed(
    futures: Iterable[TaskFuture[R]], timeout: float | None = None
) -> Iterator[TaskFuture[R]]:
    """Yield futures as their runs finish, fastest first.

    Raises:
        TimeoutError: if ``timeout`` seconds pass before all are done.
    """
    by_inner = {f._future: f for f in futures}
    try:
        for inner in cf.as_completed(by_inner, timeout=timeout):
            yield by_inner[inner]
    except cf.TimeoutError:
        raise TimeoutError(f"Not every task run finished within {timeout} seconds.") from None


def resolve_futures(value: Any) -> Any:
    """``value`` with every future or state inside lists/tuples/sets/dicts replaced by its
    result (waiting as needed). Used for what a flow returns."""
    if isinstance(value, TaskFuture | states.State):
        return value.result()
    if isinstance(value, list):  # TaskFutureList included; it comes back as a plain list
        return [resolve_futures(v) for v in value]
    kind = type(value)
    if kind in (tuple, set, frozenset):
        return kind(resolve_futures(v) for v in value)
    if kind is dict:
        return {resolve_futures(k): resolve_futures(v) for k, v in value.items()}
    return value


def collect_states(value: Any, found: list[states.State]) -> None:
    """Append the final state of every future or state inside ``value`` to ``found``."""
    kind = type(value)
    if isinstance(value, TaskFuture):
        value.wait()
        found.append(value.state)
    elif isinstance(value, states.State):
        found.append(value)
    elif isinstance(value, list) or kind in (tuple, set, frozenset):
        for item in value:
            collect_states(item, found)
    elif kind is dict:
        for item in value.values():
            collect_states(item, found)
