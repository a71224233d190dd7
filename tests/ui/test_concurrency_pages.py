"""The Concurrency page in process: tag and global limits with their holders; create,
edit, delete, reset, and release one holder's slot; bad input refused at the field with
nothing stored; queries constant in the number of limits and holders."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from form_helpers import Browser, field_error, statement_count
from ui_helpers import QueryLog


async def _limits(web: Browser) -> dict[str, dict[str, Any]]:
    found = await web.api("POST", "/v2/concurrency_limits/filter", {})
    return {limit["name"]: limit for limit in found}


async def _hold_tag(web: Browser, tag: str) -> str:
    task_run_id = str(uuid.uuid4())
    await web.api("POST", "/concurrency_limits/increment",
                  {"names": [tag], "task_run_id": task_run_id})  # fmt: skip
    return task_run_id


async def _hold(web: Browser, name: str, holder_id: str | None = None) -> str:
    holder = {"type": "flow_run", "id": holder_id or str(uuid.uuid4())}
    body = {"names": [name], "slots": 1, "lease_duration": 600, "holder": holder}
    lease: str = (await web.api("POST", "/v2/concurrency_limits/increment-with-lease", body))[
        "lease_id"
    ]
    return lease


def _row(html: str, table: str, name: str) -> str:
    body = html.split(f'id="{table}"')[1].split("</table>")[0]
    return next(row for row in body.split("<tr>") if f">{name}<" in row)


async def test_the_page_shows_both_kinds_with_their_holders(ui: httpx.AsyncClient) -> None:
    web = Browser(ui)
    await web.api("POST", "/concurrency_limits/", {"tag": "db", "concurrency_limit": 2}, 201)
    task_run = await _hold_tag(web, "db")
    await web.api("POST", "/v2/concurrency_limits/",
                  {"name": "api", "limit": 5, "slot_decay_per_second": 0.5}, 201)  # fmt: skip
    flow_run = str(uuid.uuid4())
    await _hold(web, "api", flow_run)
    html = (await ui.get("/concurrency")).text
    tag_row = _row(html, "tag-limits-table", "db")
    assert '<td class="num">2</td>' in tag_row and '<td class="num">1</td>' in tag_row
    assert f'href="/runs/task-run/{task_run}"' in tag_row and "Release…" in tag_row
    global_row = _row(html, "global-limits-table", "api")
    assert '<td class="num">5</td>' in global_row and '<td class="num">0.5</td>' in global_row
    assert f'href="/runs/flow-run/{flow_run}"' in global_row
    assert "tag:db" not in html.split('id="global-limits-table"')[1]  # each kind once


async def test_create_both_kinds(ui: httpx.AsyncClient) -> None:
    web = Browser(ui)
    assert 'name="tag"' in (await ui.get("/concurrency/new?kind=tag")).text
    assert 'name="slot_decay"' in (await ui.get("/concurrency/new?kind=global")).text
    assert (await ui.get("/concurrency/new?kind=other")).status_code == 422
    await web.post("/concurrency/new", {"kind": "tag", "tag": "gpu", "limit": "3"})
    await web.post("/concurrency/new", {"kind": "global", "name": "emails", "limit": "10",
                                        "slot_decay": "2", "active": "on"})  # fmt: skip
    limits = await _limits(web)
    assert limits["tag:gpu"]["limit"] == 3
    assert limits["emails"]["limit"] == 10 and limits["emails"]["slot_decay_per_second"] == 2
    tag_limit = await web.api("GET", "/concurrency_limits/tag/gpu")
    assert tag_limit["concurrency_limit"] == 3


async def test_bad_limits_are_refused_at_their_field_and_nothing_is_stored(
    ui: httpx.AsyncClient,
) -> None:
    web = Browser(ui)
    await web.post("/concurrency/new", {"kind": "tag", "tag": "taken", "limit": "1"})
    await web.post("/concurrency/new", {"kind": "global", "name": "used", "limit": "1"})
    cases = [
        ({"kind": "tag", "tag": "x", "limit": "-1"}, 422, "limit", "greater than or equal to 0"),
        ({"kind": "tag", "tag": "x", "limit": ""}, 422, "limit", "a whole number"),
        ({"kind": "tag", "tag": "a/b", "limit": "1"}, 422, "tag", "must not be empty or contain"),
        ({"kind": "tag", "tag": "taken", "limit": "2"}, 409, "tag", "already exists"),
        ({"kind": "global", "name": "x", "limit": "two"}, 422, "limit", "a whole number"),
        ({"kind": "global", "name": "x", "limit": "1", "slot_decay": "-1"}, 422, "slot_decay",
         "greater than or equal to 0"),
        ({"kind": "global", "name": "x", "limit": "1", "slot_decay": "fast"}, 422, "slot_decay",
         "a number"),
        ({"kind": "global", "name": "tag:x", "limit": "1"}, 422, "name", "are tag limits"),
        ({"kind": "global", "name": "used", "limit": "1"}, 409, "name", "already exists"),
    ]  # fmt: skip
    for form, status, field, message in cases:
        response = await web.post("/concurrency/new", form, status=status)
        assert message in field_error(response.text, field), (form, response.text[-2000:])
    limits = await _limits(web)
    assert sorted(limits) == ["tag:taken", "used"]
    assert limits["tag:taken"]["limit"] == 1  # a create never resizes the existing one
    await web.post("/concurrency/new", {"kind": "both", "name": "x", "limit": "1"}, status=422)


async def test_edit_a_tag_limit_and_a_global_limit(ui: httpx.AsyncClient) -> None:
    web = Browser(ui)
    await web.post("/concurrency/new", {"kind": "tag", "tag": "db", "limit": "1"})
    await web.post("/concurrency/new", {"kind": "global", "name": "api", "limit": "1",
                                        "active": "on"})  # fmt: skip
    ids = {name: limit["id"] for name, limit in (await _limits(web)).items()}
    page = (await ui.get(f"/concurrency/edit/{ids['tag:db']}")).text
    assert 'value="db"' in page and "readonly" in page
    await web.post(f"/concurrency/edit/{ids['tag:db']}", {"tag": "ignored", "limit": "4"})
    await web.post(f"/concurrency/edit/{ids['api']}",
                   {"name": "api-v2", "limit": "7", "slot_decay": "0.25"})  # fmt: skip
    limits = await _limits(web)
    assert limits["tag:db"]["limit"] == 4
    assert limits["api-v2"]["limit"] == 7 and limits["api-v2"]["slot_decay_per_second"] == 0.25
    assert limits["api-v2"]["active"] is False  # the box left unticked
    refused = await web.post(f"/concurrency/edit/{ids['api']}",
                             {"name": "api-v2", "limit": "-2"}, status=422)  # fmt: skip
    assert "greater than or equal to 0" in field_error(refused.text, "limit")
    clash = await web.post(f"/concurrency/edit/{ids['api']}",
                           {"name": "tag:db", "limit": "1"}, status=422)  # fmt: skip
    assert "tag limits" in field_error(clash.text, "name")
    assert (await _limits(web))["api-v2"]["limit"] == 7
    missing = uuid.uuid4()
    assert (await ui.get(f"/concurrency/edit/{missing}")).status_code == 404
    assert (await ui.get("/concurrency/edit/not-an-id")).status_code == 400


async def test_delete_and_reset_ask_first(ui: httpx.AsyncClient) -> None:
    web = Browser(ui)
    await web.post("/concurrency/new", {"kind": "global", "name": "api", "limit": "3",
                                        "active": "on"})  # fmt: skip
    limit_id = (await _limits(web))["api"]["id"]
    await _hold(web, "api")
    await _hold(web, "api")
    confirm = await web.post(f"/concurrency/reset/{limit_id}", {}, status=200)
    assert "Confirm: Reset" in confirm.text and "2 holder(s)" in confirm.text
    assert (await _limits(web))["api"]["active_slots"] == 2
    await web.post(f"/concurrency/reset/{limit_id}", {"confirmed": "yes"})
    assert (await _limits(web))["api"]["active_slots"] == 0
    assert "Release…" not in _row((await ui.get("/concurrency")).text, "global-limits-table", "api")
    confirm = await web.post(f"/concurrency/delete/{limit_id}", {}, status=200)
    assert "Confirm: Delete" in confirm.text and "api" in (await _limits(web))
    await web.post(f"/concurrency/delete/{limit_id}", {"confirmed": "yes"})
    assert await _limits(web) == {}
    await web.post(f"/concurrency/delete/{limit_id}", {"confirmed": "yes"}, status=404)


async def test_release_one_holders_slot(ui: httpx.AsyncClient) -> None:
    web = Browser(ui)
    await web.post("/concurrency/new", {"kind": "global", "name": "api", "limit": "3",
                                        "active": "on"})  # fmt: skip
    limit_id = (await _limits(web))["api"]["id"]
    keep, drop = await _hold(web, "api"), await _hold(web, "api")
    confirm = await web.post(f"/concurrency/release/{limit_id}", {"lease": drop}, status=200)
    assert "Confirm: Release" in confirm.text and f'value="{drop}"' in confirm.text
    assert (await _limits(web))["api"]["active_slots"] == 2
    await web.post(f"/concurrency/release/{limit_id}", {"lease": drop, "confirmed": "yes"})
    assert (await _limits(web))["api"]["active_slots"] == 1
    html = (await ui.get("/concurrency")).text
    assert f'value="{keep}"' in html and f'value="{drop}"' not in html
    # Released already, another limit's lease, or not a lease at all: refused, nothing freed.
    await web.post(f"/concurrency/release/{limit_id}", {"lease": drop}, status=404)
    await web.post(f"/concurrency/release/{limit_id}", {"lease": "x"}, status=422)
    await web.post("/concurrency/new", {"kind": "global", "name": "other", "limit": "1",
                                        "active": "on"})  # fmt: skip
    other_id = (await _limits(web))["other"]["id"]
    await web.post(f"/concurrency/release/{other_id}", {"lease": keep}, status=404)
    assert (await _limits(web))["api"]["active_slots"] == 1


async def test_forms_without_the_csrf_token_are_refused(ui: httpx.AsyncClient) -> None:
    await ui.get("/concurrency")
    for path in ["/concurrency/new", f"/concurrency/delete/{uuid.uuid4()}",
                 "/work-pools/new", "/work-pools/pause/p", "/variables/delete/v"]:  # fmt: skip
        response = await ui.post(path, data={"kind": "tag", "tag": "t", "limit": "1"})
        assert response.status_code == 403, path
    assert await _limits(Browser(ui)) == {}


async def test_the_page_costs_the_same_queries_for_few_limits_or_many(
    ui: httpx.AsyncClient, query_log: QueryLog
) -> None:
    web = Browser(ui)

    async def grow(names: range) -> None:
        for i in names:
            limit = {"kind": "global", "name": f"g{i}", "limit": "5", "active": "on"}
            await web.post("/concurrency/new", limit)
            await web.post("/concurrency/new", {"kind": "tag", "tag": f"t{i}", "limit": "5"})
            await _hold(web, f"g{i}")
            await _hold_tag(web, f"t{i}")

    await grow(range(2))
    few = await statement_count(query_log, lambda: ui.get("/concurrency"))
    await grow(range(2, 12))
    many = await statement_count(query_log, lambda: ui.get("/concurrency"))
    assert few == many <= 4, query_log.statements
    assert len(re.findall(r"Release…", (await ui.get("/concurrency")).text)) == 24
