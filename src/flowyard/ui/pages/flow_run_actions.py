"""Bulk actions on a selection of flow runs: cancel, retry, set state, delete.

Two steps, both POSTs with the CSRF token: the list's form names the action and the runs,
and is answered with a confirmation page listing them (nothing changes yet); its
"Confirm" button sends the same fields with ``confirmed=yes``, and the answer lists what
happened to each run (orchestration may refuse some: a run already finished cannot be
cancelled). Every change goes through ``operations.flow_run_pages``.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from fastapi import APIRouter
from starlette.responses import HTMLResponse

from flowyard.schemas.filters import FlowRunFilter, IdFilter, RunFilters
from flowyard.schemas.states import SetStateStatus, StateType
from flowyard.server.errors import Invalid
from flowyard.server.operations import flow_run_pages
from flowyard.server.operations.flow_run_pages import FlowRunOrder
from flowyard.ui.context import Page, PageDep
from flowyard.ui.pages.flow_runs import BULK_ACTIONS
from flowyard.ui.routing import PageRoute, read_form
from flowyard.ui.templating import render

router = APIRouter(route_class=PageRoute)


@router.post("/runs/bulk", response_class=HTMLResponse)
async def bulk_action(page: PageDep) -> HTMLResponse:
    fields = await read_form(page.request)
    form: dict[str, str] = dict(fields)
    action = form.get("action", "")
    if action not in BULK_ACTIONS:
        raise Invalid(f"action: one of {', '.join(BULK_ACTIONS)}, not {action!r}.")
    run_ids = _run_ids([value for key, value in fields if key == "run"])
    state = _state(form.get("state", "")) if action == "set_state" else None
    return_to = _return_to(page, form.get("return_to", ""))
    selection = await flow_run_pages.read_flow_run_page(
        page.ctx,
        RunFilters(flow_runs=FlowRunFilter(id=IdFilter(any_=run_ids))),
        FlowRunOrder.NAME_ASC, None, len(run_ids),
    )  # fmt: skip
    context = {
        "action": action, "action_label": BULK_ACTIONS[action], "state": state,
        "runs": selection.runs, "return_to": return_to,
    }  # fmt: skip
    if form.get("confirmed") != "yes":
        return render(page, "flow_runs_confirm.html", context, nav="flow_runs")
    before = {run.id: run.state_id for run in selection.runs}
    outcomes = await _apply(page, action, before, state)
    return render(page, "flow_runs_done.html", {**context, "outcomes": outcomes}, nav="flow_runs")


async def _apply(
    page: Page, action: str, before: dict[uuid.UUID, uuid.UUID | None], state: StateType | None
) -> dict[uuid.UUID, str]:
    """What happened to each run, in words. ``before``: each run's state id beforehand
    (orchestration may answer a proposal with another new state: Cancelling a run that has
    nothing to stop makes it Cancelled; or leave the run where it was)."""
    run_ids = list(before)
    if action == "delete":
        deleted = set(await flow_run_pages.delete_flow_runs(page.ctx, run_ids))
        return {run_id: "Deleted" if run_id in deleted else "Not found" for run_id in run_ids}
    if action == "cancel":
        results = await flow_run_pages.cancel_flow_runs(page.ctx, run_ids)
    elif action == "retry":
        results = await flow_run_pages.retry_flow_runs(page.ctx, run_ids)
    else:
        assert state is not None
        results = await flow_run_pages.force_flow_run_states(page.ctx, run_ids, state, None)
    outcomes = {}
    for run_id, result in results:
        if result is None:
            outcomes[run_id] = "Not found"
            continue
        now = result.state
        if now is not None and (result.status == SetStateStatus.ACCEPT or now.id != before[run_id]):
            outcomes[run_id] = f"Now {now.name or now.type.value.title()}"
        else:
            reason = getattr(result.details, "reason", None) or result.status.value.title()
            outcomes[run_id] = f"Refused: {reason}"
    return outcomes


def _run_ids(values: list[str]) -> list[uuid.UUID]:
    if not values:
        raise Invalid("Select at least one flow run (tick its box in the list).")
    if len(values) > flow_run_pages.MAX_SELECTION:
        raise Invalid(f"Select at most {flow_run_pages.MAX_SELECTION} flow runs at a time.")
    try:
        return list(dict.fromkeys(uuid.UUID(value) for value in values))
    except ValueError:
        raise Invalid("run: not a flow run id.") from None


def _state(value: str) -> StateType:
    allowed = flow_run_pages.SETTABLE_STATES
    try:
        state = StateType(value.upper())
    except ValueError:
        state = None
    if state not in allowed:
        raise Invalid(f"state: one of {', '.join(s.value for s in allowed)}, not {value!r}.")
    return state


def _return_to(page: Page, value: str) -> str:
    """Back to the list the selection came from; only ever a page of this workspace's list
    (a form field, so never trusted as a URL to send the browser anywhere else)."""
    parts = urlsplit(value)
    home = page.urls.flow_runs
    if parts.scheme or parts.netloc or parts.path != home:
        return home
    return value
