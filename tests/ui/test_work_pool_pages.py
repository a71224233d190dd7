"""The Work Pools pages in process: list, detail, create, edit, pause/resume (pool and
queue), delete; bad input refused at the field with nothing stored; user text escaped;
queries constant in the number of pools, queues and workers."""

from __future__ import annotations

import json

import httpx
from form_helpers import Browser, field_error, statement_count
from ui_helpers import QueryLog


async def _pool(web: Browser, name: str, **fields: object) -> dict[str, object]:
    body = {"name": name, "type": "process", **fields}
    created: dict[str, object] = await web.api("POST", "/work_pools/", body, 201)
    return created


async def _pool_names(web: Browser) -> list[str]:
    return sorted(p["name"] for p in await web.api("POST", "/work_pools/filter", {}))


async def test_the_list_shows_type_status_limit_and_last_poll(ui: httpx.AsyncClient) -> None:
    web = Browser(ui)
    await _pool(web, "busy", concurrency_limit=5)
    await _pool(web, "stopped", is_paused=True)
    await web.api("POST", "/work_pools/busy/workers/heartbeat", {"name": "w1"}, 204)
    html = (await ui.get("/work-pools")).text
    rows = {name: html.split(f">{name}</a>")[1].split("</tr>")[0] for name in ["busy", "stopped"]}
    assert "Ready" in rows["busy"] and "0 / 5" in rows["busy"] and "process" in rows["busy"]
    assert "Paused" in rows["stopped"] and "unlimited" in rows["stopped"]
    # The poll time: a timestamp for the pool a worker polled, a dash for the other.
    assert rows["busy"].count("—") == 0 and rows["stopped"].count("—") == 1
    assert 'href="/work-pools/pool/busy"' in html


async def test_the_detail_shows_queues_workers_and_the_job_template(ui: httpx.AsyncClient) -> None:
    web = Browser(ui)
    pool = await _pool(web, "main", description="Runs the nightly jobs")
    await web.api("POST", "/work_pools/main/queues",
                  {"name": "urgent", "priority": 7, "concurrency_limit": 3}, 201)  # fmt: skip
    await web.api("POST", "/work_pools/main/workers/heartbeat", {"name": "worker-a"}, 204)
    html = (await ui.get("/work-pools/pool/main")).text
    urgent = html.split("<td>urgent")[1].split("</tr>")[0]
    assert '<td class="num">7</td>' in urgent and "0 / 3" in urgent and "Pause queue" in urgent
    assert "default" in html and "worker-a" in html and "Runs the nightly jobs" in html
    pretty = json.dumps(pool["base_job_template"], indent=2, sort_keys=True)
    assert pretty.replace('"', "&#34;") in html and "\n  " in pretty
    assert "<textarea" not in html  # read-only
    assert (await ui.get("/work-pools/pool/nowhere")).status_code == 404


async def test_a_pool_named_with_url_characters_has_working_links(
    ui: httpx.AsyncClient,
) -> None:
    web = Browser(ui)
    await _pool(web, "team a?#1")
    html = (await ui.get("/work-pools")).text
    assert 'href="/work-pools/pool/team%20a%3F%231"' in html
    detail = await ui.get("/work-pools/pool/team%20a%3F%231")
    assert detail.status_code == 200 and "team a?#1" in detail.text
    await web.post("/work-pools/pause/team%20a%3F%231", {"paused": "yes"})
    assert (await web.api("GET", "/work_pools/team%20a%3F%231"))["is_paused"] is True


async def test_create_a_pool(ui: httpx.AsyncClient) -> None:
    web = Browser(ui)
    form_page = (await ui.get("/work-pools/new")).text
    assert '<option value="process" selected>' in form_page
    assert '<option value="kubernetes">' in form_page
    form = {"name": "k8s", "type": "kubernetes", "concurrency_limit": "4", "description": "x"}
    created = await web.post("/work-pools/new", form)
    assert created.headers["location"] == "/work-pools/pool/k8s"
    pool = await web.api("GET", "/work_pools/k8s")
    assert pool["type"] == "kubernetes" and pool["concurrency_limit"] == 4
    assert pool["base_job_template"]  # the type's default template, as the CLI would send


async def test_bad_pools_are_refused_at_their_field_and_nothing_is_stored(
    ui: httpx.AsyncClient,
) -> None:
    web = Browser(ui)
    await _pool(web, "taken")
    good = {"name": "fresh", "type": "process", "concurrency_limit": "", "description": ""}
    cases = [
        ({"name": ""}, 422, "name", "at least 1 character"),
        ({"type": "no-such-worker"}, 422, "type", "one of"),
        ({"concurrency_limit": "-1"}, 422, "concurrency_limit", "greater than or equal to 0"),
        ({"concurrency_limit": "many"}, 422, "concurrency_limit", "a whole number"),
        ({"name": "taken"}, 409, "name", "already exists"),
    ]
    for change, status, field, message in cases:
        response = await web.post("/work-pools/new", {**good, **change}, status=status)
        assert message in field_error(response.text, field), (change, response.text[-2000:])
    assert await _pool_names(web) == ["taken"]


async def test_edit_a_pool(ui: httpx.AsyncClient) -> None:
    web = Browser(ui)
    await _pool(web, "p", concurrency_limit=2, description="old")
    page = (await ui.get("/work-pools/edit/p")).text
    assert 'value="2"' in page and ">old</textarea>" in page
    await web.post("/work-pools/edit/p", {"description": "new", "concurrency_limit": "9"})
    pool = await web.api("GET", "/work_pools/p")
    assert pool["description"] == "new" and pool["concurrency_limit"] == 9
    bad_limit = {"description": "newer", "concurrency_limit": "-3"}
    refused = await web.post("/work-pools/edit/p", bad_limit, status=422)
    assert "greater than or equal to 0" in field_error(refused.text, "concurrency_limit")
    pool = await web.api("GET", "/work_pools/p")
    assert pool["description"] == "new" and pool["concurrency_limit"] == 9  # nothing written
    await web.post("/work-pools/edit/p", {"description": "", "concurrency_limit": ""})
    pool = await web.api("GET", "/work_pools/p")
    assert pool["description"] is None and pool["concurrency_limit"] is None  # limit lifted
    await web.post("/work-pools/edit/gone", {"description": "", "concurrency_limit": "x"}, 404)


async def test_pause_and_resume_a_pool_and_a_queue(ui: httpx.AsyncClient) -> None:
    web = Browser(ui)
    await _pool(web, "p")
    await web.post("/work-pools/pause/p", {"paused": "yes"})
    assert (await web.api("GET", "/work_pools/p"))["status"] == "PAUSED"
    assert ">Resume</button>" in (await ui.get("/work-pools/pool/p")).text
    await web.post("/work-pools/pause/p", {"paused": "no"})
    assert (await web.api("GET", "/work_pools/p"))["is_paused"] is False
    await web.post("/work-pools/queue-pause/p", {"queue": "default", "paused": "yes"})
    assert (await web.api("GET", "/work_pools/p/queues/default"))["is_paused"] is True
    assert "Resume queue" in (await ui.get("/work-pools/pool/p")).text
    await web.post("/work-pools/queue-pause/p", {"queue": "default", "paused": "no"})
    assert (await web.api("GET", "/work_pools/p/queues/default"))["is_paused"] is False
    await web.post("/work-pools/pause/p", {"paused": "maybe"}, status=422)
    await web.post("/work-pools/queue-pause/p", {"queue": "nope", "paused": "yes"}, status=404)


async def test_delete_asks_first(ui: httpx.AsyncClient) -> None:
    web = Browser(ui)
    await _pool(web, "doomed")
    confirm = await web.post("/work-pools/delete/doomed", {}, status=200)
    assert "Confirm: Delete" in confirm.text and "cannot be undone" in confirm.text
    assert await _pool_names(web) == ["doomed"]
    done = await web.post("/work-pools/delete/doomed", {"confirmed": "yes"})
    assert done.headers["location"] == "/work-pools"
    assert await _pool_names(web) == []


async def test_a_description_holding_markup_renders_as_text(ui: httpx.AsyncClient) -> None:
    web = Browser(ui)
    await _pool(web, "hostile", description="<script>alert('d')</script>")
    for path in ["/work-pools", "/work-pools/pool/hostile", "/work-pools/edit/hostile"]:
        response = await ui.get(path)
        assert response.status_code == 200, path
        assert "<script>alert" not in response.text, path
        assert "&lt;script&gt;alert(&#39;d&#39;)&lt;/script&gt;" in response.text, path


async def test_pages_cost_the_same_queries_for_few_rows_or_many(
    ui: httpx.AsyncClient, query_log: QueryLog
) -> None:
    web = Browser(ui)

    async def grow(pools: range, queues: range, workers: range) -> None:
        for i in pools:
            await _pool(web, f"pool-{i}", concurrency_limit=3)
            await web.api("POST", f"/work_pools/pool-{i}/workers/heartbeat", {"name": "w"}, 204)
        for i in queues:
            await web.api("POST", "/work_pools/pool-0/queues",
                          {"name": f"q{i}", "concurrency_limit": 2}, 201)  # fmt: skip
        for i in workers:
            await web.api("POST", "/work_pools/pool-0/workers/heartbeat", {"name": f"w{i}"}, 204)

    async def costs() -> tuple[int, int]:
        listing = await statement_count(query_log, lambda: ui.get("/work-pools"))
        detail = await statement_count(query_log, lambda: ui.get("/work-pools/pool/pool-0"))
        return listing, detail

    await grow(range(2), range(1), range(1))
    few = await costs()
    await grow(range(2, 15), range(1, 12), range(1, 12))
    assert await costs() == few, query_log.statements
    assert few[0] <= 6 and few[1] <= 14, few
