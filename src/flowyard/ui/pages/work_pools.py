"""The Work Pools pages: the list (status, limit, last worker poll), one pool (its queues,
workers and base job template), and the forms that create, edit, pause, resume and delete
a pool or pause and resume one of its queues. Everything through ``operations``.

A pool's name may hold any character, so it is the last part of each path
(``/work-pools/pool/{name}``), percent-encoded in links.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from fastapi import APIRouter
from starlette.responses import HTMLResponse, RedirectResponse, Response

from flowyard.schemas.work_pools import WorkPoolCreate, WorkPoolUpdate, WorkQueueUpdate
from flowyard.server.errors import Conflict, Invalid
from flowyard.server.operations import work_pool_pages, work_pools, work_queues
from flowyard.ui.context import Page, PageDep
from flowyard.ui.forms import Confirmation, Form, is_confirmed, submitted
from flowyard.ui.routing import PageRoute
from flowyard.ui.templating import render
from flowyard.ui.urls import WorkspaceUrls

router = APIRouter(route_class=PageRoute)

NAV = "work_pools"
POOL_FIELDS = {"name": "name", "type": "type", "concurrency_limit": "concurrency_limit",
               "description": "description"}  # fmt: skip


class PoolUrls:
    """Where each work-pool page of the workspace lives."""

    def __init__(self, urls: WorkspaceUrls) -> None:
        self.urls = urls
        self.list = urls.page("work-pools")
        self.new = urls.page("work-pools/new")

    def _of(self, action: str, name: str) -> str:
        return self.urls.page(f"work-pools/{action}/{quote(name, safe='')}")

    def detail(self, name: str) -> str:
        return self._of("pool", name)

    def edit(self, name: str) -> str:
        return self._of("edit", name)

    def pause(self, name: str) -> str:
        return self._of("pause", name)

    def delete(self, name: str) -> str:
        return self._of("delete", name)

    def queue_pause(self, name: str) -> str:
        return self._of("queue-pause", name)


def _see(url: str) -> Response:
    # 303: the browser follows a POST's answer with a GET, so reloading repeats nothing.
    return RedirectResponse(url, status_code=303)


def _is_paused(form: Form) -> bool:
    value = form.text("paused")
    if value not in ("yes", "no"):
        raise Invalid(f"paused: yes or no, not {value!r}.")
    return value == "yes"


@router.get("/work-pools", response_class=HTMLResponse)
async def work_pools_page(page: PageDep) -> HTMLResponse:
    listing = await work_pool_pages.read_pool_listing(page.ctx)
    context = {"listing": listing, "pool_urls": PoolUrls(page.urls)}
    return render(page, "work_pools.html", context, nav=NAV)


@router.get("/work-pools/pool/{name:path}", response_class=HTMLResponse)
async def work_pool_page(page: PageDep, name: str) -> HTMLResponse:
    detail = await work_pool_pages.read_pool_detail(page.ctx, name)
    template = json.dumps(detail.pool.base_job_template, indent=2, sort_keys=True)
    context = {"detail": detail, "pool": detail.pool, "job_template": template,
               "pool_urls": PoolUrls(page.urls)}  # fmt: skip
    return render(page, "work_pool.html", context, nav=NAV)


async def _create_form(page: Page, form: Form) -> HTMLResponse:
    types = await work_pool_pages.read_worker_types(page.ctx)
    context = {"form": form, "worker_types": types, "pool_urls": PoolUrls(page.urls),
               "pool": None}  # fmt: skip
    status = 200 if form.ok else form.status_code
    return render(page, "work_pool_form.html", context, nav=NAV, status_code=status)


@router.get("/work-pools/new", response_class=HTMLResponse)
async def new_work_pool_page(page: PageDep) -> HTMLResponse:
    return await _create_form(page, Form({"type": "process"}))


@router.post("/work-pools/new", response_class=HTMLResponse)
async def create_work_pool(page: PageDep) -> Response:
    form = await submitted(page.request)
    types = await work_pool_pages.read_worker_types(page.ctx)
    if form.text("type") not in types:
        form.errors["type"] = f"one of {', '.join(types)}"
    limit = form.optional_int("concurrency_limit")
    data = {"name": form.text("name"), "type": form.text("type"),
            "description": form.text("description") or None,
            "concurrency_limit": limit}  # fmt: skip
    create = form.model(WorkPoolCreate, data, POOL_FIELDS)
    if create is not None:
        try:
            pool = await work_pools.create_work_pool(page.ctx, create)
        except Conflict as exc:
            form.refuse(exc, "name")
        else:
            return _see(PoolUrls(page.urls).detail(pool.name))
    return await _create_form(page, form)


def _edit_form(page: Page, pool_name: str, form: Form) -> HTMLResponse:
    context = {"form": form, "pool": pool_name, "pool_urls": PoolUrls(page.urls),
               "worker_types": []}  # fmt: skip
    status = 200 if form.ok else form.status_code
    return render(page, "work_pool_form.html", context, nav=NAV, status_code=status)


@router.get("/work-pools/edit/{name:path}", response_class=HTMLResponse)
async def edit_work_pool_page(page: PageDep, name: str) -> HTMLResponse:
    pool = await work_pools.read_work_pool(page.ctx, name)
    limit = "" if pool.concurrency_limit is None else str(pool.concurrency_limit)
    form = Form({"description": pool.description or "", "concurrency_limit": limit})
    return _edit_form(page, pool.name, form)


@router.post("/work-pools/edit/{name:path}", response_class=HTMLResponse)
async def edit_work_pool(page: PageDep, name: str) -> Response:
    form = await submitted(page.request)
    limit = form.optional_int("concurrency_limit")
    # Both always sent: an emptied field clears the description or lifts the limit.
    data = {"description": form.text("description") or None, "concurrency_limit": limit}
    update = form.model(WorkPoolUpdate, data, POOL_FIELDS)
    if update is None:
        await work_pools.read_work_pool(page.ctx, name)  # a missing pool is a 404, not a form
        return _edit_form(page, name, form)
    await work_pools.update_work_pool(page.ctx, name, update)
    return _see(PoolUrls(page.urls).detail(name))


@router.post("/work-pools/pause/{name:path}", response_class=HTMLResponse)
async def pause_work_pool(page: PageDep, name: str) -> Response:
    form = await submitted(page.request)
    update = WorkPoolUpdate(is_paused=_is_paused(form))
    await work_pools.update_work_pool(page.ctx, name, update)
    return _see(PoolUrls(page.urls).detail(name))


@router.post("/work-pools/queue-pause/{name:path}", response_class=HTMLResponse)
async def pause_work_queue(page: PageDep, name: str) -> Response:
    form = await submitted(page.request)
    update = WorkQueueUpdate(is_paused=_is_paused(form))
    await work_queues.update_pool_work_queue(page.ctx, name, form.text("queue"), update)
    return _see(PoolUrls(page.urls).detail(name))


@router.post("/work-pools/delete/{name:path}", response_class=HTMLResponse)
async def delete_work_pool(page: PageDep, name: str) -> Response:
    form = await submitted(page.request)
    pool_urls = PoolUrls(page.urls)
    pool = await work_pools.read_work_pool(page.ctx, name)
    if not is_confirmed(form):
        confirm = Confirmation(
            title=f"Delete work pool {pool.name}",
            warning="Deleting cannot be undone: the pool, its queues and its workers are "
            "removed. Deployments that name it can no longer be run by a worker.",
            label="Delete", action=pool_urls.delete(pool.name), back=pool_urls.detail(pool.name),
        )  # fmt: skip
        return render(page, "confirm.html", {"confirm": confirm}, nav=NAV)
    await work_pools.delete_work_pool(page.ctx, name)
    return _see(pool_urls.list)
