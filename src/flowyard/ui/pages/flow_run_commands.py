"""The actions of the flow run page: one POST route per action (with the CSRF token, which
``PageRoute`` checks before anything runs).

An action that needs confirming answers its first POST with a confirmation page (nothing
changes); the page's "Confirm" button sends ``confirmed=yes``. An accepted change sends the
browser back to the run (or, after a delete, to the list); a refusal by orchestration is
shown on the confirmation page with its reason (409), so nothing happens silently.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from starlette.responses import RedirectResponse, Response

from flowyard.schemas.states import StateType
from flowyard.server.errors import Invalid
from flowyard.server.operations import flow_runs
from flowyard.ui.context import PageDep
from flowyard.ui.routing import PageRoute, read_form
from flowyard.ui.run_actions import ACTIONS, SET_STATE, apply_action, refusal, settable_state_names
from flowyard.ui.templating import render

router = APIRouter(route_class=PageRoute)


@router.post("/runs/flow-run/{flow_run_id}/{action_key}")
async def flow_run_action(page: PageDep, flow_run_id: uuid.UUID, action_key: str) -> Response:
    action = ACTIONS.get(action_key)
    if action is None:
        raise Invalid(f"action: one of {', '.join(ACTIONS)}, not {action_key!r}.")
    form = dict(await read_form(page.request))
    state = _state(form.get("state", "")) if action is SET_STATE else None
    run = await flow_runs.read_flow_run(page.ctx, flow_run_id)
    context = {"run": run, "action": action, "state": state, "problem": None}
    if action.confirm and form.get("confirmed") != "yes":
        return render(page, "flow_run_confirm.html", context, nav="flow_runs")
    result = await apply_action(page.ctx, action, flow_run_id, state)
    problem = refusal(result)
    if problem is not None:
        context["problem"] = problem
        return render(page, "flow_run_confirm.html", context, nav="flow_runs", status_code=409)
    target = page.urls.flow_runs if action.key == "delete" else page.urls.flow_run(flow_run_id)
    # 303: the browser follows with a GET, so a reload does not send the action again.
    return RedirectResponse(target, status_code=303)


def _state(value: str) -> StateType:
    allowed = settable_state_names()
    if value.upper() not in allowed:
        raise Invalid(f"state: one of {', '.join(allowed)}, not {value!r}.")
    return StateType(value.upper())
