"""``@task``: a Python function whose calls become observed, retried task runs.

A task call is orchestrated in this process (see :mod:`flowyard.sdk.engine.task_engine`),
so calling a task costs little more than calling the function. ``.submit()`` runs it on
the flow's task runner and returns a future; ``.map()`` submits one run per element.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, cast, overload

if TYPE_CHECKING:
    from datetime import timedelta

    from flowyard.sdk.caching import CachePolicy
    from flowyard.sdk.futures import TaskFuture, TaskFutureList
    from flowyard.sdk.states import State

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

RetryDelay = float | int | list[float] | list[int] | Callable[[int], list[float]] | None
TaskHook = Callable[..., Any]


class unmapped(Generic[T]):  # noqa: N801 - reads as a function at call sites, like Prefect's
    """Wrap an argument of ``.map()`` so it is passed whole to every run, not iterated."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"unmapped({self.value!r})"


class allow_failure(Generic[T]):  # noqa: N801
    """Wrap a future argument so the task runs even if that upstream run failed.

    The argument then resolves to the upstream's exception instead of its value.
    """

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"allow_failure({self.value!r})"


def exponential_backoff(backoff_factor: float) -> Callable[[int], list[float]]:
    """A ``retry_delay_seconds`` value: waits of factor x 1, 2, 4, ... seconds per retry.

    Combine with ``retry_jitter_factor`` on the task to spread retries of many runs.
    """
    if backoff_factor < 0:
        raise ValueError("backoff_factor must be >= 0")

    def delays(retries: int) -> list[float]:
        return [backoff_factor * 2**attempt for attempt in range(retries)]

    return delays


class TaskRun:
    """One run of a task, as the engine tracks it and hooks receive it.

    Attributes are plain fields (no validation): ``id``, ``name``, ``task_key``,
    ``dynamic_key``, ``flow_run_id``, ``run_count``, ``tags``, ``task_inputs``,
    ``state`` (the current :class:`~flowyard.sdk.states.State`), ``start_time`` and
    ``end_time`` (seconds since the epoch).
    """

    __slots__ = (
        "id",
        "name",
        "task_key",
        "dynamic_key",
        "flow_run_id",
        "flow_run_name",
        "flow_id",
        "flow_name",
        "flow_run_run_count",
        "tags",
        "task_inputs",
        "retries",
        "retry_delay",
        "retry_jitter_factor",
        "task_version",
        "expected_start_time",
        "start_time",
        "end_time",
        "run_count",
        "total_run_time",
        "state",
        # Set by the result seam only (left unset otherwise: no cost on the fast path).
        "cache_key",
    )
    cache_key: str | None

    def __init__(
        self,
        id: Any,
        name: str,
        task_key: str,
        dynamic_key: str,
        flow_run_id: Any = None,
        flow_run_name: str | None = None,
        flow_id: Any = None,
        flow_name: str | None = None,
        flow_run_run_count: int = 0,
        tags: frozenset[str] = frozenset(),
        task_inputs: dict[str, list[dict[str, Any]]] | None = None,
        retries: int = 0,
        retry_delay: Any = 0,
        retry_jitter_factor: float | None = None,
        task_version: str | None = None,
        expected_start_time: float | None = None,
    ) -> None:
        self.id = id
        self.name = name
        self.task_key = task_key
        self.dynamic_key = dynamic_key
        self.flow_run_id = flow_run_id
        self.flow_run_name = flow_run_name
        self.flow_id = flow_id
        self.flow_name = flow_name
        self.flow_run_run_count = flow_run_run_count
        self.tags = tags
        self.task_inputs = task_inputs if task_inputs is not None else {}
        self.retries = retries
        self.retry_delay = retry_delay
        self.retry_jitter_factor = retry_jitter_factor
        self.task_version = task_version
        self.expected_start_time = expected_start_time
        self.start_time: float | None = None
        self.end_time: float | None = None
        self.run_count = 0
        self.total_run_time = 0.0
        self.state: State | None = None

    def __repr__(self) -> str:
        return f"TaskRun(name={self.name!r}, id={self.id}, state={self.state!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {name: getattr(self, name, None) for name in self.__slots__}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)


def _task_key(fn: Callable[..., Any]) -> str:
    code = getattr(fn, "__code__", None)
    where = f"{code.co_filename}:{code.co_firstlineno}" if code else repr(fn)
    qualname = getattr(fn, "__qualname__", getattr(fn, "__name__", "task"))
    digest = hashlib.md5(f"{fn.__module__}:{qualname}:{where}".encode(), usedforsecurity=False)
    return f"{qualname}-{digest.hexdigest()[:8]}"


class Task(Generic[P, R]):
    """A function whose every call is a recorded, retried, observable task run.

    Args:
        fn: the function (sync or ``async``).
        name: display name; defaults to the function's name.
        description: shown in the UI; defaults to the docstring.
        tags: labels copied onto every run (combined with flow-level tags).
        version: recorded on each run.
        retries: how many times a failed run is retried.
        retry_delay_seconds: wait before each retry: a number, a list (one per retry, the
            last one repeating) or :func:`exponential_backoff`.
        retry_jitter_factor: spread each delay randomly by up to this fraction of it.
        retry_condition_fn: ``(task, task_run, state) -> bool``; retry only when true.
        timeout_seconds: fail the run (state TimedOut) after this long.
        task_run_name: a ``str.format`` template over the parameters, or a callable.
        log_prints: capture ``print`` as log lines (default: inherit from the flow).
        on_completion, on_failure, on_running: hooks ``(task, task_run, state)``.
        cache_policy: what the cache key is made of (:mod:`flowyard.sdk.caching`:
            ``INPUTS + TASK_SOURCE``, ...); a call whose key has a stored result
            finishes ``Cached`` without running.
        cache_key_fn: ``(context, parameters) -> str | None``: the cache key itself.
        cache_expiration: how long (a ``timedelta``) a cached result stays valid.
        refresh_cache: always run, and overwrite the cached result.
        persist_result: write the result to result storage (default: when caching, or
            a storage or serializer is given, or the flow persists results).
        result_storage: a :class:`~flowyard.sdk.storage.ResultStorage` or a folder
            (default: the flow's, else ``$FLOWYARD_HOME/storage``).
        result_serializer: ``"pickle"`` (cloudpickle, the default), ``"json"`` or a
            :class:`~flowyard.sdk.serializers.Serializer`.
    """

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        description: str | None = None,
        tags: Iterable[str] | None = None,
        version: str | None = None,
        retries: int = 0,
        retry_delay_seconds: RetryDelay = 0,
        retry_jitter_factor: float | None = None,
        retry_condition_fn: Callable[..., bool] | None = None,
        timeout_seconds: float | None = None,
        task_run_name: str | Callable[..., str] | None = None,
        log_prints: bool | None = None,
        on_completion: Iterable[TaskHook] | None = None,
        on_failure: Iterable[TaskHook] | None = None,
        on_running: Iterable[TaskHook] | None = None,
        cache_policy: CachePolicy | None = None,
        cache_key_fn: Callable[..., str | None] | None = None,
        cache_expiration: timedelta | float | None = None,
        refresh_cache: bool = False,
        persist_result: bool | None = None,
        result_storage: Any = None,
        result_serializer: Any = None,
    ) -> None:
        if not callable(fn):
            raise TypeError("@task must decorate a function")
        if retries < 0:
            raise ValueError("retries must be >= 0")
        if retry_jitter_factor is not None and retry_jitter_factor < 0:
            raise ValueError("retry_jitter_factor must be >= 0")
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "task")
        self.description = description if description is not None else inspect.getdoc(fn)
        self.tags = frozenset(tags or ())
        self.version = version
        self.retries = retries
        self.retry_delay_seconds = retry_delay_seconds
        self.retry_jitter_factor = retry_jitter_factor
        self.retry_condition_fn = retry_condition_fn
        self.timeout_seconds = timeout_seconds
        self.task_run_name = task_run_name
        self.log_prints = log_prints
        self.on_completion = list(on_completion or ())
        self.on_failure = list(on_failure or ())
        self.on_running = list(on_running or ())
        self.is_async = inspect.iscoroutinefunction(fn)
        self.task_key = _task_key(fn)
        # The retry delay as recorded on each run's policy (computed once, not per call).
        delay = (
            retry_delay_seconds(retries) if callable(retry_delay_seconds) else retry_delay_seconds
        )
        self.policy_retry_delay = list(delay) if isinstance(delay, list | tuple) else delay
        self.cache_policy = cache_policy
        self.cache_key_fn = cache_key_fn
        self.cache_expiration = cache_expiration
        self.refresh_cache = refresh_cache
        self.persist_result = persist_result
        self.result_storage = result_storage
        self.result_serializer = result_serializer
        # Caching and result persistence plug in here (see engine.task_engine.ResultSeam);
        # None keeps the hot path free of any lookup (and of importing the caching code).
        self.result_seam: Any = None
        if (
            persist_result
            or cache_policy is not None
            or cache_key_fn is not None
            or result_storage is not None
            or result_serializer is not None
        ):
            from flowyard.sdk.results import task_results

            self.result_seam = task_results(
                cache_policy=cache_policy,
                cache_key_fn=cache_key_fn,
                cache_expiration=cache_expiration,
                refresh_cache=refresh_cache,
                persist_result=persist_result,
                result_storage=result_storage,
                result_serializer=result_serializer,
                task_name=str(self.name),
            )
        self._options_seam = self.result_seam
        self._signature = inspect.signature(fn)
        self._positional = _positional_names(self._signature)
        self._simple = _is_simple(self._signature)
        self._defaults = tuple((p.name, p.default) for p in self._signature.parameters.values())
        self.__doc__ = fn.__doc__
        self.__name__ = self.name
        self.__wrapped__ = fn

    def __repr__(self) -> str:
        return f"Task(name={self.name!r})"

    def with_options(self, **changes: Any) -> Task[P, R]:
        """A copy of this task with some options replaced (same keyword names as ``@task``)."""
        options: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "tags": self.tags,
            "version": self.version,
            "retries": self.retries,
            "retry_delay_seconds": self.retry_delay_seconds,
            "retry_jitter_factor": self.retry_jitter_factor,
            "retry_condition_fn": self.retry_condition_fn,
            "timeout_seconds": self.timeout_seconds,
            "task_run_name": self.task_run_name,
            "log_prints": self.log_prints,
            "on_completion": self.on_completion,
            "on_failure": self.on_failure,
            "on_running": self.on_running,
            "cache_policy": self.cache_policy,
            "cache_key_fn": self.cache_key_fn,
            "cache_expiration": self.cache_expiration,
            "refresh_cache": self.refresh_cache,
            "persist_result": self.persist_result,
            "result_storage": self.result_storage,
            "result_serializer": self.result_serializer,
        }
        unknown = set(changes) - set(options)
        if unknown:
            raise TypeError(f"Unknown task options: {', '.join(sorted(unknown))}")
        options.update(changes)
        clone: Task[P, R] = Task(self.fn, **options)
        if self.result_seam is not self._options_seam:
            clone.result_seam = self.result_seam  # a seam set by hand goes along
        return clone

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Arguments of one call as ``{parameter: value}`` (defaults applied)."""
        if self._simple and len(args) <= len(self._positional):
            # Fast path for plain signatures: no inspect.BoundArguments machinery.
            params = dict(zip(self._positional, args, strict=False))
            if kwargs:
                for key in kwargs:
                    if key in params:
                        raise TypeError(f"{self.name}() got multiple values for argument {key!r}")
                params.update(kwargs)
            if len(params) < len(self._positional):
                for key, default in self._defaults:
                    if key not in params:
                        if default is inspect.Parameter.empty:
                            raise TypeError(f"{self.name}() missing required argument {key!r}")
                        params[key] = default
            elif len(params) > len(self._positional):
                extra = set(params) - set(self._positional)
                raise TypeError(f"{self.name}() got unexpected arguments: {sorted(extra)}")
            return params
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return dict(bound.arguments)

    def call_fn(self, parameters: dict[str, Any]) -> Any:
        """Call the function with bound parameters (``*args``/``**kwargs`` re-expanded)."""
        if self._simple:
            return self.fn(**parameters)  # type: ignore[call-arg]
        args, kwargs = _unbind(self._signature, parameters)
        return self.fn(*args, **kwargs)

    @overload
    def __call__(
        self: Task[P, Coroutine[Any, Any, T]], *args: P.args, **kwargs: P.kwargs
    ) -> Coroutine[Any, Any, T]: ...

    @overload
    def __call__(self: Task[P, T], *args: P.args, **kwargs: P.kwargs) -> T: ...

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the task now, in this thread, and return its result.

        ``return_state=True`` returns the final :class:`~flowyard.sdk.states.State`
        instead; ``wait_for=[futures]`` waits for other runs first. An ``async`` task
        returns a coroutine to await.
        """
        task_engine = _engine()
        return_state = kwargs.pop("return_state", False) if kwargs else False
        wait_for = kwargs.pop("wait_for", None) if kwargs else None
        if self.is_async:
            return task_engine.run_task_async(
                self, args, kwargs, wait_for=wait_for, return_state=return_state
            )
        return task_engine.run_task_sync(
            self, args, kwargs, wait_for=wait_for, return_state=return_state
        )

    def submit(self, *args: Any, **kwargs: Any) -> TaskFuture[R]:
        """Run the task on the flow's task runner; returns a future at once.

        Futures among the arguments are resolved (waited for) before the run starts and
        recorded as the run's upstream dependencies. ``wait_for=[futures]`` adds ordering
        without passing values.
        """
        wait_for = kwargs.pop("wait_for", None)
        return cast("TaskFuture[R]", _engine().submit_task(self, args, kwargs, wait_for))

    def map(self, *args: Any, **kwargs: Any) -> TaskFutureList[R]:
        """Submit one run per element of the iterable arguments.

        Iterable arguments (lists, tuples, ranges, generators, future lists) must all have
        the same length; wrap an iterable in :class:`unmapped` to pass it whole to every
        run. Strings, bytes, dicts and single futures are always passed whole.
        """
        from flowyard.sdk.futures import TaskFutureList

        wait_for = kwargs.pop("wait_for", None)
        calls = _map_calls(self, args, kwargs)
        submit = _engine().submit_task
        futures = [submit(self, a, k, wait_for) for a, k in calls]
        return TaskFutureList(futures)


_task_engine: Any = None


def _engine() -> Any:
    """The task engine module, imported on the first task call (not at ``import``)."""
    global _task_engine
    if _task_engine is None:
        from flowyard.sdk.engine import task_engine

        _task_engine = task_engine
    return _task_engine


def _positional_names(signature: inspect.Signature) -> tuple[str, ...]:
    return tuple(
        name
        for name, p in signature.parameters.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    )


def _is_simple(signature: inspect.Signature) -> bool:
    """True when every parameter is positional-or-keyword: binding is a plain zip."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    return all(p.kind is kind for p in signature.parameters.values())


def _unbind(
    signature: inspect.Signature, parameters: dict[str, Any]
) -> tuple[list[Any], dict[str, Any]]:
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for name, param in signature.parameters.items():
        if name not in parameters:
            continue
        value = parameters[name]
        if param.kind is param.VAR_POSITIONAL:
            args.extend(value)
        elif param.kind is param.VAR_KEYWORD:
            kwargs.update(value)
        elif param.kind is param.POSITIONAL_ONLY or (
            param.kind is param.POSITIONAL_OR_KEYWORD and not kwargs
        ):
            args.append(value)
        else:
            kwargs[name] = value
    return args, kwargs


def _is_mapped(value: Any) -> bool:
    from flowyard.sdk.futures import TaskFuture

    if isinstance(value, str | bytes | dict | unmapped | TaskFuture):
        return False
    return isinstance(value, Iterable)


def _map_calls(
    task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    positional = [list(a) if _is_mapped(a) else a for a in args]
    keywords = {k: list(v) if _is_mapped(v) else v for k, v in kwargs.items()}
    lengths = {len(v) for v, o in zip(positional, args, strict=True) if _is_mapped(o)}
    lengths |= {len(v) for k, v in keywords.items() if _is_mapped(kwargs[k])}
    if not lengths:
        raise ValueError(f"{task.name}.map() needs at least one iterable argument")
    if len(lengths) > 1:
        raise ValueError(f"{task.name}.map() got iterables of different lengths: {sorted(lengths)}")
    count = lengths.pop()

    def pick(original: Any, value: Any, i: int) -> Any:
        if isinstance(original, unmapped):
            return original.value
        return value[i] if _is_mapped(original) else value

    calls = []
    for i in range(count):
        call_args = tuple(pick(o, v, i) for o, v in zip(args, positional, strict=True))
        call_kwargs = {k: pick(kwargs[k], v, i) for k, v in keywords.items()}
        calls.append((call_args, call_kwargs))
    return calls


@overload
def task(fn: Callable[P, R], /) -> Task[P, R]: ...


@overload
def task(
    *,
    name: str | None = None,
    description: str | None = None,
    tags: Iterable[str] | None = None,
    version: str | None = None,
    retries: int = 0,
    retry_delay_seconds: RetryDelay = 0,
    retry_jitter_factor: float | None = None,
    retry_condition_fn: Callable[..., bool] | None = None,
    timeout_seconds: float | None = None,
    task_run_name: str | Callable[..., str] | None = None,
    log_prints: bool | None = None,
    on_completion: Iterable[TaskHook] | None = None,
    on_failure: Iterable[TaskHook] | None = None,
    on_running: Iterable[TaskHook] | None = None,
    cache_policy: CachePolicy | None = None,
    cache_key_fn: Callable[..., str | None] | None = None,
    cache_expiration: timedelta | float | None = None,
    refresh_cache: bool = False,
    persist_result: bool | None = None,
    result_storage: Any = None,
    result_serializer: Any = None,
) -> Callable[[Callable[P, R]], Task[P, R]]: ...


def task(fn: Callable[P, R] | None = None, /, **options: Any) -> Any:
    """Turn a function into a :class:`Task`: ``@task`` or ``@task(retries=3, ...)``.

    See :class:`Task` for the options.
    """
    if fn is not None:
        return Task(fn, **options)

    def decorator(inner: Callable[P, R]) -> Task[P, R]:
        return Task(inner, **options)

    return decorator
