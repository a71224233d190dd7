"""The one exception hierarchy of Flowyard.

::

    FlowyardError
    ├── ConfigurationError          a setting or profile is invalid
    ├── ClientError                 talking to the API failed
    │   ├── ServerUnavailable       the API could not be reached at all
    │   ├── ObjectNotFound          404
    │   ├── ObjectAlreadyExists     409
    │   ├── InvalidRequest          4xx with a validation message
    │   └── ConcurrencySlotTimeout  concurrency slots stayed taken past a timeout
    ├── OrchestrationError          the server refused a state transition
    │   └── Abort                   the server answered ABORT
    └── FlowyardRunError            raised by the engine around user code
        ├── ParameterValidationError
        ├── TaskTimeout / FlowTimeout
        ├── FlowPauseTimeout        a paused flow run was not resumed in time
        ├── Cancelled / Crashed
        ├── UpstreamTaskError
        └── MissingResult           a persisted result cannot be found or read
"""

from __future__ import annotations


class FlowyardError(Exception):
    """Base of every error Flowyard raises on purpose."""


class ConfigurationError(FlowyardError):
    """A setting, profile or environment variable is invalid."""


class ClientError(FlowyardError):
    """A request to the Flowyard API failed."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class ServerUnavailable(ClientError):
    """The API could not be reached (connection refused, DNS, timeout)."""


class ObjectNotFound(ClientError):
    """The API answered 404."""


class ObjectAlreadyExists(ClientError):
    """The API answered 409."""


class InvalidRequest(ClientError):
    """The API refused the request body or parameters (4xx)."""


class ConcurrencySlotTimeout(ClientError, TimeoutError):
    """Concurrency slots could not be acquired before the caller's timeout."""


class OrchestrationError(FlowyardError):
    """The server did not accept a proposed state."""


class Abort(OrchestrationError):
    """The server aborted a transition: the run must not proceed."""


class FlowyardRunError(FlowyardError):
    """Raised by the run engine around user code."""


class ParameterValidationError(FlowyardRunError):
    """Arguments do not match the flow's signature."""


class TaskTimeout(FlowyardRunError, TimeoutError):
    """A task exceeded its timeout_seconds."""


class FlowTimeout(FlowyardRunError, TimeoutError):
    """A flow exceeded its timeout_seconds."""


class FlowPauseTimeout(FlowyardRunError, TimeoutError):
    """A paused flow run was not resumed within its timeout."""


class Cancelled(FlowyardRunError):
    """The run was cancelled."""


class Crashed(FlowyardRunError):
    """The run ended because of an infrastructure or interpreter-level failure."""


class UpstreamTaskError(FlowyardRunError):
    """A task could not run because a task it depends on did not complete."""


class MissingResult(FlowyardRunError):
    """A run's result was not persisted, or its record can no longer be read."""
