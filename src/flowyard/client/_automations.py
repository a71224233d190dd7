"""Client methods for /automations: list, read, pause, resume and delete them."""

from __future__ import annotations

import uuid

from flowyard.client._http import BaseClient, compose, dump, parse, parse_list
from flowyard.schemas.automations import Automation, AutomationCreate


class AutomationsAPI(BaseClient):
    """Automations: a trigger on the event stream and the actions it takes."""

    async def create_automation(self, automation: AutomationCreate) -> Automation:
        """Create an automation (refused, with the reason, if its trigger would match
        every event or a template does not parse)."""
        response = await self._request("POST", "/automations/", json=dump(automation))
        return parse(Automation, response)

    async def read_automations(
        self, *, limit: int | None = None, offset: int = 0
    ) -> list[Automation]:
        """Automations of the workspace, by name."""
        body = compose(sort="NAME_ASC", limit=limit, offset=offset)
        response = await self._request("POST", "/automations/filter", json=body)
        return parse_list(Automation, response)

    async def read_automations_by_name(self, name: str) -> list[Automation]:
        """Every automation called ``name`` (names need not be unique)."""
        body = {"automations": {"name": {"any_": [name]}}}
        response = await self._request("POST", "/automations/filter", json=body)
        return parse_list(Automation, response)

    async def read_automation(self, automation_id: uuid.UUID) -> Automation:
        """Read one automation by id. Raises ``ObjectNotFound``."""
        return parse(Automation, await self._request("GET", f"/automations/{automation_id}"))

    async def set_automation_enabled(self, automation_id: uuid.UUID, enabled: bool) -> None:
        """Resume (``True``) or pause (``False``) an automation."""
        await self._request("PATCH", f"/automations/{automation_id}", json={"enabled": enabled})

    async def delete_automation(self, automation_id: uuid.UUID) -> None:
        """Delete an automation. Raises ``ObjectNotFound``."""
        await self._request("DELETE", f"/automations/{automation_id}")
