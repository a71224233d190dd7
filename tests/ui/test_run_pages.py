"""The flow run and task run pages, in process: sections, logs (filter, search, keyset
pages, live tail), actions (CSRF, confirmation, refusals), blockers, and bad input."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import httpx
import pytest
from ui_helpers import Seeder

T0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
EVIL = "<script>window.pwned = 1</script>"


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


async def _task_run(ui: httpx.AsyncClient, run_id: str, name: str, **inputs: Any) -> str:
    refs = {k: [{"input_type": "task_run", "id": v}] for k, v in inputs.items()}
    body = {"flow_run_id": run_id, "task_key": name, "dynamic_key": "0", "name": name,
            "task_inputs": refs}  # fmt: skip
    response = await ui.post("/api/task_runs/", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _set_state(ui: httpx.AsyncClient, kind: str, run_id: str, state: str,
                     force: bool = False, **extra: Any) -> None:  # fmt: skip
    body = {"state": {"type": state, **extra}, "force": force}
    response = await ui.post(f"/api/{kind}/{run_id}/set_state", json=body)
    assert response.status_code in (200, 201), response.text


async def _logs(ui: httpx.AsyncClient, run_id: str, lines: list[tuple[int, str]],
                task_run_id: str | None = None, start: int = 0) -> None:  # fmt: skip
    body = [
        {"name": "etl", "level": level, "message": message, "flow_run_id": run_id,
         "task_run_id": task_run_id,
         "timestamp": (T0 + dt.timedelta(seconds=start + i)).isoformat()}
        for i, (level, message) in enumerate(lines)
    ]  # fmt: skip
    response = await ui.post("/api/logs/", json=body)
    assert response.status_code == 201, response.text


def _log_messages(html: str) -> list[str]:
    return re.findall(r'<span class="log-message">([^<]*)</span>', html)


async def test_graph_tab_draws_tasks_and_subflows_linked_to_their_pages(
    ui: httpx.AsyncClient, seed: Seeder
) -> None:
    run = await seed.run(name="parent")
    extract = await _task_run(ui, run["id"], "extract")
    evil = await _task_run(ui, run["id"], EVIL, rows=extract)
    tracker = await _task_run(ui, run["id"], "child", data=evil)
    sub = await seed.run(name="the-subflow", parent_task_run_id=tracker)
    page = await ui.get(f"/runs/flow-run/{run['id']}")
    assert page.status_code == 200, page.text
    html = page.text
    assert f'href="/runs/task-run/{extract}"' in html
    assert f'href="/runs/flow-run/{sub["id"]}"' in html
    assert "3 runs in 3 columns" in html
    assert "<script>window" not in html and "&lt;script&gt;window.pwned" in html
    # The subflow's page names its parent run.
    child = await ui.get(f"/runs/flow-run/{sub['id']}?tab=subflows")
    assert f'href="/runs/flow-run/{run["id"]}">parent</a>' in child.text


async def test_task_runs_and_subflows_tabs(ui: httpx.AsyncClient, seed: Seeder) -> None:
    run = await seed.run(name="parent")
    await _set_state(ui, "flow_runs", run["id"], "RUNNING")
    done = await _task_run(ui, run["id"], "done")
    await _set_state(ui, "task_runs", done, "RUNNING")
    await _set_state(ui, "task_runs", done, "COMPLETED", name="Cached")
    tracker = await _task_run(ui, run["id"], "child")
    await seed.run(name="the-subflow", parent_task_run_id=tracker)
    tasks = (await ui.get(f"/runs/flow-run/{run['id']}?tab=task-runs")).text
    assert f'href="/runs/task-run/{done}">done</a>' in tasks
    assert "Cache hit" in tasks
    subflows = (await ui.get(f"/runs/flow-run/{run['id']}?tab=subflows")).text
    assert ">the-subflow</a>" in subflows


async def test_state_timeline_and_parameters_escaped(ui: httpx.AsyncClient, seed: Seeder) -> None:
    run = await seed.run(name="p", parameters={"note": EVIL})
    await _set_state(ui, "flow_runs", run["id"], "RUNNING")
    html = (await ui.get(f"/runs/flow-run/{run['id']}?tab=parameters")).text
    timeline = html.split('class="state-timeline"')[1].split("</ol>")[0]
    assert timeline.index("Pending") < timeline.index("Running")
    assert "<script>window" not in html
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt;" in html


async def test_logs_filter_by_level_and_text(ui: httpx.AsyncClient, seed: Seeder) -> None:
    run = await seed.run()
    await _logs(ui, run["id"], [(20, "starting"), (40, "disk full"), (20, EVIL), (30, "slow disk")])
    everything = (await ui.get(f"/runs/flow-run/{run['id']}?tab=logs")).text
    assert _log_messages(everything) == [
        "starting",
        "disk full",
        "&lt;script&gt;window.pwned = 1&lt;/script&gt;",
        "slow disk",
    ]
    warnings = (await ui.get(f"/runs/flow-run/{run['id']}?tab=logs&level=WARNING")).text
    assert _log_messages(warnings) == ["disk full", "slow disk"]
    search = (await ui.get(f"/runs/flow-run/{run['id']}?tab=logs&q=DISK&level=ERROR")).text
    assert _log_messages(search) == ["disk full"]
    assert f"/api/flow_runs/{run['id']}/logs/download" in everything


async def test_logs_page_backwards_by_keyset_and_never_load_all(
    ui: httpx.AsyncClient, seed: Seeder
) -> None:
    run = await seed.run()
    await _logs(ui, run["id"], [(20, f"line {i:04d}") for i in range(450)])
    seen: list[str] = []
    url: str | None = f"/runs/flow-run/{run['id']}?tab=logs"
    pages = 0
    while url:
        html = (await ui.get(url)).text
        shown = _log_messages(html)
        assert len(shown) <= 200
        seen = shown + seen
        found = re.search(r'<a href="([^"]+)" rel="prev">', html)
        url = found.group(1).replace("&amp;", "&") if found else None
        pages += 1
    assert pages == 3
    assert seen == [f"line {i:04d}" for i in range(450)]


async def test_live_tail_answers_the_lines_after_the_last_one_while_active(
    ui: httpx.AsyncClient, seed: Seeder
) -> None:
    run = await seed.run()
    await _set_state(ui, "flow_runs", run["id"], "RUNNING")
    await _logs(ui, run["id"], [(20, "first")])
    page = (await ui.get(f"/runs/flow-run/{run['id']}?tab=logs")).text
    poller = re.search(r'hx-get="([^"]+)" hx-trigger="every 2s"', page)
    assert poller, "an active run's logs poll for more"
    await _logs(ui, run["id"], [(20, "second"), (20, EVIL)], start=5)
    tail = await ui.get(poller.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"})
    assert _log_messages(tail.text) == ["second", "&lt;script&gt;window.pwned = 1&lt;/script&gt;"]
    following = re.search(r'hx-get="([^"]+)"', tail.text)
    assert following is not None
    await _set_state(ui, "flow_runs", run["id"], "COMPLETED")
    last = await ui.get(following.group(1).replace("&amp;", "&"))
    assert _log_messages(last.text) == []
    assert "hx-get" not in last.text  # finished: the tail stops polling
    finished = (await ui.get(f"/runs/flow-run/{run['id']}?tab=logs")).text
    assert "hx-trigger" not in finished


async def test_cancel_asks_first_and_needs_the_csrf_token(
    ui: httpx.AsyncClient, seed: Seeder
) -> None:
    run = await seed.run(name="long")
    await _set_state(ui, "flow_runs", run["id"], "RUNNING")
    page = (await ui.get(f"/runs/flow-run/{run['id']}")).text
    assert f'action="/runs/flow-run/{run["id"]}/cancel"' in page
    token = _csrf(page)
    url = f"/runs/flow-run/{run['id']}/cancel"
    assert (await ui.post(url, data={"csrf_token": "forged"})).status_code == 403
    ask = await ui.post(url, data={"csrf_token": token})
    assert ask.status_code == 200 and "Confirm: Cancel" in ask.text
    assert (await ui.get(f"/api/flow_runs/{run['id']}")).json()["state_type"] == "RUNNING"
    done = await ui.post(url, data={"csrf_token": token, "confirmed": "yes"})
    assert done.status_code == 303 and done.headers["location"] == f"/runs/flow-run/{run['id']}"
    assert (await ui.get(f"/api/flow_runs/{run['id']}")).json()["state_type"] in (
        "CANCELLING", "CANCELLED",
    )  # fmt: skip


async def test_set_state_retry_and_refusals(ui: httpx.AsyncClient, seed: Seeder) -> None:
    run = await seed.run(name="r")
    token = _csrf((await ui.get(f"/runs/flow-run/{run['id']}")).text)
    url = f"/runs/flow-run/{run['id']}"
    bad = await ui.post(f"{url}/set-state", data={"csrf_token": token, "state": "RUNNING"})
    assert bad.status_code == 422 and "state: one of" in bad.text
    forced = await ui.post(
        f"{url}/set-state", data={"csrf_token": token, "state": "FAILED", "confirmed": "yes"}
    )
    assert forced.status_code == 303
    assert (await ui.get(f"/api/flow_runs/{run['id']}")).json()["state_type"] == "FAILED"
    # A run without a deployment has nothing to start it again: orchestration says no.
    retry = await ui.post(f"{url}/retry", data={"csrf_token": token})
    assert retry.status_code in (303, 409)
    if retry.status_code == 409:
        assert "Not done:" in retry.text
    odd = await ui.post(f"{url}/explode", data={"csrf_token": token})
    assert odd.status_code == 422 and "action: one of" in odd.text


async def test_a_waiting_run_says_why_it_is_not_running(
    ui: httpx.AsyncClient, seed: Seeder
) -> None:
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    run = await seed.run(state={"type": "SCHEDULED", "state_details": {"scheduled_time": later}})
    page = (await ui.get(f"/runs/flow-run/{run['id']}")).text
    why = page.split('id="why-heading"')[1].split("</section>")[0]
    assert "scheduled" in why.lower()
    await _set_state(ui, "flow_runs", run["id"], "RUNNING", force=True)
    assert "why-heading" not in (await ui.get(f"/runs/flow-run/{run['id']}")).text


async def test_pause_and_resume_a_running_deployment_run(
    ui: httpx.AsyncClient, seed: Seeder
) -> None:
    plain = await seed.run()
    await _set_state(ui, "flow_runs", plain["id"], "RUNNING")
    # Nothing would start a suspended run without a deployment: no Pause offered.
    assert "/pause" not in (await ui.get(f"/runs/flow-run/{plain['id']}")).text
    body = {"name": "nightly", "flow_id": await seed.flow("etl")}
    deployment = (await ui.post("/api/deployments/", json=body)).json()["id"]
    run = await seed.run(deployment_id=deployment)
    await _set_state(ui, "flow_runs", run["id"], "RUNNING")
    url = f"/runs/flow-run/{run['id']}"
    page = (await ui.get(url)).text
    token = _csrf(page)
    assert f'action="{url}/pause"' in page and f'action="{url}/resume"' not in page
    paused = await ui.post(f"{url}/pause", data={"csrf_token": token})
    assert paused.status_code == 303, paused.text
    body = (await ui.get(f"/api/flow_runs/{run['id']}")).json()
    assert (body["state_type"], body["state_name"]) == ("PAUSED", "Suspended")
    assert f'action="{url}/resume"' in (await ui.get(url)).text
    resumed = await ui.post(f"{url}/resume", data={"csrf_token": token})
    assert resumed.status_code == 303, resumed.text
    assert (await ui.get(f"/api/flow_runs/{run['id']}")).json()["state_type"] == "SCHEDULED"


async def test_delete_asks_first_then_returns_to_the_list(
    ui: httpx.AsyncClient, seed: Seeder
) -> None:
    run = await seed.run(name="doomed")
    url = f"/runs/flow-run/{run['id']}/delete"
    token = _csrf((await ui.get(f"/runs/flow-run/{run['id']}")).text)
    ask = await ui.post(url, data={"csrf_token": token})
    assert "cannot be undone" in ask.text
    done = await ui.post(url, data={"csrf_token": token, "confirmed": "yes"})
    assert done.status_code == 303 and done.headers["location"] == "/runs"
    assert (await ui.get(f"/runs/flow-run/{run['id']}")).status_code == 404


async def test_task_run_page(ui: httpx.AsyncClient, seed: Seeder) -> None:
    run = await seed.run(name="parent")
    await _set_state(ui, "flow_runs", run["id"], "RUNNING")
    upstream = await _task_run(ui, run["id"], "extract")
    body = {"flow_run_id": run["id"], "task_key": "load", "dynamic_key": "0", "name": "load",
            "cache_key": "load-key", "cache_expiration": "2031-01-01T00:00:00+00:00",
            "task_inputs": {"rows": [{"input_type": "task_run", "id": upstream}],
                            "limit": [{"input_type": "parameter", "name": "limit"}]}}  # fmt: skip
    task = (await ui.post("/api/task_runs/", json=body)).json()["id"]
    await _set_state(ui, "task_runs", task, "RUNNING")
    result = {"storage_key": "/results/abc", "serializer": {"type": "json"}}
    await _set_state(ui, "task_runs", task, "COMPLETED", data=result)
    await _logs(ui, run["id"], [(20, "for the flow")])
    await _logs(ui, run["id"], [(20, EVIL)], task_run_id=task, start=1)
    page = await ui.get(f"/runs/task-run/{task}")
    assert page.status_code == 200, page.text
    html = page.text
    assert f'href="/runs/task-run/{upstream}">extract</a>' in html
    assert f'href="/runs/flow-run/{run["id"]}">parent</a>' in html
    assert "load-key" in html and "2031-01-01 00:00:00" in html
    assert "/results/abc" in html
    history = html.split('class="state-timeline"')[1].split("</ol>")[0]
    assert history.index("Running") < history.index("Completed")
    assert _log_messages(html) == ["&lt;script&gt;window.pwned = 1&lt;/script&gt;"]


async def test_bad_input_is_a_clear_4xx_page(ui: httpx.AsyncClient, seed: Seeder) -> None:
    run = await seed.run()
    base = f"/runs/flow-run/{run['id']}"
    cases = {
        f"/runs/flow-run/{uuid.uuid4()}": 404,
        f"/runs/task-run/{uuid.uuid4()}": 404,
        "/runs/flow-run/not-a-uuid": 400,
        f"{base}?tab=logs&level=LOUD": 422,
        f"{base}?tab=logs&before=yesterday": 422,
        f"{base}?tab=logs&q=" + "x" * 300: 422,
        f"{base}/logs/tail": 422,
    }
    for url, status in cases.items():
        answer = await ui.get(url)
        assert answer.status_code == status, (url, answer.status_code, answer.text[:300])
        assert "text/html" in answer.headers["content-type"]
    # An unknown tab shows the default one rather than failing.
    assert (await ui.get(f"{base}?tab=nonsense")).status_code == 200


async def test_a_graph_too_large_to_draw_leaves_the_page_usable(
    ui: httpx.AsyncClient, seed: Seeder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowyard.server.operations import flow_run_graph

    run = await seed.run()
    for name in ("a", "b", "c"):
        await _task_run(ui, run["id"], name)
    monkeypatch.setattr(flow_run_graph, "MAX_NODES", 2)
    page = await ui.get(f"/runs/flow-run/{run['id']}")
    assert page.status_code == 200
    assert "too large to draw" in page.text and "run-graph" not in page.text
    tasks = await ui.get(f"/runs/flow-run/{run['id']}?tab=task-runs")
    assert tasks.text.count('href="/runs/task-run/') == 3
