"""The flow run and task run pages in a real browser (Chromium, headless) against a real
server process: the graph, task runs and logs of a run; the live tail; a graph node opens
its task run; cancel from the page; user text as text; no console error or failed request
in either theme."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import httpx
import pytest

EVIL = "<script>window.pwned = 1</script>"


@pytest.fixture(scope="module")
def seeded(ui_server: str) -> dict[str, Any]:
    """A running flow run of three tasks (extract -> <script> -> load) with logs, and a
    second running run to cancel."""
    api = f"{ui_server}/api"
    with httpx.Client(base_url=api, timeout=30) as client:
        flow = client.post("/flows/", json={"name": "etl"}).json()["id"]

        def running_run(name: str) -> str:
            run = client.post("/flow_runs/", json={"flow_id": flow, "name": name}).json()["id"]
            answer = client.post(f"/flow_runs/{run}/set_state", json={"state": {"type": "RUNNING"}})
            assert answer.is_success, answer.text
            return str(run)

        def task(run: str, name: str, upstream: str | None) -> str:
            inputs = {"x": [{"input_type": "task_run", "id": upstream}]} if upstream else {}
            body = {"flow_run_id": run, "task_key": name, "dynamic_key": "0", "name": name,
                    "task_inputs": inputs}  # fmt: skip
            answer = client.post("/task_runs/", json=body)
            assert answer.status_code == 201, answer.text
            task_run: str = answer.json()["id"]
            for state in ("RUNNING", "COMPLETED"):
                client.post(f"/task_runs/{task_run}/set_state", json={"state": {"type": state}})
            return task_run

        run = running_run("pipeline")
        extract = task(run, "extract", None)
        evil = task(run, EVIL, extract)
        load = task(run, "load", evil)
        now = dt.datetime.now(dt.UTC)
        logs = [
            {"name": "etl", "level": level, "message": message, "flow_run_id": run,
             "timestamp": (now + dt.timedelta(milliseconds=i)).isoformat()}
            for i, (level, message) in enumerate([(20, "extracting"), (40, EVIL)])
        ]  # fmt: skip
        assert client.post("/logs/", json=logs).is_success
        doomed = running_run("cancel-me")
    return {"api": api, "base": ui_server, "run": run, "extract": extract, "evil": evil,
            "load": load, "doomed": doomed}  # fmt: skip


def _expect() -> Any:
    return pytest.importorskip("playwright.sync_api").expect


def test_run_pages_load_cleanly_in_both_themes(page: Any, seeded: dict[str, Any]) -> None:
    run_url = f"{seeded['base']}/runs/flow-run/{seeded['run']}"
    urls = [run_url] + [f"{run_url}?tab={t}" for t in
                        ("task-runs", "subflows", "logs", "artifacts", "parameters")]  # fmt: skip
    urls.append(f"{seeded['base']}/runs/task-run/{seeded['evil']}")
    for url in urls:
        response = page.goto(url)
        assert response.status == 200, url
        page.wait_for_load_state("networkidle")
        assert page.watch.problems == [], (url, page.watch.problems)
        assert page.evaluate("window.pwned") is None


def test_open_a_run_and_see_its_graph_task_runs_and_logs(tab: Any, seeded: dict[str, Any]) -> None:
    expect = _expect()
    page = tab
    page.goto(f"{seeded['base']}/runs/flow-run/{seeded['run']}")
    nodes = page.locator("svg.run-graph a.run-graph-node")
    expect(nodes).to_have_count(3)
    # Left to right in dependency order.
    xs = [page.locator(f"a[data-node-id='{seeded[k]}'] rect").get_attribute("x")
          for k in ("extract", "evil", "load")]  # fmt: skip
    assert [float(x) for x in xs] == sorted(float(x) for x in xs) and len(set(xs)) == 3
    # The pan/zoom script ran: its controls are shown, and zooming out shrinks the drawing.
    controls = page.locator(".graph-controls")
    expect(controls).to_be_visible()
    before = float(page.locator("svg.run-graph").get_attribute("width"))
    page.click("[data-graph-zoom=out]")
    assert float(page.locator("svg.run-graph").get_attribute("width")) < before

    page.click("nav.tabs >> text=Task runs")
    expect(page.locator("#run-section tbody tr")).to_have_count(3)
    assert page.get_by_role("link", name=EVIL).count() == 1

    page.click("nav.tabs >> text=Logs")
    lines = page.locator(".log-line .log-message")
    expect(lines).to_have_count(2)
    assert lines.all_text_contents() == ["extracting", EVIL]
    page.select_option("#log-level", "ERROR")
    page.click("text=Filter")
    expect(lines).to_have_count(1)
    assert page.evaluate("window.pwned") is None
    assert page.watch.problems == []


def test_live_tail_shows_a_line_written_while_the_page_is_open(
    tab: Any, seeded: dict[str, Any]
) -> None:
    expect = _expect()
    page = tab
    page.goto(f"{seeded['base']}/runs/flow-run/{seeded['run']}?tab=logs")
    expect(page.locator(".log-line")).to_have_count(2)
    now = dt.datetime.now(dt.UTC).isoformat()
    line = {"name": "etl", "level": 20, "message": "written while watching",
            "flow_run_id": seeded["run"], "timestamp": now}  # fmt: skip
    with httpx.Client(base_url=seeded["api"]) as client:
        assert client.post("/logs/", json=[line]).is_success
    expect(page.locator(".log-message", has_text="written while watching")).to_have_count(
        1, timeout=15_000
    )
    assert page.watch.problems == []


def test_clicking_a_graph_node_opens_its_task_run(tab: Any, seeded: dict[str, Any]) -> None:
    page = tab
    page.goto(f"{seeded['base']}/runs/flow-run/{seeded['run']}")
    page.click(f"a[data-node-id='{seeded['evil']}']")
    page.wait_for_url(re.compile(rf".*/runs/task-run/{seeded['evil']}$"))
    assert EVIL in page.text_content("h1")
    # Its input came from extract, linked.
    page.click("section >> text=extract")
    page.wait_for_url(re.compile(rf".*/runs/task-run/{seeded['extract']}$"))
    assert page.evaluate("window.pwned") is None
    assert page.watch.problems == []


def test_cancel_a_running_run_from_its_page(tab: Any, seeded: dict[str, Any]) -> None:
    page = tab
    page.goto(f"{seeded['base']}/runs/flow-run/{seeded['doomed']}")
    page.click("text=Cancel…")
    page.wait_for_selector("text=Confirm: Cancel")
    page.click("text=Confirm: Cancel")
    page.wait_for_url(re.compile(rf".*/runs/flow-run/{seeded['doomed']}$"))
    assert "Cancelling" in page.text_content("h1") or "Cancelled" in page.text_content("h1")
    with httpx.Client(base_url=seeded["api"]) as client:
        state = client.get(f"/flow_runs/{seeded['doomed']}").json()["state"]["type"]
    assert state in ("CANCELLING", "CANCELLED")
    assert page.watch.problems == []


def test_readable_at_phone_width(browser: Any, seeded: dict[str, Any]) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 800})
    page = context.new_page()
    run_url = f"{seeded['base']}/runs/flow-run/{seeded['run']}"
    for url in (run_url, f"{run_url}?tab=logs", f"{seeded['base']}/runs/task-run/{seeded['evil']}"):
        page.goto(url)
        # Nothing wider than the screen: the graph, logs and tables scroll inside their box.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, (url, width)
    context.close()
