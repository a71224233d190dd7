"""The UI in a real browser (Chromium, headless) against a real server process.

Every page loads with no console error and no failed request, in the light and the dark
theme; the flow-run filter lives in the URL (reload shows the same filter, back returns to
the previous one); bulk cancel works end to end; user text renders as text.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import httpx
import pytest

from flowyard.ui.assets import vendor_asset_present

expect = pytest.importorskip("playwright.sync_api").expect

PAGES = ["/", "/runs", "/?range=7d", "/runs?state=FAILED&sort=name_asc"]


@pytest.fixture(scope="module")
def seeded(ui_server: str) -> dict[str, Any]:
    """A few runs in several states, one with hostile text everywhere a user can put it."""
    api = f"{ui_server}/api"
    with httpx.Client(base_url=api, timeout=30) as client:
        flow = client.post("/flows/", json={"name": "etl"}).json()["id"]
        soon = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).isoformat()

        def run(name: str, state: dict[str, Any], tags: list[str]) -> str:
            body = {"flow_id": flow, "name": name, "tags": tags, "state": state,
                    "parameters": {"note": "<script>window.pwned = 1</script>"}}  # fmt: skip
            response = client.post("/flow_runs/", json=body)
            assert response.status_code == 201, response.text
            run_id: str = response.json()["id"]
            return run_id

        ids = {
            "failed": run("failed-nightly", {"type": "FAILED"}, ["nightly"]),
            "completed": run("completed-nightly", {"type": "COMPLETED"}, ["nightly"]),
            "failed_adhoc": run("failed-adhoc", {"type": "FAILED"}, ["adhoc"]),
            "hostile": run("<script>window.pwned = 1</script>", {"type": "RUNNING"},
                           ["<img src=x onerror='window.pwned=1'>"]),  # fmt: skip
            "upcoming": run(
                "later", {"type": "SCHEDULED", "state_details": {"scheduled_time": soon}}, ["batch"]
            ),
            "scheduled_a": run("cancel-me-a", {"type": "SCHEDULED"}, ["to-cancel"]),
            "scheduled_b": run("cancel-me-b", {"type": "SCHEDULED"}, ["to-cancel"]),
        }
        assert client.post("/work_pools/", json={"name": "pool-a", "type": "process"}).is_success
    return {"api": api, "base": ui_server, **ids}


def test_every_page_loads_cleanly(page: Any, seeded: dict[str, Any]) -> None:
    for path in PAGES:
        response = page.goto(seeded["base"] + path)
        assert response.status == 200, path
        page.wait_for_load_state("networkidle")
        assert page.watch.problems == [], (path, page.watch.problems)
        assert page.locator("nav[aria-label=Main]").count() == 1
        assert page.evaluate("window.pwned") is None
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp


def test_the_theme_follows_the_system_setting(browser: Any, seeded: dict[str, Any]) -> None:
    colours = {}
    for scheme in ["light", "dark"]:
        context = browser.new_context(color_scheme=scheme)
        tab = context.new_page()
        tab.goto(seeded["base"] + "/")
        colours[scheme] = tab.evaluate("getComputedStyle(document.body).backgroundColor")
        context.close()
    assert colours["light"] == "rgb(255, 255, 255)"
    assert colours["dark"] != colours["light"]


def test_readable_at_phone_width(browser: Any, seeded: dict[str, Any]) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 800})
    tab = context.new_page()
    for path in ["/", "/runs"]:
        tab.goto(seeded["base"] + path)
        # Nothing wider than the screen but the tables, which scroll inside their box.
        width = tab.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, (path, width)
    context.close()


def test_keyboard_reaches_the_skip_link_and_the_navigation(
    page: Any, seeded: dict[str, Any]
) -> None:
    page.goto(seeded["base"] + "/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#main"
    labels = []
    page.focus("a.brand")
    for _ in range(3):
        page.keyboard.press("Tab")
        labels.append(page.evaluate("document.activeElement.textContent"))
    assert "Dashboard" in labels and "Flow Runs" in labels


def test_filter_by_state_and_tag_lives_in_the_url(page: Any, seeded: dict[str, Any]) -> None:
    page.goto(seeded["base"] + "/runs")
    page.evaluate("window.stayed = true")
    page.select_option("#f-state", ["FAILED"])
    page.fill("#f-tag", "nightly")
    page.click("text=Apply filters")
    page.wait_for_url(re.compile(r".*/runs\?.*state=FAILED"))
    assert "tag=nightly" in page.url

    def listed() -> list[str]:
        return page.locator("#runs-results tbody a").all_text_contents()

    # Waits by locator, not wait_for_function: the CSP forbids the eval that one uses.
    expect(page.locator("#runs-results tbody tr")).to_have_count(1)
    assert listed() == ["failed-nightly"]
    if vendor_asset_present():
        # htmx swapped the results in place (the page was not reloaded) and pushed the URL.
        assert page.evaluate("window.stayed") is True
    page.reload()
    assert listed() == ["failed-nightly"]
    assert page.locator("#f-state option[value=FAILED]").evaluate("o => o.selected")
    assert page.input_value("#f-tag") == "nightly"
    page.go_back()
    page.wait_for_url(seeded["base"] + "/runs")
    expect(page.locator("#runs-results tbody tr")).to_have_count(7)
    assert "failed-adhoc" in listed()
    assert page.watch.problems == []


def test_bulk_cancel(tab: Any, seeded: dict[str, Any]) -> None:
    page = tab
    page.goto(seeded["base"] + "/runs?tag=to-cancel")
    for name in ["cancel-me-a", "cancel-me-b"]:
        page.check(f"input[aria-label='Select {name}']")
    page.select_option("#bulk-action", "cancel")
    page.click("text=Apply…")
    page.wait_for_selector("text=Confirm: Cancel")
    assert "2 flow runs?" in page.text_content("h1")
    page.click("text=Confirm: Cancel")
    page.wait_for_selector("text=Cancel: done")
    assert page.locator("td.outcome").all_text_contents() == ["Now Cancelled", "Now Cancelled"]
    with httpx.Client(base_url=seeded["api"]) as client:
        for key in ["scheduled_a", "scheduled_b"]:
            run = client.get(f"/flow_runs/{seeded[key]}").json()
            assert run["state"]["type"] == "CANCELLED"
    page.click("text=Back to the list")
    page.wait_for_url(re.compile(r".*/runs\?.*tag=to-cancel$"))
    assert page.watch.problems == []


def test_user_text_is_shown_as_text(page: Any, seeded: dict[str, Any]) -> None:
    page.goto(seeded["base"] + "/runs")
    assert page.get_by_text("<script>window.pwned = 1</script>").count() == 1
    assert page.get_by_text("<img src=x onerror='window.pwned=1'>").count() == 1
    assert page.evaluate("window.pwned") is None
