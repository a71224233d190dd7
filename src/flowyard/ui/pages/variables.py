"""The Variables pages: the list (name, value cut short, tags) and the forms that create,
edit and delete a variable. Values are JSON, typed as such (``"text"`` with its quotes,
``42``, ``{"a": 1}``); a value that is not JSON, or one the API refuses, is shown at its
field and nothing is stored.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from starlette.responses import HTMLResponse, RedirectResponse, Response

from flowyard.schemas.actions import VariableCreate, VariableUpdate
from flowyard.schemas.core import Variable
from flowyard.server.errors import Conflict
from flowyard.server.operations import variables
from flowyard.ui.context import Page, PageDep
from flowyard.ui.forms import Confirmation, Form, is_confirmed, submitted
from flowyard.ui.routing import PageRoute
from flowyard.ui.templating import render
from flowyard.ui.urls import WorkspaceUrls

router = APIRouter(route_class=PageRoute)

NAV = "variables"
# The list shows this much of a value; its edit page shows all of it.
SHOWN_VALUE_CHARS = 80
MAX_LISTED = 500
FIELDS = {"name": "name", "value": "value", "tags": "tags"}


class VariableUrls:
    def __init__(self, urls: WorkspaceUrls) -> None:
        self.urls = urls
        self.list = urls.page("variables")
        self.new = urls.page("variables/new")

    def edit(self, name: str) -> str:
        # Variable names are lowercase letters, digits, '-' and '_': nothing to encode.
        return self.urls.page(f"variables/edit/{name}")

    def delete(self, name: str) -> str:
        return self.urls.page(f"variables/delete/{name}")


def as_json(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=False, sort_keys=indent is not None)


def shortened(value: Any) -> str:
    text = as_json(value)
    return text if len(text) <= SHOWN_VALUE_CHARS else text[: SHOWN_VALUE_CHARS - 1] + "…"


def _see(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


@router.get("/variables", response_class=HTMLResponse)
async def variables_page(page: PageDep) -> HTMLResponse:
    listed = await variables.read_variables(page.ctx, None, limit=MAX_LISTED)
    total = await variables.count_variables(page.ctx, None)
    rows = [(variable, shortened(variable.value)) for variable in listed]
    context = {"rows": rows, "total": total, "variable_urls": VariableUrls(page.urls)}
    return render(page, "variables.html", context, nav=NAV)


def _form_page(page: Page, form: Form, variable: Variable | None) -> HTMLResponse:
    context = {"form": form, "variable": variable, "variable_urls": VariableUrls(page.urls)}
    status = 200 if form.ok else form.status_code
    return render(page, "variable_form.html", context, nav=NAV, status_code=status)


def _read_fields(form: Form) -> dict[str, Any]:
    return {"name": form.text("name"), "value": form.json_value("value"),
            "tags": form.tags("tags")}  # fmt: skip


@router.get("/variables/new", response_class=HTMLResponse)
async def new_variable_page(page: PageDep) -> HTMLResponse:
    return _form_page(page, Form({"value": '""'}), None)


@router.post("/variables/new", response_class=HTMLResponse)
async def create_variable(page: PageDep) -> Response:
    form = await submitted(page.request)
    create = form.model(VariableCreate, _read_fields(form), FIELDS)
    if create is not None:
        try:
            await variables.create_variable(page.ctx, create)
        except Conflict as exc:
            form.refuse(exc, "name")
        else:
            return _see(VariableUrls(page.urls).list)
    return _form_page(page, form, None)


@router.get("/variables/edit/{name}", response_class=HTMLResponse)
async def edit_variable_page(page: PageDep, name: str) -> HTMLResponse:
    variable = await variables.read_variable_by_name(page.ctx, name)
    form = Form({"name": variable.name, "value": as_json(variable.value, indent=2),
                 "tags": ", ".join(variable.tags)})  # fmt: skip
    return _form_page(page, form, variable)


@router.post("/variables/edit/{name}", response_class=HTMLResponse)
async def edit_variable(page: PageDep, name: str) -> Response:
    form = await submitted(page.request)
    variable = await variables.read_variable_by_name(page.ctx, name)
    update = form.model(VariableUpdate, _read_fields(form), FIELDS)
    if update is not None:
        try:
            await variables.update_variable(page.ctx, variable.id, update)
        except Conflict as exc:
            form.refuse(exc, "name")
        else:
            return _see(VariableUrls(page.urls).list)
    return _form_page(page, form, variable)


@router.post("/variables/delete/{name}", response_class=HTMLResponse)
async def delete_variable(page: PageDep, name: str) -> Response:
    form = await submitted(page.request)
    urls = VariableUrls(page.urls)
    variable = await variables.read_variable_by_name(page.ctx, name)
    if not is_confirmed(form):
        confirm = Confirmation(
            title=f"Delete variable {variable.name}",
            warning="Deleting cannot be undone; flows that read it will no longer find it.",
            label="Delete", action=urls.delete(variable.name), back=urls.list,
        )  # fmt: skip
        return render(page, "confirm.html", {"confirm": confirm}, nav=NAV)
    await variables.delete_variable(page.ctx, variable.id)
    return _see(urls.list)
