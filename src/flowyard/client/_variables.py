"""Client methods for /variables: named JSON values shared by flows."""

from __future__ import annotations

import uuid
from typing import Any

from flowyard.client._http import (
    UNSET,
    BaseClient,
    build,
    compose,
    dump,
    parse,
    parse_json,
    parse_list,
    segment,
)
from flowyard.schemas.actions import VariableCreate, VariableUpdate
from flowyard.schemas.core import Variable
from flowyard.schemas.filters import VariableFilter
from flowyard.schemas.sorting import VariableSort


class VariablesAPI(BaseClient):
    """Variables: small named JSON values (at most 5000 characters serialized)."""

    async def create_variable(
        self, name: str, value: Any, *, tags: list[str] | None = None
    ) -> Variable:
        """Create a variable. Raises ``ObjectAlreadyExists`` if the name is taken.

        Args:
            name: lowercase letters, digits, ``-`` and ``_``.
            value: any JSON value.
            tags: tags of the variable.
        """
        body = build(VariableCreate, name=name, value=value, tags=tags or [])
        return parse(Variable, await self._request("POST", "/variables/", json=dump(body)))

    async def read_variable(self, variable_id: uuid.UUID) -> Variable:
        """Read one variable by id. Raises ``ObjectNotFound``."""
        return parse(Variable, await self._request("GET", f"/variables/{variable_id}"))

    async def read_variable_by_name(self, name: str) -> Variable:
        """Read one variable by name. Raises ``ObjectNotFound``."""
        path = f"/variables/name/{segment(name)}"
        return parse(Variable, await self._request("GET", path))

    async def read_variables(
        self,
        variable_filter: VariableFilter | None = None,
        *,
        sort: VariableSort = VariableSort.NAME_ASC,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Variable]:
        """Variables matching ``variable_filter``, in ``sort`` order."""
        body = compose(variables=variable_filter, sort=str(sort), limit=limit, offset=offset)
        return parse_list(Variable, await self._request("POST", "/variables/filter", json=body))

    async def count_variables(self, variable_filter: VariableFilter | None = None) -> int:
        """How many variables match ``variable_filter``."""
        body = compose(variables=variable_filter)
        return int(parse_json(await self._request("POST", "/variables/count", json=body)))

    async def update_variable_by_name(
        self,
        name: str,
        *,
        value: Any = UNSET,
        tags: list[str] | None = None,
        new_name: str | None = None,
    ) -> None:
        """Change a variable's value, tags or name; what is not given is not touched.

        Args:
            name: the variable to change.
            value: its new value (``None`` stores JSON null).
            tags: its new tags.
            new_name: rename it.
        """
        fields: dict[str, Any] = {}
        if value is not UNSET:
            fields["value"] = value
        if tags is not None:
            fields["tags"] = tags
        if new_name is not None:
            fields["name"] = new_name
        body = build(VariableUpdate, **fields)
        path = f"/variables/name/{segment(name)}"
        await self._request("PATCH", path, json=dump(body))

    async def delete_variable_by_name(self, name: str) -> None:
        """Delete a variable by name. Raises ``ObjectNotFound``."""
        await self._request("DELETE", f"/variables/name/{segment(name)}")

    async def delete_variable(self, variable_id: uuid.UUID) -> None:
        """Delete a variable by id. Raises ``ObjectNotFound``."""
        await self._request("DELETE", f"/variables/{variable_id}")
