import uuid

import httpx


async def test_create_read_by_id_and_name(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/variables/",
        json={"name": "db_config", "value": {"host": "x", "port": 5432}, "tags": ["prod"]},
    )
    assert created.status_code == 201
    variable = created.json()
    assert variable["value"] == {"host": "x", "port": 5432} and variable["tags"] == ["prod"]
    assert (await client.get(f"/variables/{variable['id']}")).json()["name"] == "db_config"
    assert (await client.get("/variables/name/db_config")).json()["id"] == variable["id"]
    duplicate = await client.post("/variables/", json={"name": "db_config", "value": 1})
    assert duplicate.status_code == 409
    assert (await client.get("/variables/name/nope")).status_code == 404
    assert (await client.get(f"/variables/{uuid.uuid4()}")).status_code == 404


async def test_any_json_value_round_trips(client: httpx.AsyncClient) -> None:
    for i, value in enumerate(["text", 42, 1.5, True, None, [1, "two", {"three": 3}], {"a": []}]):
        response = await client.post("/variables/", json={"name": f"v{i}", "value": value})
        assert response.status_code == 201, response.text
        assert (await client.get(f"/variables/name/v{i}")).json()["value"] == value


async def test_bad_input_names_the_field_and_stores_nothing(client: httpx.AsyncClient) -> None:
    too_big = await client.post("/variables/", json={"name": "big", "value": "x" * 5000})
    assert too_big.status_code == 422 and "value" in too_big.json()["detail"]
    bad_name = await client.post("/variables/", json={"name": "Not Allowed", "value": 1})
    assert bad_name.status_code == 422 and "name" in bad_name.json()["detail"]
    no_value = await client.post("/variables/", json={"name": "novalue"})
    assert no_value.status_code == 422 and "value" in no_value.json()["detail"]
    assert (await client.post("/variables/count", json={})).json() == 0
    fits = await client.post("/variables/", json={"name": "fits", "value": "x" * 4998})
    assert fits.status_code == 201  # 5000 characters once serialized with its quotes
    grow = await client.patch("/variables/name/fits", json={"value": "x" * 4999})
    assert grow.status_code == 422
    assert (await client.get("/variables/name/fits")).json()["value"] == "x" * 4998


async def test_update_and_delete_by_id_and_by_name(client: httpx.AsyncClient) -> None:
    variable = (
        await client.post("/variables/", json={"name": "a", "value": 1, "tags": ["t"]})
    ).json()
    await client.post("/variables/", json={"name": "b", "value": 2})
    assert (
        await client.patch(f"/variables/{variable['id']}", json={"value": [1, 2]})
    ).status_code == 204
    assert (await client.get("/variables/name/a")).json() == {
        **variable,
        "value": [1, 2],
        "updated": (await client.get("/variables/name/a")).json()["updated"],
    }
    assert (await client.patch("/variables/name/a", json={"name": "b"})).status_code == 409
    assert (
        await client.patch("/variables/name/a", json={"name": "c", "tags": None})
    ).status_code == 204
    renamed = (await client.get("/variables/name/c")).json()
    assert renamed["id"] == variable["id"] and renamed["tags"] == ["t"]
    assert (await client.patch("/variables/name/a", json={"value": 3})).status_code == 404
    assert (await client.delete("/variables/name/c")).status_code == 204
    assert (await client.delete("/variables/name/c")).status_code == 404
    b = (await client.get("/variables/name/b")).json()
    assert (await client.delete(f"/variables/{b['id']}")).status_code == 204
    assert (await client.delete(f"/variables/{b['id']}")).status_code == 404


async def test_filter_sort_and_count(client: httpx.AsyncClient) -> None:
    for name, tags in [("alpha", ["x"]), ("beta", ["x", "y"]), ("gamma_x", [])]:
        await client.post("/variables/", json={"name": name, "value": name, "tags": tags})

    async def names(body: dict[str, object]) -> list[str]:
        response = await client.post("/variables/filter", json=body)
        assert response.status_code == 200, response.text
        return [v["name"] for v in response.json()]

    assert await names({}) == ["alpha", "beta", "gamma_x"]
    assert await names({"sort": "NAME_DESC", "limit": 2}) == ["gamma_x", "beta"]
    assert await names({"variables": {"tags": {"all_": ["x", "y"]}}}) == ["beta"]
    assert await names({"variables": {"name": {"like_": "_X"}}}) == ["gamma_x"]
    assert await names({"variables": {"name": {"any_": ["alpha", "nope"]}}}) == ["alpha"]
    assert (
        await client.post("/variables/count", json={"variables": {"tags": {"all_": ["x"]}}})
    ).json() == 2
