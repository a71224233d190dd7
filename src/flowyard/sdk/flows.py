"""``@flow``: a Python function whose calls are recorded, orchestrated flow runs.

A flow run's states are decided by the server (retries, waits, cancellation), so
calling a flow talks to the API a handful of times -- create the run, propose Running,
propose the final state -- while the tasks inside it are orchestrated in process.
Calling a flow from inside another flow makes a subflow run linked to its parent.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Generic, ParamSpec, TypeVar, overload

from flowyard.exceptions import FlowyardError, ParameterValidationError

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

FlowHook = Callable[..., Any]
_FORBIDDEN_NAME_CHARS = set("/%&><")


class Flow(Generic[P, R]):
    """A function whose every call is a flow run.

    Args:
        fn: the function (sync or ``async``).
        name: the flow's name; defaults to the function's name with ``_`` as ``-``.
        version: recorded on every run; defaults to a hash of the source file.
        description: defaults to the docstring.
        flow_run_name: a ``str.format`` template over the parameters
            (``"etl-{date}"``) or a callable returning the name.
        retries: how many times a failed run is retried (decided by the server).
        retry_delay_seconds: the wait before each retry.
        timeout_seconds: fail the run (state TimedOut) after this long.
        validate_parameters: check and coerce arguments against the type hints with
            pydantic before the run starts.
        log_prints: capture ``print`` inside the flow (and its tasks) as log lines.
        task_runner: the runner for ``.submit()``/``.map()``; default
            :class:`~flowyard.sdk.task_runners.ThreadPoolTaskRunner`.
        on_completion, on_failure, on_cancellation, on_crashed, on_running: hooks
            called as ``hook(flow, flow_run, state)``.
        persist_result: write the flow's result -- and by default those of its tasks --
            to result storage, so it can be read back later (:func:`load_result`).
            Default: when a storage or serializer is given, or the parent flow persists.
        result_storage: a :class:`~flowyard.sdk.storage.ResultStorage` or a folder
            (default ``$FLOWYARD_HOME/storage``), also the default of its tasks.
        result_serializer: ``"pickle"`` (cloudpickle, the default), ``"json"`` or a
            :class:`~flowyard.sdk.serializers.Serializer`, also the default of its tasks.
    """

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        version: str | None = None,
        description: str | None = None,
        flow_run_name: str | Callable[..., str] | None = None,
        retries: int | None = None,
        retry_delay_seconds: float | None = None,
        timeout_seconds: float | None = None,
        validate_parameters: bool = True,
        log_prints: bool | None = None,
        task_runner: Any = None,
        on_completion: Iterable[FlowHook] | None = None,
        on_failure: Iterable[FlowHook] | None = None,
        on_cancellation: Iterable[FlowHook] | None = None,
        on_crashed: Iterable[FlowHook] | None = None,
        on_running: Iterable[FlowHook] | None = None,
        persist_result: bool | None = None,
        result_storage: Any = None,
        result_serializer: Any = None,
    ) -> None:
        if not callable(fn):
            raise TypeError("@flow must decorate a function")
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "flow").replace("_", "-").strip("<>")
        if not self.name or _FORBIDDEN_NAME_CHARS & set(self.name):
            raise ValueError(f"Invalid flow name {self.name!r}: it may not contain / % & > <")
        if retries is not None and retries < 0:
            raise ValueError("retries must be >= 0")
        self._version = version
        self.description = description if description is not None else inspect.getdoc(fn)
        self.flow_run_name = flow_run_name
        self.retries = retries or 0
        self.retry_delay_seconds = retry_delay_seconds or 0
        self.timeout_seconds = timeout_seconds
        self.should_validate_parameters = validate_parameters
        self.log_prints = log_prints
        if isinstance(task_runner, type):
            task_runner = task_runner()
        # None means the default ThreadPoolTaskRunner, made when a run starts (importing
        # it here would slow down `import` of every module that defines a flow).
        self.task_runner = task_runner
        self.on_completion = list(on_completion or ())
        self.on_failure = list(on_failure or ())
        self.on_cancellation = list(on_cancellation or ())
        self.on_crashed = list(on_crashed or ())
        self.on_running = list(on_running or ())
        self.persist_result = persist_result
        self.result_storage = result_storage
        self.result_serializer = result_serializer
        if result_storage is not None or result_serializer is not None:
            from flowyard.sdk.serializers import resolve_serializer
            from flowyard.sdk.storage import resolve_storage

            # Resolved once: a bad serializer name fails here, not after the run.
            self.result_storage = resolve_storage(result_storage)
            self.result_serializer = (
                None if result_serializer is None else resolve_serializer(result_serializer)
            )
        self.is_async = inspect.iscoroutinefunction(fn)
        self._signature = inspect.signature(fn)
        self._hints: dict[str, Any] | None = None
        self._adapters: dict[str, Any] | None = None
        self.__doc__ = fn.__doc__
        self.__name__ = getattr(fn, "__name__", self.name)
        self.__wrapped__ = fn

    def __repr__(self) -> str:
        return f"Flow(name={self.name!r})"

    @property
    def version(self) -> str | None:
        """The version recorded on runs: the given one, else a hash of the source file."""
        if self._version is None:
            self._version = _source_hash(self.fn)
        return self._version

    def with_options(self, **changes: Any) -> Flow[P, R]:
        """A copy of this flow with some options replaced (same names as ``@flow``)."""
        options: dict[str, Any] = {
            "name": self.name,
            "version": self._version,
            "description": self.description,
            "flow_run_name": self.flow_run_name,
            "retries": self.retries,
            "retry_delay_seconds": self.retry_delay_seconds,
            "timeout_seconds": self.timeout_seconds,
            "validate_parameters": self.should_validate_parameters,
            "log_prints": self.log_prints,
            "task_runner": self.task_runner,
            "on_completion": self.on_completion,
            "on_failure": self.on_failure,
            "on_cancellation": self.on_cancellation,
            "on_crashed": self.on_crashed,
            "on_running": self.on_running,
            "persist_result": self.persist_result,
            "result_storage": self.result_storage,
            "result_serializer": self.result_serializer,
        }
        unknown = set(changes) - set(options)
        if unknown:
            raise TypeError(f"Unknown flow options: {', '.join(sorted(unknown))}")
        options.update(changes)
        return Flow(self.fn, **options)

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The call's arguments as ``{parameter: value}``, defaults applied.

        Raises:
            ParameterValidationError: the arguments do not fit the signature.
        """
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise ParameterValidationError(
                f"Invalid arguments for flow {self.name!r}: {exc}"
            ) from None
        bound.apply_defaults()
        return dict(bound.arguments)

    def validate_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """Check and coerce ``parameters`` against the type hints (pydantic).

        Raises:
            ParameterValidationError: naming the first parameter whose value does not fit.
        """
        hints = self._parameter_hints()
        validated = dict(parameters)
        for name, value in parameters.items():
            hint = hints.get(name)
            if hint is None or _is_future_like(value):
                continue
            if hint in _UNCHANGED_WHEN_EXACT and type(value) is hint:
                continue  # pydantic would return it as it is; building its validator would not
            adapter = self._parameter_adapter(name, hint)
            if adapter is None:
                continue
            from pydantic import ValidationError

            try:
                validated[name] = adapter.validate_python(value)
            except ValidationError as exc:
                error = exc.errors()[0]
                where = "".join(f"[{p!r}]" for p in error["loc"])
                raise ParameterValidationError(
                    f"Flow {self.name!r} got an invalid value for parameter {name!r}{where}: "
                    f"{error['msg']} (got {value!r:.200})"
                ) from None
        return validated

    def _parameter_hints(self) -> dict[str, Any]:
        """The type each parameter is validated against (``*args`` as a tuple of its hint,
        ``**kwargs`` as a dict); parameters without a usable hint are left out."""
        if self._hints is None:
            import typing

            try:
                hints = typing.get_type_hints(self.fn)
            except Exception:  # noqa: BLE001 - unresolvable hints: validate what we can
                hints = dict(getattr(self.fn, "__annotations__", {}))
            found: dict[str, Any] = {}
            for name, param in self._signature.parameters.items():
                hint = hints.get(name)
                if hint is None or isinstance(hint, str):
                    continue
                if param.kind is param.VAR_POSITIONAL:
                    hint = tuple[hint, ...]  # type: ignore[valid-type]
                elif param.kind is param.VAR_KEYWORD:
                    hint = dict[str, hint]  # type: ignore[valid-type]
                found[name] = hint
            self._hints = found
        return self._hints

    def _parameter_adapter(self, name: str, hint: Any) -> Any:
        """The pydantic validator of one parameter, built on first need (building one costs
        more than a whole small flow run); ``None`` for a type pydantic cannot handle."""
        if self._adapters is None:
            self._adapters = {}
        if name not in self._adapters:
            from pydantic import ConfigDict, TypeAdapter

            try:
                adapter = TypeAdapter(hint, config=ConfigDict(arbitrary_types_allowed=True))
            except Exception:  # noqa: BLE001 - a type pydantic cannot handle is not checked
                adapter = None
            self._adapters[name] = adapter
        return self._adapters[name]

    def call_fn(self, parameters: dict[str, Any]) -> Any:
        """Call the function with bound parameters (``*args``/``**kwargs`` re-expanded)."""
        from flowyard.sdk.tasks import _unbind

        args, kwargs = _unbind(self._signature, parameters)
        return self.fn(*args, **kwargs)

    @overload
    def __call__(
        self: Flow[P, Coroutine[Any, Any, T]], *args: P.args, **kwargs: P.kwargs
    ) -> Coroutine[Any, Any, T]: ...

    @overload
    def __call__(self: Flow[P, T], *args: P.args, **kwargs: P.kwargs) -> T: ...

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the flow and return its result (an ``async`` flow returns a coroutine).

        ``return_state=True`` returns the final :class:`~flowyard.sdk.states.State`
        instead of the value (and never raises the flow's exception).
        """
        from flowyard.sdk.engine import flow_engine

        return_state = kwargs.pop("return_state", False)
        if self.is_async:
            return flow_engine.run_flow_async(self, args, kwargs, return_state=return_state)
        return flow_engine.run_flow_sync(self, args, kwargs, return_state=return_state)

    def to_deployment(self, name: str, **options: Any) -> Any:
        """Describe a deployment of this flow for :func:`flowyard.serve` or ``.apply()``.

        Options: ``cron``, ``interval``, ``rrule`` (with ``timezone``, ``anchor_date``),
        ``schedules``, ``parameters``, ``tags``, ``description``, ``version``, ``paused``,
        ``work_pool_name``, ``work_queue_name``, ``job_variables``,
        ``enforce_parameter_schema``, ``concurrency_limit``.
        """
        from flowyard.sdk.deployments import to_deployment

        try:
            return to_deployment(self, name, **options)
        except FlowyardError as exc:
            raise _at_the_call(exc) from None

    def deploy(self, name: str, *, work_pool_name: str, **options: Any) -> Any:
        """Create or update a deployment run by the workers of ``work_pool_name``; its id.

        Takes the options of :meth:`to_deployment`. For a flow from :meth:`from_source`,
        the deployment's pull steps fetch that source (a git clone, or the directory).
        ``build`` and ``push`` are accepted for compatibility and ignored (no images).
        """
        from flowyard.sdk.deployments import deploy

        options.pop("build", None)
        options.pop("push", None)
        try:
            return deploy(self, name, work_pool_name=work_pool_name, **options)
        except FlowyardError as exc:
            raise _at_the_call(exc) from None

    def serve(self, name: str, *, pause_on_shutdown: bool = True, **options: Any) -> None:
        """Run this flow's deployment ``name`` from this process until Ctrl-C: its scheduled
        runs (``cron=``, ``interval=``, ``rrule=``) and those requested with
        ``flowyard deployment run``, each in a subprocess. Takes the options of
        :meth:`to_deployment`, plus ``limit`` and ``pause_on_shutdown``."""
        from flowyard.sdk.serve import serve

        limit = options.pop("limit", None)
        serve(self.to_deployment(name, **options), limit=limit, pause_on_shutdown=pause_on_shutdown)

    @staticmethod
    def from_source(
        source: Any, entrypoint: str, *, access_token: Any = None, credentials: Any = None
    ) -> Flow[..., Any]:
        """The flow at ``entrypoint`` (``"file.py:function"``) in ``source``: a directory or
        a git repository URL (``url@branch`` picks a branch). ``.deploy(...)`` on it makes
        a deployment whose runs fetch that source first. A private repository takes an
        ``access_token`` (or ``credentials``): a saved Secret block (recorded by its name),
        a ``{{ prefect.blocks.secret.<name> }}`` reference, or a token."""
        from flowyard.sdk.deployments import from_source

        try:
            return from_source(
                source, entrypoint, access_token=access_token, credentials=credentials
            )
        except FlowyardError as exc:
            raise _at_the_call(exc) from None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_adapters"] = None  # rebuilt on demand; pydantic adapters need not travel
        state["_hints"] = None
        return state


def _at_the_call(exc: FlowyardError) -> FlowyardError:
    """An error of the caller's arguments (a bad cron, a refused URL), shown at the
    caller's line: Flowyard's own frames would only hide the message."""
    return exc.with_traceback(None)


# Types whose exact instances pydantic's lax mode hands back unchanged: for these, checking
# ``type(value) is hint`` is the whole validation (a subclass, or a str for an int, still
# goes through pydantic).
_UNCHANGED_WHEN_EXACT: frozenset[type] = frozenset({int, float, str, bool, bytes})


def _is_future_like(value: Any) -> bool:
    from flowyard.sdk.futures import TaskFuture
    from flowyard.sdk.states import State

    return isinstance(value, TaskFuture | State)


def _source_hash(fn: Callable[..., Any]) -> str | None:
    import hashlib

    try:
        path = inspect.getsourcefile(fn)
        if path is None:
            return None
        with open(path, "rb") as source:
            return hashlib.md5(source.read(), usedforsecurity=False).hexdigest()
    except (OSError, TypeError):
        return None


@overload
def flow(fn: Callable[P, R], /) -> Flow[P, R]: ...


@overload
def flow(
    *,
    name: str | None = None,
    version: str | None = None,
    description: str | None = None,
    flow_run_name: str | Callable[..., str] | None = None,
    retries: int | None = None,
    retry_delay_seconds: float | None = None,
    timeout_seconds: float | None = None,
    validate_parameters: bool = True,
    log_prints: bool | None = None,
    task_runner: Any = None,
    on_completion: Iterable[FlowHook] | None = None,
    on_failure: Iterable[FlowHook] | None = None,
    on_cancellation: Iterable[FlowHook] | None = None,
    on_crashed: Iterable[FlowHook] | None = None,
    on_running: Iterable[FlowHook] | None = None,
    persist_result: bool | None = None,
    result_storage: Any = None,
    result_serializer: Any = None,
) -> Callable[[Callable[P, R]], Flow[P, R]]: ...


def flow(fn: Callable[P, R] | None = None, /, **options: Any) -> Any:
    """Turn a function into a :class:`Flow`: ``@flow`` or ``@flow(name="etl", ...)``.

    See :class:`Flow` for the options.
    """
    if fn is not None:
        return Flow(fn, **options)

    def decorator(inner: Callable[P, R]) -> Flow[P, R]:
        return Flow(inner, **options)

    return decorator
