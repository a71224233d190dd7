"""What every resource page (Work Pools, Variables, Concurrency) shares with the others:
security headers, no inline script or style, links that stay in the workspace, the nav."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI
from form_helpers import Browser

# Every GET page these modules add, once something exists to show on each.
PAGES = [
    "/work-pools", "/work-pools/new", "/work-pools/pool/main", "/work-pools/edit/main",
    "/variables", "/variables/new", "/variables/edit/answer",
    "/concurrency", "/concurrency/new?kind=tag", "/concurrency/new?kind=global",
]  # fmt: skip


async def _seed(ui: httpx.AsyncClient) -> None:
    web = Browser(ui)
    await web.api("POST", "/work_pools/", {"name": "main", "type": "process"}, 201)
    await web.api("POST", "/variables/", {"name": "answer", "value": 42}, 201)
    await web.api("POST", "/v2/concurrency_limits/", {"name": "api", "limit": 1}, 201)
    lease = {"names": ["api"], "slots": 1, "holder": {"type": "flow_run",
             "id": "00000000-0000-0000-0000-000000000001"}}  # fmt: skip
    await web.api("POST", "/v2/concurrency_limits/increment-with-lease", lease)


async def test_every_page_is_safe_and_self_contained(ui: httpx.AsyncClient) -> None:
    await _seed(ui)
    for path in PAGES:
        response = await ui.get(path)
        assert response.status_code == 200, (path, response.text[:300])
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        html = response.text
        assert re.search(r"<script(?![^>]*\bsrc=)", html) is None, path
        assert "style=" not in html and "<style" not in html, path
        for form in re.findall(r'<form method="post".*?</form>', html, re.S):
            assert 'name="csrf_token"' in form, (path, form)


async def test_the_navigation_links_the_new_pages(ui: httpx.AsyncClient) -> None:
    nav = (await ui.get("/")).text.split('aria-label="Main"')[1].split("</nav>")[0]
    for href, label in [("/work-pools", "Work Pools"), ("/variables", "Variables"),
                        ("/concurrency", "Concurrency")]:  # fmt: skip
        assert f'<a href="{href}">{label}</a>' in nav
    current = (await ui.get("/variables")).text
    assert '<a href="/variables" aria-current="page">Variables</a>' in current


async def test_a_workspace_url_keeps_every_link_and_form_in_its_workspace(
    app: FastAPI, ui: httpx.AsyncClient
) -> None:
    await _seed(ui)
    prefix = f"/accounts/{app.state.default_account_id}/workspaces/{app.state.default_workspace_id}"
    for path in PAGES:
        response = await ui.get(prefix + path)
        assert response.status_code == 200, (path, response.text[:300])
        targets = [
            url.replace("&amp;", "&")
            for url in re.findall(r'(?:href|action)="([^"]*)"', response.text)
            if url.startswith("/") and not url.startswith("/ui-static/")
        ]
        assert targets and all(url.startswith(prefix + "/") for url in targets), (path, targets)
    # A form posted in the workspace answers with a link back into it.
    web = Browser(ui)
    created = await web.post(prefix + "/variables/new", {"name": "v", "value": "1", "tags": ""})
    assert created.headers["location"] == prefix + "/variables"
