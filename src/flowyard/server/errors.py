"""Domain errors: what an operation answers when it cannot do what was asked.

Every layer below the routers (operations, orchestration, queries, blocks, schedules) raises
these rather than HTTP errors; ``app.py`` maps each class to its status code in one place, so
the same refusal reads the same over HTTP, on a websocket, in a UI page or in a service log.
This module imports nothing of ours, so any server layer may raise them.

::

    DomainError
    ├── NotFound      404  the object is not in this workspace (or does not exist)
    ├── Conflict      409  it exists already, or something still depends on it
    ├── Invalid       422  the request is well-formed but refers to something unusable
    ├── Forbidden     403  the actor lacks the operation's permission
    ├── Unauthorized  401  no valid credentials
    ├── Gone          410  the object existed but is no longer available
    ├── Misconfigured 500  this server's configuration or key cannot serve it (an operator's fix)
    └── Unavailable   503  try again shortly (``retry_after`` seconds)
"""

from __future__ import annotations


class DomainError(Exception):
    """Base: ``message`` is shown to the user as the answer's ``detail``."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class Invalid(DomainError):
    status_code = 422


class Forbidden(DomainError):
    status_code = 403


class Unauthorized(DomainError):
    status_code = 401


class Gone(DomainError):
    status_code = 410


class Misconfigured(DomainError):
    """Not the caller's fault and not transient: a bad encryption key setting, or stored
    data this server's key cannot decrypt. The message says what the operator must fix."""

    status_code = 500


class Unavailable(DomainError):
    status_code = 503

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after
