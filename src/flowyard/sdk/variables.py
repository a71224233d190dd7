"""Variables: small named JSON values kept by the server and shared by every run.

::

    from flowyard import Variable

    Variable.set("batch_size", 500)
    size = Variable.get("batch_size", default=100)

Names are lowercase letters, digits, ``-`` and ``_``; values are any JSON value (at most
5,000 characters serialized). Every method has an ``a``-prefixed async twin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flowyard.exceptions import ObjectAlreadyExists, ObjectNotFound
from flowyard.sdk._client_calls import call_async, sync_client


@dataclass
class Variable:
    """A named JSON value stored by the server (see the module docstring).

    Attributes:
        name: the variable's name.
        value: its JSON value.
        tags: its tags.
    """

    name: str
    value: Any = None
    tags: list[str] = field(default_factory=list)

    @classmethod
    def get(cls, name: str, default: Any = None) -> Any:
        """The value of variable ``name``, or ``default`` if there is no such variable."""
        try:
            return sync_client().read_variable_by_name(name).value
        except ObjectNotFound:
            return default

    @classmethod
    async def aget(cls, name: str, default: Any = None) -> Any:
        """Async :meth:`get`."""
        try:
            found = await call_async(lambda client: client.read_variable_by_name(name))
        except ObjectNotFound:
            return default
        return found.value

    @classmethod
    def set(
        cls, name: str, value: Any, tags: list[str] | None = None, overwrite: bool = False
    ) -> Variable:
        """Create variable ``name`` with ``value``; returns it.

        Args:
            name: lowercase letters, digits, ``-`` and ``_``.
            value: any JSON value.
            tags: tags of the variable (with ``overwrite``, None keeps the current ones).
            overwrite: replace the value if the variable exists.

        Raises:
            ValueError: the variable exists and ``overwrite`` is false.
            InvalidRequest: the name or value is not acceptable to the server.
        """
        client = sync_client()
        try:
            created = client.create_variable(name, value, tags=tags)
        except ObjectAlreadyExists:
            if not overwrite:
                raise _exists(name) from None
            client.update_variable_by_name(name, value=value, tags=tags)
            created = client.read_variable_by_name(name)
        return cls(created.name, created.value, list(created.tags))

    @classmethod
    async def aset(
        cls, name: str, value: Any, tags: list[str] | None = None, overwrite: bool = False
    ) -> Variable:
        """Async :meth:`set`."""
        try:
            created = await call_async(lambda c: c.create_variable(name, value, tags=tags))
        except ObjectAlreadyExists:
            if not overwrite:
                raise _exists(name) from None
            await call_async(lambda c: c.update_variable_by_name(name, value=value, tags=tags))
            created = await call_async(lambda c: c.read_variable_by_name(name))
        return cls(created.name, created.value, list(created.tags))

    @classmethod
    def unset(cls, name: str) -> bool:
        """Delete variable ``name``; False if there was none."""
        try:
            sync_client().delete_variable_by_name(name)
        except ObjectNotFound:
            return False
        return True

    @classmethod
    async def aunset(cls, name: str) -> bool:
        """Async :meth:`unset`."""
        try:
            await call_async(lambda client: client.delete_variable_by_name(name))
        except ObjectNotFound:
            return False
        return True


def _exists(name: str) -> ValueError:
    return ValueError(
        f"Variable {name!r} already exists; pass overwrite=True to replace its value."
    )
