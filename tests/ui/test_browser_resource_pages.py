"""The Work Pools, Variables and Concurrency pages in a real browser (Chromium, headless)
against a real server process: every page loads with no console error and no failed
request in both themes; a variable and a concurrency limit are created, edited and
deleted through the forms (a bad value first); a work pool is paused and resumed; user
text renders as text."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

expect = pytest.importorskip("playwright.sync_api").expect

HOSTILE = "<script>window.pwned = 1</script>"
PAGES = [
    "/work-pools", "/work-pools/new", "/work-pools/pool/pool-a", "/work-pools/edit/pool-a",
    "/variables", "/variables/new", "/variables/edit/hostile",
    "/concurrency", "/concurrency/new?kind=tag", "/concurrency/new?kind=global",
]  # fmt: skip


@pytest.fixture(scope="module")
def seeded(ui_server: str) -> dict[str, Any]:
    api = f"{ui_server}/api"
    with httpx.Client(base_url=api, timeout=30) as client:

        def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            response = client.post(path, json=body)
            assert response.is_success, response.text
            return response.json() if response.content else {}

        post("/work_pools/", {"name": "pool-a", "type": "process", "description": HOSTILE})
        post("/work_pools/pool-a/workers/heartbeat", {"name": "worker-1"})
        post("/variables/", {"name": "hostile", "value": HOSTILE, "tags": ["<b>x</b>"]})
        post("/v2/concurrency_limits/", {"name": "held", "limit": 2})
        post("/concurrency_limits/", {"tag": "db", "concurrency_limit": 1})
        holder = {"type": "flow_run", "id": "00000000-0000-0000-0000-000000000001"}
        lease = {"names": ["held"], "slots": 1, "holder": holder}
        post("/v2/concurrency_limits/increment-with-lease", lease)
    return {"api": api, "base": ui_server}


def test_every_page_loads_cleanly(page: Any, seeded: dict[str, Any]) -> None:
    for path in PAGES:
        response = page.goto(seeded["base"] + path)
        assert response.status == 200, path
        page.wait_for_load_state("networkidle")
        assert page.watch.problems == [], (path, page.watch.problems)
        assert page.locator("nav[aria-label=Main]").count() == 1
        assert page.evaluate("window.pwned") is None, path


def test_user_text_is_shown_as_text(page: Any, seeded: dict[str, Any]) -> None:
    page.goto(seeded["base"] + "/variables")
    assert page.get_by_text('"<script>window.pwned = 1</script>"').count() == 1
    assert page.get_by_text("<b>x</b>").count() == 1
    page.goto(seeded["base"] + "/work-pools/pool/pool-a")
    assert page.get_by_text(HOSTILE).count() == 1
    assert page.evaluate("window.pwned") is None


def test_create_edit_and_delete_a_variable(tab: Any, seeded: dict[str, Any]) -> None:
    page, base = tab, seeded["base"]
    page.goto(base + "/variables")
    page.click("text=New variable")
    page.fill("#f-name", "retries")
    page.fill("#f-value", "three")  # not JSON
    page.fill("#f-tags", "etl, prod")
    with page.expect_response(re.compile(r".*/variables/new$")) as answer:
        page.click("button:text('Create')")
    assert answer.value.status == 422
    expect(page.locator("#value-error")).to_contain_text("not valid JSON")
    assert page.input_value("#f-name") == "retries"  # what was typed is kept
    page.watch.problems.clear()  # the 422 was the point
    page.fill("#f-value", '{"max": 3}')
    page.click("button:text('Create')")
    page.wait_for_url(base + "/variables")
    row = page.locator("tr", has_text="retries")
    expect(row).to_contain_text('{"max": 3}')
    expect(row).to_contain_text("prod")
    page.click("a[aria-label='Edit retries']")
    page.fill("#f-value", "5")
    page.click("button:text('Save')")
    page.wait_for_url(base + "/variables")
    expect(page.locator("tr", has_text="retries").locator("td.value-cell")).to_have_text("5")
    page.locator("tr", has_text="retries").locator("button:text('Delete…')").click()
    page.click("text=Confirm: Delete")
    page.wait_for_url(base + "/variables")
    expect(page.locator("tr", has_text="retries")).to_have_count(0)
    with httpx.Client(base_url=seeded["api"]) as client:
        assert client.get("/variables/name/retries").status_code == 404
    assert page.watch.problems == []


def test_create_edit_and_delete_a_concurrency_limit(tab: Any, seeded: dict[str, Any]) -> None:
    page, base = tab, seeded["base"]
    page.goto(base + "/concurrency")
    page.click("text=New global limit")
    page.fill("#f-name", "emails")
    page.fill("#f-limit", "-1")
    with page.expect_response(re.compile(r".*/concurrency/new$")) as answer:
        page.click("button:text('Create')")
    assert answer.value.status == 422
    expect(page.locator("#limit-error")).to_contain_text("greater than or equal to 0")
    page.watch.problems.clear()
    page.fill("#f-limit", "4")
    page.click("button:text('Create')")
    page.wait_for_url(base + "/concurrency")
    row = page.locator("#global-limits-table tr", has_text="emails")
    expect(row.locator("td.num").first).to_have_text("4")
    page.click("a[aria-label='Edit emails']")
    page.fill("#f-limit", "9")
    page.fill("#f-slot_decay", "0.5")
    page.click("button:text('Save')")
    page.wait_for_url(base + "/concurrency")
    expect(row.locator("td.num").first).to_have_text("9")
    expect(row.locator("td.num").nth(3)).to_have_text("0.5")
    row.locator("button:text('Delete…')").click()
    page.click("text=Confirm: Delete")
    page.wait_for_url(base + "/concurrency")
    expect(page.locator("#global-limits-table tr", has_text="emails")).to_have_count(0)
    assert page.watch.problems == []


def test_release_a_holders_slot(tab: Any, seeded: dict[str, Any]) -> None:
    page, base = tab, seeded["base"]
    page.goto(base + "/concurrency")
    row = page.locator("#global-limits-table tr", has_text="held")
    expect(row.locator("td.num").nth(1)).to_have_text("1")
    row.locator("button:text('Release…')").click()
    page.click("text=Confirm: Release")
    page.wait_for_url(base + "/concurrency")
    expect(row.locator("td.num").nth(1)).to_have_text("0")
    expect(row.locator("button:text('Release…')")).to_have_count(0)
    assert page.watch.problems == []


def test_pause_and_resume_a_work_pool(tab: Any, seeded: dict[str, Any]) -> None:
    page, base = tab, seeded["base"]
    page.goto(base + "/work-pools")
    page.click("a:text('pool-a')")
    page.wait_for_url(base + "/work-pools/pool/pool-a")
    expect(page.locator("text=worker-1")).to_have_count(1)
    page.click("button:text('Pause')")
    expect(page.locator("h1 .state-badge")).to_have_text(re.compile("Paused"))
    with httpx.Client(base_url=seeded["api"]) as client:
        assert client.get("/work_pools/pool-a").json()["is_paused"] is True
    page.click("button:text('Resume')")
    expect(page.locator("h1 .state-badge")).not_to_have_text(re.compile("Paused"))
    with httpx.Client(base_url=seeded["api"]) as client:
        assert client.get("/work_pools/pool-a").json()["is_paused"] is False
    assert page.watch.problems == []


def test_readable_at_phone_width(browser: Any, seeded: dict[str, Any]) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 800})
    tab = context.new_page()
    for path in PAGES:
        tab.goto(seeded["base"] + path)
        # Nothing wider than the screen but the tables and the job template, which scroll
        # inside their box.
        width = tab.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, (path, width)
    context.close()
