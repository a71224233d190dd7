"""Out-of-range input is refused at validation (422 naming the field), never a 500 later.

What the contract test (Schemathesis) found: an integer wider than the database's columns
reached the INSERT, and an empty ``startswith_`` list reached SQLAlchemy as an empty
``or_()``.
"""

from __future__ import annotations

import httpx

HUGE = 2**70


def log(level: int) -> dict[str, object]:
    return {"name": "n", "level": level, "message": "m", "timestamp": "2026-11-28T11:22:00Z"}


async def test_an_integer_beyond_the_columns_is_a_422_and_nothing_is_stored(
    client: httpx.AsyncClient,
) -> None:
    refused = await client.post("/logs/", json=[log(20), log(HUGE)])
    assert refused.status_code == 422
    assert refused.json()["exception_detail"][0]["loc"] == ["body", 1, "level"]
    assert (await client.post("/logs/filter", json={})).json() == []
    # Bounded in every request model, nested filters included.
    nested = await client.post("/logs/filter", json={"logs": {"level": {"ge_": HUGE}}})
    assert nested.status_code == 422 and "logs.level.ge_" in nested.json()["detail"]
    limit = await client.post("/flows/filter", json={"limit": HUGE})
    assert limit.status_code == 422 and "limit" in limit.json()["detail"]
    # The widest value a 32-bit column holds is still accepted.
    assert (await client.post("/flows/filter", json={"offset": 2**31 - 1})).status_code == 200


async def test_a_float_that_parses_as_infinity_is_a_422(client: httpx.AsyncClient) -> None:
    body = b'{"name": "gcl", "limit": 1, "slot_decay_per_second": 1e400}'
    refused = await client.post(
        "/v2/concurrency_limits/", content=body, headers={"content-type": "application/json"}
    )
    assert refused.status_code == 422
    assert "slot_decay_per_second" in refused.json()["detail"]


async def test_an_empty_list_of_prefixes_matches_nothing(client: httpx.AsyncClient) -> None:
    await client.post("/flows/", json={"name": "etl"})
    everything = await client.post("/flows/filter", json={})
    assert [f["name"] for f in everything.json()] == ["etl"]
    nothing = await client.post("/flows/filter", json={"flows": {"name": {"startswith_": []}}})
    assert nothing.status_code == 200 and nothing.json() == []
    some = await client.post("/flows/filter", json={"flows": {"name": {"startswith_": ["e"]}}})
    assert [f["name"] for f in some.json()] == ["etl"]


async def test_a_nul_character_is_a_422_in_strings_and_in_free_form_values(
    client: httpx.AsyncClient,
) -> None:
    # PostgreSQL refuses NUL in text and in JSONB: refused before it gets there, on SQLite too.
    name = await client.post("/work_queues/", json={"name": "q\u0000"})
    assert name.status_code == 422 and "name" in name.json()["detail"]
    flow = (await client.post("/flows/", json={"name": "f"})).json()
    run = {"flow_id": flow["id"], "parameters": {"x": ["ok", {"k\u0000": 1}]}}
    refused = await client.post("/flow_runs/", json=run)
    assert refused.status_code == 422 and "parameters" in refused.json()["detail"]
    run["parameters"] = {"x": ["ok", {"k": "\u00e9"}]}
    assert (await client.post("/flow_runs/", json=run)).status_code == 201
