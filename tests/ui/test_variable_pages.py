"""The Variables pages in process: list, create, edit, delete; bad values refused at the
field with nothing stored; user text escaped; queries constant in the number of rows."""

from __future__ import annotations

import httpx
from form_helpers import Browser, field_error, statement_count
from ui_helpers import QueryLog


async def _names(web: Browser) -> list[str]:
    found = await web.api("POST", "/variables/filter", {})
    return [v["name"] for v in found]


async def test_the_list_shows_names_values_cut_short_and_tags(ui: httpx.AsyncClient) -> None:
    web = Browser(ui)
    short = {"name": "short", "value": {"a": 1}, "tags": ["prod"]}
    await web.api("POST", "/variables/", short, 201)
    long_value = "x" * 500
    await web.api("POST", "/variables/", {"name": "long", "value": long_value}, 201)
    html = (await ui.get("/variables")).text
    assert ">short</a>" in html and "{&#34;a&#34;: 1}" in html
    assert '<span class="tag">prod</span>' in html
    assert "x" * 70 in html and long_value not in html and "…" in html
    assert 'href="/variables/edit/long"' in html


async def test_create_then_edit_then_delete(ui: httpx.AsyncClient) -> None:
    web = Browser(ui)
    form = {"name": "threshold", "value": '{"max": 3}', "tags": "etl, prod, etl"}
    created = await web.post("/variables/new", form)
    assert created.headers["location"] == "/variables"
    variable = await web.api("GET", "/variables/name/threshold")
    assert variable["value"] == {"max": 3} and variable["tags"] == ["etl", "prod"]

    edit_page = await ui.get("/variables/edit/threshold")
    assert '"max": 3' in edit_page.text.replace("&#34;", '"')
    await web.post("/variables/edit/threshold",
                   {"name": "limit-max", "value": '"text"', "tags": ""})  # fmt: skip
    variable = await web.api("GET", "/variables/name/limit-max")
    assert variable["value"] == "text" and variable["tags"] == []

    confirm = await web.post("/variables/delete/limit-max", {}, status=200)
    assert "Confirm: Delete" in confirm.text
    assert await _names(web) == ["limit-max"]  # asking changes nothing
    await web.post("/variables/delete/limit-max", {"confirmed": "yes"})
    assert await _names(web) == []


async def test_bad_values_are_refused_at_their_field_and_nothing_is_stored(
    ui: httpx.AsyncClient,
) -> None:
    web = Browser(ui)
    await web.api("POST", "/variables/", {"name": "taken", "value": 1}, 201)
    cases = [
        ({"name": "fresh", "value": "not json", "tags": ""}, 422, "value", "not valid JSON"),
        ({"name": "fresh", "value": "{'a': 1}", "tags": ""}, 422, "value", "not valid JSON"),
        ({"name": "Bad Name", "value": "1", "tags": ""}, 422, "name", "lowercase letters"),
        ({"name": "", "value": "1", "tags": ""}, 422, "name", "at least 1 character"),
        ({"name": "taken", "value": "1", "tags": ""}, 409, "name", "already exists"),
    ]
    for form, status, field, message in cases:
        response = await web.post("/variables/new", form, status=status)
        assert message in field_error(response.text, field), (form, response.text[-1500:])
        assert f'value="{form["name"]}"' in response.text  # what was typed is kept
        assert "Nothing was saved" in response.text
    assert await _names(web) == ["taken"]
    # Editing: the same refusals, and the variable keeps its value.
    refused = await web.post("/variables/edit/taken",
                             {"name": "taken", "value": "[1,", "tags": ""}, status=422)  # fmt: skip
    assert "not valid JSON" in field_error(refused.text, "value")
    assert (await web.api("GET", "/variables/name/taken"))["value"] == 1
    await web.api("POST", "/variables/", {"name": "other", "value": 2}, 201)
    clash = await web.post("/variables/edit/other",
                           {"name": "taken", "value": "2", "tags": ""}, status=409)  # fmt: skip
    assert "already exists" in field_error(clash.text, "name")
    assert (await ui.get("/variables/edit/missing")).status_code == 404
    assert (await ui.post("/variables/delete/missing",
                          data={"csrf_token": web.token})).status_code == 404  # fmt: skip


async def test_forms_without_the_csrf_token_are_refused(ui: httpx.AsyncClient) -> None:
    await ui.get("/variables")  # the cookie, but no token in the form
    response = await ui.post("/variables/new", data={"name": "x", "value": "1"})
    assert response.status_code == 403
    assert (await ui.get("/api/variables/name/x")).status_code == 404


async def test_a_value_holding_markup_renders_as_text(ui: httpx.AsyncClient) -> None:
    web = Browser(ui)
    hostile = "<script>alert('v')</script>"
    await web.api("POST", "/variables/", {"name": "hostile", "value": hostile,
                                          "tags": ["<b>t</b>"]}, 201)  # fmt: skip
    for path in ["/variables", "/variables/edit/hostile"]:
        html = (await ui.get(path)).text
        assert "<script>alert" not in html and "<b>t</b>" not in html, path
        assert "&lt;script&gt;" in html, path


async def test_the_list_costs_the_same_queries_for_few_variables_or_many(
    ui: httpx.AsyncClient, query_log: QueryLog
) -> None:
    web = Browser(ui)
    for i in range(2):
        await web.api("POST", "/variables/", {"name": f"v{i}", "value": i, "tags": ["t"]}, 201)
    few = await statement_count(query_log, lambda: ui.get("/variables"))
    for i in range(2, 20):
        await web.api("POST", "/variables/", {"name": f"v{i}", "value": i, "tags": ["t"]}, 201)
    many = await statement_count(query_log, lambda: ui.get("/variables"))
    assert few == many <= 4, query_log.statements
