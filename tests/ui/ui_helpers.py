"""Helpers of the UI's tests: seeding runs through the API, counting SQL statements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Seeder:
    client: httpx.AsyncClient
    flows: dict[str, str] = field(default_factory=dict)

    async def flow(self, name: str) -> str:
        if name not in self.flows:
            response = await self.client.post("/api/flows/", json={"name": name})
            assert response.status_code in (200, 201), response.text
            self.flows[name] = response.json()["id"]
        return self.flows[name]

    async def run(self, flow: str = "etl", **fields: Any) -> dict[str, Any]:
        body = {"flow_id": await self.flow(flow), **fields}
        response = await self.client.post("/api/flow_runs/", json=body)
        assert response.status_code == 201, response.text
        run: dict[str, Any] = response.json()
        return run


@dataclass
class QueryLog:
    statements: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.statements)
