"""Cache policies: what a task's cache key is made of.

A policy turns one task call into a key (or None: do not cache). Policies compose::

    @task(cache_policy=INPUTS + TASK_SOURCE, cache_expiration=timedelta(hours=1))
    def fetch(url: str, session: Session) -> bytes: ...

    INPUTS - "session"          # inputs, except the ``session`` argument
    DEFAULT - RUN_ID            # inputs and source: shared across flow runs

A call whose key has an unexpired record in result storage finishes ``Cached`` with
that record's value, without running the body -- in any process that shares the
storage. The built-in policies:

* :data:`INPUTS` -- the arguments (JSON-encoded when possible, else cloudpickled);
* :data:`TASK_SOURCE` -- the task function's source code;
* :data:`FLOW_PARAMETERS` -- the parameters of the enclosing flow run;
* :data:`RUN_ID` -- the enclosing flow run's id (the task run's own id outside a flow);
* :data:`NO_CACHE` -- never cache;
* :data:`DEFAULT` -- ``INPUTS + TASK_SOURCE + RUN_ID``: the policy of a task that
  persists its result without naming a policy.

Subclass :class:`CachePolicy` and implement ``compute_key`` for a policy of your own.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flowyard.sdk.serializers import json_default

if TYPE_CHECKING:
    from flowyard.sdk.context import TaskRunContext


def hash_objects(*objects: Any) -> str:
    """A stable hex digest of ``objects``: the same in every process.

    JSON (keys sorted) is tried first, because it is stable across Python versions and
    processes; objects JSON cannot encode are cloudpickled instead.

    Raises:
        ValueError: the objects can be neither JSON-encoded nor pickled.
    """
    try:
        blob = json.dumps(objects, sort_keys=True, default=json_default).encode()
    except (TypeError, ValueError):
        import cloudpickle  # type: ignore[import-untyped]

        try:
            blob = b"pickle:" + cloudpickle.dumps(objects)
        except Exception as exc:  # noqa: BLE001 - any pickling error means "cannot hash"
            raise ValueError(f"Cannot hash {_describe(objects)}: {exc}") from None
    return hashlib.sha256(blob).hexdigest()


def _describe(objects: tuple[Any, ...]) -> str:
    kinds = sorted({type(o).__name__ for o in objects})
    return "objects of type " + ", ".join(kinds)


class CachePolicy:
    """Computes a task call's cache key; combine policies with ``+``, remove with ``-``.

    ``policy + other`` keys on both. ``policy - "name"`` leaves the argument ``name`` out
    of :data:`INPUTS`; ``policy - OTHER_POLICY`` drops that policy from a combination.
    """

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        """The key for one call, or None to not cache it.

        Args:
            task_ctx: the run's context (``task_ctx.task``, ``task_ctx.task_run``).
            inputs: the call's arguments, by parameter name.
            flow_parameters: the enclosing flow run's parameters ({} outside a flow).
            kwargs: reserved for future use (``flow_parameters_key``: a precomputed
                hash of the flow parameters).
        """
        raise NotImplementedError

    def parts(self) -> tuple[CachePolicy, ...]:
        """The policies this one combines (itself, for a single policy)."""
        return (self,)

    def __add__(self, other: CachePolicy) -> CachePolicy:
        if not isinstance(other, CachePolicy):
            return NotImplemented
        combined: list[CachePolicy] = []
        for part in (*self.parts(), *other.parts()):
            if not isinstance(part, NoCache) and part not in combined:
                combined.append(part)
        if not combined:
            return NO_CACHE
        if len(combined) == 1:
            return combined[0]
        return CompoundCachePolicy(tuple(combined))

    def __sub__(self, other: str | CachePolicy) -> CachePolicy:
        if isinstance(other, str):
            return self._without_input(other)
        if isinstance(other, CachePolicy):
            removed = set(other.parts())
            kept = [p for p in self.parts() if p not in removed]
            if not kept:
                return NO_CACHE
            return kept[0] if len(kept) == 1 else CompoundCachePolicy(tuple(kept))
        return NotImplemented

    def _without_input(self, name: str) -> CachePolicy:
        # Only INPUTS looks at arguments; every other policy is unchanged.
        return self


@dataclass(frozen=True)
class Inputs(CachePolicy):
    """Keys on the call's arguments, except those named in ``exclude``."""

    exclude: tuple[str, ...] = ()

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        """A hash of the arguments.

        Raises:
            ValueError: an argument can be neither JSON-encoded nor pickled.
        """
        if self.exclude:
            inputs = {k: v for k, v in inputs.items() if k not in self.exclude}
        return hash_objects(inputs)

    def _without_input(self, name: str) -> CachePolicy:
        return Inputs(tuple(sorted({*self.exclude, name})))

    def __repr__(self) -> str:
        return f"INPUTS - {self.exclude!r}" if self.exclude else "INPUTS"


@dataclass(frozen=True)
class TaskSource(CachePolicy):
    """Keys on the source code of the task's function: editing it invalidates the cache."""

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        """A hash of the function's source (of its bytecode when there is no source)."""
        return _source_hash(task_ctx.task.fn)

    def __repr__(self) -> str:
        return "TASK_SOURCE"


@functools.lru_cache(maxsize=4096)
def _source_hash(fn: Callable[..., Any]) -> str:
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):
        code = getattr(fn, "__code__", None)
        return hash_objects(repr(code.co_code) if code else repr(fn))
    return hashlib.sha256(source.encode()).hexdigest()


@dataclass(frozen=True)
class FlowParameters(CachePolicy):
    """Keys on the parameters of the enclosing flow run (no key outside a flow)."""

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        """A hash of the flow run's parameters."""
        precomputed = kwargs.get("flow_parameters_key")
        if precomputed is not None:
            return str(precomputed)
        return hash_objects(flow_parameters) if flow_parameters else None

    def __repr__(self) -> str:
        return "FLOW_PARAMETERS"


@dataclass(frozen=True)
class RunId(CachePolicy):
    """Keys on the flow run's id: results are shared within one flow run only."""

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        """The flow run id (the task run's id for a task called outside a flow)."""
        run = task_ctx.task_run
        return str(run.flow_run_id if run.flow_run_id is not None else run.id)

    def __repr__(self) -> str:
        return "RUN_ID"


@dataclass(frozen=True)
class NoCache(CachePolicy):
    """Never caches (results may still be persisted, under a fresh key each time)."""

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        """Always None."""
        return None

    def parts(self) -> tuple[CachePolicy, ...]:
        return ()

    def __repr__(self) -> str:
        return "NO_CACHE"


@dataclass(frozen=True)
class CacheKeyFnPolicy(CachePolicy):
    """Keys on what ``cache_key_fn(context, parameters)`` returns (None: do not cache)."""

    cache_key_fn: Callable[..., str | None]

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        """The function's answer."""
        key = self.cache_key_fn(task_ctx, inputs)
        return None if key is None else str(key)


@dataclass(frozen=True)
class CompoundCachePolicy(CachePolicy):
    """Several policies at once: the key changes when any of theirs does."""

    policies: tuple[CachePolicy, ...]

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        """A hash of the parts' keys (None when every part says None)."""
        keys = []
        for policy in self.policies:
            key = policy.compute_key(task_ctx, inputs, flow_parameters, **kwargs)
            if key is not None:
                keys.append(key)
        return hash_objects(*keys) if keys else None

    def parts(self) -> tuple[CachePolicy, ...]:
        return self.policies

    def _without_input(self, name: str) -> CachePolicy:
        return CompoundCachePolicy(tuple(p._without_input(name) for p in self.policies))

    def __repr__(self) -> str:
        return " + ".join(repr(p) for p in self.policies)


INPUTS: CachePolicy = Inputs()
"""Key on the task's arguments."""
TASK_SOURCE: CachePolicy = TaskSource()
"""Key on the task function's source code."""
FLOW_PARAMETERS: CachePolicy = FlowParameters()
"""Key on the enclosing flow run's parameters."""
RUN_ID: CachePolicy = RunId()
"""Key on the enclosing flow run's id."""
NO_CACHE: CachePolicy = NoCache()
"""Never cache."""
DEFAULT: CachePolicy = INPUTS + TASK_SOURCE + RUN_ID
"""``INPUTS + TASK_SOURCE + RUN_ID``: the policy of a task persisting its result."""


def needs_flow_parameters(policy: CachePolicy | None) -> bool:
    """Whether ``policy`` reads the flow run's parameters (worker calls then carry a
    hash of them, computed once per flow run)."""
    return policy is not None and any(isinstance(p, FlowParameters) for p in policy.parts())
