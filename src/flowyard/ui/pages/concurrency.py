"""The Concurrency page: tag limits (v1: a tag's task runs at once) and global limits (v2:
named slots, optionally decaying as a rate limit), each with the leases holding its slots;
and the forms that create, edit, delete and reset a limit or release one holder's slot.

A tag limit is the global limit named ``tag:<tag>`` (``operations.concurrency_limits``),
so both kinds are addressed by the limit's id and changed by the v2 operations.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from starlette.responses import HTMLResponse, RedirectResponse, Response

from flowyard.schemas.actions import ConcurrencyLimitV2Create, ConcurrencyLimitV2Update
from flowyard.schemas.concurrency import TAG_PREFIX, ConcurrencyLimitCreate, tag_limit_name
from flowyard.server.errors import Conflict, Invalid, NotFound
from flowyard.server.operations import concurrency_limits_v2 as limits
from flowyard.server.operations import concurrency_pages
from flowyard.server.operations.concurrency_pages import HeldLimit
from flowyard.ui.context import Page, PageDep
from flowyard.ui.forms import Confirmation, Form, is_confirmed, submitted
from flowyard.ui.routing import PageRoute
from flowyard.ui.templating import render
from flowyard.ui.urls import WorkspaceUrls

router = APIRouter(route_class=PageRoute)

NAV = "concurrency"
KINDS = ("tag", "global")
TAG_FIELDS = {"tag": "tag", "concurrency_limit": "limit", "limit": "limit"}
GLOBAL_FIELDS = {"name": "name", "limit": "limit", "slot_decay_per_second": "slot_decay"}


class LimitUrls:
    def __init__(self, urls: WorkspaceUrls) -> None:
        self.urls = urls
        self.list = urls.page("concurrency")

    def new(self, kind: str) -> str:
        return self.urls.page("concurrency/new", {"kind": kind})

    def of(self, action: str, limit_id: uuid.UUID) -> str:
        """``edit``, ``delete``, ``reset`` or ``release`` (a holder's lease) of a limit."""
        return self.urls.page(f"concurrency/{action}/{limit_id}")

    def holder(self, holder: dict[str, Any] | None) -> str | None:
        """The page of a lease's holder, when the UI has one."""
        kind, ident = (holder or {}).get("type"), (holder or {}).get("id")
        if kind == "flow_run" and ident:
            return self.urls.flow_run(str(ident))
        if kind == "task_run" and ident:
            return self.urls.page(f"runs/task-run/{ident}")
        return None


def _see(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


def _kind(value: str) -> str:
    if value not in KINDS:
        raise Invalid(f"kind: tag or global, not {value!r}.")
    return value


@router.get("/concurrency", response_class=HTMLResponse)
async def concurrency_page(page: PageDep) -> HTMLResponse:
    overview = await concurrency_pages.read_concurrency_overview(page.ctx)
    context = {"overview": overview, "limit_urls": LimitUrls(page.urls)}
    return render(page, "concurrency.html", context, nav=NAV)


def _form_page(page: Page, form: Form, kind: str, held: HeldLimit | None) -> HTMLResponse:
    context = {"form": form, "kind": kind, "held": held, "limit_urls": LimitUrls(page.urls)}
    status = 200 if form.ok else form.status_code
    return render(page, "concurrency_form.html", context, nav=NAV, status_code=status)


@router.get("/concurrency/new", response_class=HTMLResponse)
async def new_limit_page(page: PageDep, kind: str = "tag") -> HTMLResponse:
    form = Form({"limit": "1", "slot_decay": "0", "active": "on"})
    return _form_page(page, form, _kind(kind), None)


def _global_name(form: Form) -> str:
    name = form.text("name")
    if name.startswith(TAG_PREFIX):
        form.errors["name"] = f"names starting with {TAG_PREFIX!r} are tag limits"
    return name


def _created(form: Form, kind: str) -> ConcurrencyLimitV2Create | None:
    limit = form.optional_int("limit")
    if kind == "tag":
        fields = {"tag": form.text("tag"), "concurrency_limit": limit}
        tag_limit = form.model(ConcurrencyLimitCreate, fields, TAG_FIELDS)
        if tag_limit is None:
            return None
        data: dict[str, Any] = {"name": tag_limit_name(tag_limit.tag), "limit": limit}
        return form.model(ConcurrencyLimitV2Create, data, TAG_FIELDS)
    data = {"name": _global_name(form), "limit": limit, "active": "active" in form.values,
            "slot_decay_per_second": form.number("slot_decay")}  # fmt: skip
    return form.model(ConcurrencyLimitV2Create, data, GLOBAL_FIELDS)


@router.post("/concurrency/new", response_class=HTMLResponse)
async def create_limit(page: PageDep) -> Response:
    form = await submitted(page.request)
    kind = _kind(form.text("kind"))
    if form.text("limit") == "":
        form.errors["limit"] = "a whole number of slots"
    create = _created(form, kind)
    if create is not None:
        try:
            await limits.create_concurrency_limit(page.ctx, create)
        except Conflict:
            where = "tag" if kind == "tag" else "name"
            form.refuse(Conflict(f"A limit on this {where} already exists."), where)
        else:
            return _see(LimitUrls(page.urls).list)
    return _form_page(page, form, kind, None)


@router.get("/concurrency/edit/{limit_id}", response_class=HTMLResponse)
async def edit_limit_page(page: PageDep, limit_id: uuid.UUID) -> HTMLResponse:
    held = await concurrency_pages.read_held_limit(page.ctx, str(limit_id))
    limit = held.limit
    form = Form({"tag": held.tag, "name": limit.name, "limit": str(limit.limit),
                 "slot_decay": str(limit.slot_decay_per_second)})  # fmt: skip
    if limit.active:
        form.values["active"] = "on"
    return _form_page(page, form, "tag" if held.is_tag_limit else "global", held)


@router.post("/concurrency/edit/{limit_id}", response_class=HTMLResponse)
async def edit_limit(page: PageDep, limit_id: uuid.UUID) -> Response:
    form = await submitted(page.request)
    held = await concurrency_pages.read_held_limit(page.ctx, str(limit_id))
    limit = form.optional_int("limit")
    if form.text("limit") == "":
        form.errors["limit"] = "a whole number of slots"
    if held.is_tag_limit:  # a tag limit's tag is its identity: only its size changes
        update = form.model(ConcurrencyLimitV2Update, {"limit": limit}, TAG_FIELDS)
    else:
        data = {"name": _global_name(form), "limit": limit, "active": "active" in form.values,
                "slot_decay_per_second": form.number("slot_decay")}  # fmt: skip
        update = form.model(ConcurrencyLimitV2Update, data, GLOBAL_FIELDS)
    if update is not None:
        try:
            await limits.update_concurrency_limit(page.ctx, str(limit_id), update)
        except Conflict as exc:
            form.refuse(exc, "name")
        else:
            return _see(LimitUrls(page.urls).list)
    return _form_page(page, form, "tag" if held.is_tag_limit else "global", held)


def _label(held: HeldLimit) -> str:
    return f"tag limit {held.tag}" if held.is_tag_limit else f"limit {held.limit.name}"


@router.post("/concurrency/delete/{limit_id}", response_class=HTMLResponse)
async def delete_limit(page: PageDep, limit_id: uuid.UUID) -> Response:
    form = await submitted(page.request)
    held = await concurrency_pages.read_held_limit(page.ctx, str(limit_id))
    urls = LimitUrls(page.urls)
    if not is_confirmed(form):
        confirm = Confirmation(
            title=f"Delete {_label(held)}",
            warning=f"Deleting cannot be undone; its {len(held.leases)} holder(s) lose their "
            "slots and runs it held back may start at once.",
            label="Delete", action=urls.of("delete", limit_id), back=urls.list,
        )  # fmt: skip
        return render(page, "confirm.html", {"confirm": confirm}, nav=NAV)
    await limits.delete_concurrency_limit(page.ctx, str(limit_id))
    return _see(urls.list)


@router.post("/concurrency/reset/{limit_id}", response_class=HTMLResponse)
async def reset_limit(page: PageDep, limit_id: uuid.UUID) -> Response:
    form = await submitted(page.request)
    held = await concurrency_pages.read_held_limit(page.ctx, str(limit_id))
    urls = LimitUrls(page.urls)
    if not is_confirmed(form):
        confirm = Confirmation(
            title=f"Reset {_label(held)}",
            warning=f"Every slot is freed: its {len(held.leases)} holder(s) lose their slots, "
            "though their runs keep running.",
            label="Reset", action=urls.of("reset", limit_id), back=urls.list,
        )  # fmt: skip
        return render(page, "confirm.html", {"confirm": confirm}, nav=NAV)
    await limits.reset_concurrency_limit(page.ctx, str(limit_id), 0)
    return _see(urls.list)


@router.post("/concurrency/release/{limit_id}", response_class=HTMLResponse)
async def release_slot(page: PageDep, limit_id: uuid.UUID) -> Response:
    form = await submitted(page.request)
    held = await concurrency_pages.read_held_limit(page.ctx, str(limit_id))
    try:
        lease_id = uuid.UUID(form.text("lease"))
    except ValueError:
        raise Invalid("lease: not a lease id.") from None
    lease = next((lease for lease in held.leases if lease.id == lease_id), None)
    if lease is None:
        raise NotFound(f"No holder of {_label(held)} has that lease (released already?).")
    urls = LimitUrls(page.urls)
    if not is_confirmed(form):
        holder = lease.holder or {}
        who = f"{holder.get('type', 'holder')} {holder.get('id', lease.id)}"
        confirm = Confirmation(
            title=f"Release the slot{'s' if lease.slots != 1 else ''} of {who}",
            warning=f"Its lease is revoked: {lease.slots} slot(s) of {_label(held)} (and of "
            "any other limit the lease holds) are freed at once.",
            label="Release", action=urls.of("release", limit_id), back=urls.list,
            fields={"lease": str(lease.id)},
        )  # fmt: skip
        return render(page, "confirm.html", {"confirm": confirm}, nav=NAV)
    await limits.revoke_lease(page.ctx, lease_id)
    return _see(urls.list)
