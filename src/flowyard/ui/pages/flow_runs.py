"""The Flow Runs page: the filtered, sorted, keyset-paged list, and its selection.

The filter is the URL's query (``flowyard.ui.run_query``): a GET form, so a filtered list
is a link, and the back button walks through filters. With htmx the form and the pager
swap only the results (and push the URL); without it they load the page.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import HTMLResponse

from flowyard.schemas.states import StateType
from flowyard.server.operations import flow_run_pages, flow_runs
from flowyard.ui.context import PageDep
from flowyard.ui.formatting import utcnow
from flowyard.ui.routing import PageRoute
from flowyard.ui.run_query import (
    CUSTOM,
    RANGES,
    SORT_LABELS,
    STATE_CHOICES,
    RunListQuery,
)
from flowyard.ui.templating import render

router = APIRouter(route_class=PageRoute)

BULK_ACTIONS = {
    "cancel": "Cancel",
    "retry": "Retry",
    "set_state": "Set state",
    "delete": "Delete",
}
SETTABLE_STATES = [s.value for s in flow_run_pages.SETTABLE_STATES]


@router.get("/runs", response_class=HTMLResponse)
async def flow_runs_page(page: PageDep) -> HTMLResponse:
    query = RunListQuery.parse(page.request.query_params.multi_items())
    filters = query.run_filters(utcnow())
    listing = await flow_run_pages.read_flow_run_page(
        page.ctx, filters, query.sort, query.after, query.limit
    )
    total = await flow_runs.count_flow_runs(page.ctx, filters)
    context = {
        "query": query,
        "listing": listing,
        "total": total,
        "next_url": (
            page.urls.page("runs", query.params(after=listing.next)) if listing.next else None
        ),
        "first_url": page.urls.page("runs", query.params()) if query.after else None,
        "return_to": page.urls.page("runs", query.params(after=query.after)),
        "bulk_actions": BULK_ACTIONS,
        "settable_states": SETTABLE_STATES,
    }
    if not page.is_partial_request:
        # The form's choices only for a whole page: a swap replaces the results alone.
        context["choices"] = await flow_run_pages.read_filter_choices(page.ctx)
        context["ranges"] = [(key, label) for key, (label, _) in RANGES.items()] + [
            (CUSTOM, "Custom")
        ]
        context["state_choices"] = [
            (s, "Late" if s == "LATE" else StateType(s).value.title()) for s in STATE_CHOICES
        ]
        context["sort_labels"] = SORT_LABELS
    return render(
        page, "flow_runs.html", context, partial="_flow_runs_results.html", nav="flow_runs"
    )
