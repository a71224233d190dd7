"""The pages in process: what they show, how they refuse, what they cost in queries."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from ui_helpers import QueryLog, Seeder

PAGES = ["/", "/runs"]


def _links(html: str) -> list[str]:
    return [href.replace("&amp;", "&") for href in re.findall(r'href="([^"]*)"', html)]


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


async def test_every_page_answers_with_the_security_headers(ui: httpx.AsyncClient) -> None:
    for path in [*PAGES, "/runs?range=nonsense", "/ui-static/flowyard.css"]:
        response = await ui.get(path)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp, path
        assert "frame-ancestors 'none'" in csp, path
        assert response.headers["x-frame-options"] == "DENY", path
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["referrer-policy"] == "same-origin", path


async def test_pages_have_no_inline_script_or_style(ui: httpx.AsyncClient, seed: Seeder) -> None:
    await seed.run(state={"type": "FAILED"})
    for path in PAGES:
        html = (await ui.get(path)).text
        assert re.search(r"<script(?![^>]*\bsrc=)", html) is None, path
        assert "style=" not in html and "<style" not in html, path
        assert "onclick" not in html, path


async def test_user_text_renders_as_text(ui: httpx.AsyncClient, seed: Seeder) -> None:
    run = await seed.run(
        name="<script>alert('name')</script>",
        tags=["<img src=x onerror=alert(1)>"],
        parameters={"p": "<script>alert('param')</script>"},
        state={"type": "FAILED"},
    )
    for path in PAGES:
        html = (await ui.get(path)).text
        assert "<script>alert" not in html and "<img src=x" not in html, path
        assert "&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt;" in html, path
    assert f'href="/runs/flow-run/{run["id"]}"' in (await ui.get("/runs")).text


async def test_bad_input_is_a_clear_4xx_page(ui: httpx.AsyncClient) -> None:
    cases = {
        "/runs?range=fortnight": (422, "range: one of"),
        "/runs?flow=xyz": (422, "flow: not an id"),
        "/runs?after=garbage": (422, "not a page cursor"),
        "/?range=all": (422, "range: one of"),
        "/?range=custom&start=2026-01-01T00:00": (422, "needs both start and end"),
        f"/accounts/{uuid.uuid4()}/workspaces/{uuid.uuid4()}/runs": (404, "Workspace not found"),
        "/accounts/x/workspaces/y/": (404, "Workspace not found"),
    }
    for path, (status, message) in cases.items():
        response = await ui.get(path)
        assert response.status_code == status, (path, response.text[:300])
        assert response.headers["content-type"].startswith("text/html"), path
        assert message in response.text, path


async def test_a_workspace_url_keeps_every_link_in_its_workspace(
    app: FastAPI, ui: httpx.AsyncClient, seed: Seeder
) -> None:
    await seed.run(state={"type": "COMPLETED"})
    prefix = (
        f"/accounts/{app.state.default_account_id}/workspaces/{app.state.default_workspace_id}"
    )
    for path in PAGES:
        response = await ui.get(prefix + path)
        assert response.status_code == 200, response.text[:300]
        local = [
            link for link in _links(response.text)
            if link.startswith("/") and not link.startswith("/ui-static/")
        ]  # fmt: skip
        assert local and all(link.startswith(prefix + "/") for link in local), local
    default = await ui.get("/")
    assert ">Default<" in default.text  # the workspace named at the top


async def test_post_without_the_csrf_token_is_refused(ui: httpx.AsyncClient, seed: Seeder) -> None:
    run = await seed.run(state={"type": "SCHEDULED"})
    page = await ui.get("/runs")
    token = _csrf(page.text)
    form = {"action": "cancel", "run": run["id"], "return_to": "/runs"}
    assert (await ui.post("/runs/bulk", data=form)).status_code == 403
    assert (await ui.post("/runs/bulk", data={**form, "csrf_token": "forged"})).status_code == 403
    # The right token without its cookie (another site's form) is refused too.
    bare = httpx.AsyncClient(transport=ui._transport, base_url="http://test")  # noqa: SLF001
    async with bare:
        refused = await bare.post("/runs/bulk", data={**form, "csrf_token": token})
    assert refused.status_code == 403
    confirm = await ui.post("/runs/bulk", data={**form, "csrf_token": token})
    assert confirm.status_code == 200 and "Confirm: Cancel" in confirm.text


async def test_bulk_cancel_asks_first_then_cancels(ui: httpx.AsyncClient, seed: Seeder) -> None:
    runs = [await seed.run(state={"type": "SCHEDULED"}) for _ in range(2)]
    finished = await seed.run(state={"type": "COMPLETED"})
    token = _csrf((await ui.get("/runs")).text)
    form = {
        "csrf_token": token, "action": "cancel", "return_to": "/runs?state=SCHEDULED",
        "run": [r["id"] for r in [*runs, finished]],
    }  # fmt: skip
    confirm = await ui.post("/runs/bulk", data=form)
    assert "3 flow runs?" in confirm.text
    for run in runs:  # nothing changed yet
        state = (await ui.get(f"/api/flow_runs/{run['id']}")).json()["state"]["type"]
        assert state == "SCHEDULED"
    done = await ui.post("/runs/bulk", data={**form, "confirmed": "yes"})
    assert done.status_code == 200
    for run in runs:
        state = (await ui.get(f"/api/flow_runs/{run['id']}")).json()["state"]["type"]
        assert state == "CANCELLED"  # nothing to stop: orchestration cancels directly
    # A finished run is not cancelled, and the page says so.
    assert (await ui.get(f"/api/flow_runs/{finished['id']}")).json()["state"]["type"] == "COMPLETED"
    assert "Refused" in done.text or "Now Completed" in done.text
    assert 'href="/runs?state=SCHEDULED"' in done.text


async def test_bulk_set_state_delete_and_retry(ui: httpx.AsyncClient, seed: Seeder) -> None:
    run = await seed.run(state={"type": "RUNNING"})
    token = _csrf((await ui.get("/runs")).text)
    base = {"csrf_token": token, "run": run["id"], "confirmed": "yes"}
    await ui.post("/runs/bulk", data={**base, "action": "set_state", "state": "FAILED"})
    assert (await ui.get(f"/api/flow_runs/{run['id']}")).json()["state"]["type"] == "FAILED"
    retried = await ui.post("/runs/bulk", data={**base, "action": "retry"})
    # No deployment: nothing would start it again, so the policy refuses the retry.
    assert retried.status_code == 200 and "Refused" in retried.text
    refused = await ui.post("/runs/bulk", data={**base, "action": "set_state", "state": "RUNNING"})
    assert refused.status_code == 422 and "state: one of" in refused.text
    await ui.post("/runs/bulk", data={**base, "action": "delete"})
    assert (await ui.get(f"/api/flow_runs/{run['id']}")).status_code == 404


async def test_bulk_refuses_bad_selections(ui: httpx.AsyncClient) -> None:
    token = _csrf((await ui.get("/runs")).text)
    none = await ui.post("/runs/bulk", data={"csrf_token": token, "action": "cancel"})
    assert none.status_code == 422 and "Select at least one" in none.text
    bad = await ui.post("/runs/bulk", data={"csrf_token": token, "action": "cancel", "run": "x"})
    assert bad.status_code == 422 and "not a flow run id" in bad.text
    odd = await ui.post("/runs/bulk", data={"csrf_token": token, "action": "explode", "run": "x"})
    assert odd.status_code == 422 and "action: one of" in odd.text


async def test_keyset_pages_cover_every_run_once_in_each_order(
    ui: httpx.AsyncClient, seed: Seeder
) -> None:
    ids = set()
    for i in range(7):
        ids.add((await seed.run(name=f"run-{i % 3}", state={"type": "COMPLETED"}))["id"])
    for sort in ["start_desc", "start_asc", "expected_start_asc", "name_asc", "name_desc",
                 "duration_desc"]:  # fmt: skip
        seen: list[str] = []
        url: str | None = f"/runs?sort={sort}&limit=3"
        while url is not None:
            html = (await ui.get(url)).text
            seen += re.findall(r'href="/runs/flow-run/([0-9a-f-]+)"', html)
            found = re.search(r'<a href="([^"]+)" rel="next"', html)
            url = found.group(1).replace("&amp;", "&") if found else None
        assert sorted(seen) == sorted(ids), sort
        assert len(seen) == 7


async def test_a_filtered_list_shows_only_its_runs(ui: httpx.AsyncClient, seed: Seeder) -> None:
    failed = await seed.run(name="bad-one", tags=["nightly"], state={"type": "FAILED"})
    await seed.run(name="good-one", tags=["nightly"], state={"type": "COMPLETED"})
    await seed.run(name="other-bad", tags=["adhoc"], state={"type": "FAILED"})
    html = (await ui.get("/runs?state=FAILED&tag=nightly")).text
    assert re.findall(r'href="/runs/flow-run/([0-9a-f-]+)"', html) == [failed["id"]]
    assert "1 flow run matches" in html
    # The form shows the filter it applied.
    assert '<option value="FAILED" selected>' in html and 'value="nightly"' in html


async def test_htmx_requests_get_the_results_alone(ui: httpx.AsyncClient, seed: Seeder) -> None:
    await seed.run(state={"type": "COMPLETED"})
    partial = await ui.get("/runs", headers={"HX-Request": "true"})
    assert partial.text.lstrip().startswith('<section id="runs-results"')
    assert "<nav" in partial.text and "<html" not in partial.text
    restore_headers = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
    restore = await ui.get("/runs", headers=restore_headers)
    assert "<html" in restore.text
    assert partial.headers["vary"] == "HX-Request"


async def test_dashboard_counts_link_to_the_runs_they_count(
    ui: httpx.AsyncClient, seed: Seeder
) -> None:
    for state in ["COMPLETED", "COMPLETED", "COMPLETED", "FAILED"]:
        await seed.run(tags=["etl"], state={"type": state})
    await seed.run(tags=["other"], state={"type": "CRASHED"})
    html = (await ui.get("/?tag=etl")).text
    assert "75.0%" in html  # 3 of 4 finished runs succeeded
    assert "1 failed or crashed run" in html
    completed_link = next(
        link for link in _links(html) if "state=COMPLETED" in link and "tag=etl" in link
    )
    listed = (await ui.get(completed_link)).text
    assert len(re.findall(r'href="/runs/flow-run/', listed)) == 3
    assert "<svg" in html and "fill-completed" in html


async def test_dashboard_shows_upcoming_runs_and_work_pools(
    ui: httpx.AsyncClient, seed: Seeder
) -> None:
    import datetime as dt

    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    upcoming = await seed.run(
        name="tomorrow-run", state={"type": "SCHEDULED", "state_details": {"scheduled_time": soon}}
    )
    response = await ui.post("/api/work_pools/", json={"name": "pool-a", "type": "process"})
    assert response.status_code == 201, response.text
    html = (await ui.get("/")).text
    assert f'href="/runs/flow-run/{upcoming["id"]}"' in html
    assert "pool-a" in html and "Not Ready" in html


async def test_pages_cost_the_same_queries_for_few_runs_or_many(
    ui: httpx.AsyncClient, seed: Seeder, query_log: QueryLog
) -> None:
    """No query per row: a page with 30 runs issues what a page with 3 does."""

    async def cost(path: str) -> int:
        query_log.statements.clear()
        assert (await ui.get(path)).status_code == 200
        return len(query_log)

    for i in range(3):
        await seed.run(flow=f"flow-{i}", tags=["t"], state={"type": "FAILED"})
    few = {path: await cost(path) for path in PAGES}
    for i in range(27):
        await seed.run(flow=f"flow-{i % 9}", tags=["t"], state={"type": "FAILED"})
    many = {path: await cost(path) for path in PAGES}
    assert many == few
    # One query per section: workspace name; then the runs, their flows, their task-run
    # counts, the total, the filter's three lists of choices.
    assert few["/runs"] <= 8, query_log.statements
    assert few["/"] <= 12


async def test_pages_work_without_the_vendored_htmx(
    ui: httpx.AsyncClient, seed: Seeder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkout where ``make ui-assets`` never ran: no script to load (so no failed
    request), and the forms still work as plain GET and POST."""
    from flowyard.ui import assets

    monkeypatch.setattr(assets, "VENDOR_DIR", tmp_path / "vendor")
    await seed.run(name="visible", state={"type": "COMPLETED"})
    for path in PAGES:
        html = (await ui.get(path)).text
        assert "<script" not in html, path
    listed = (await ui.get("/runs?state=COMPLETED")).text
    assert ">visible</a>" in listed and 'method="get"' in listed


async def test_the_way_back_never_leaves_the_list(ui: httpx.AsyncClient, seed: Seeder) -> None:
    run = await seed.run(state={"type": "SCHEDULED"})
    token = _csrf((await ui.get("/runs")).text)
    for elsewhere in ["https://evil.example/runs", "//evil.example/runs", "/api/flows"]:
        form = {"csrf_token": token, "action": "cancel", "run": run["id"], "return_to": elsewhere}
        confirm = (await ui.post("/runs/bulk", data=form)).text
        assert 'href="/runs"' in confirm and "evil" not in confirm, elsewhere
