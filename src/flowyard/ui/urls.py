"""Where each page of a workspace lives: the one place that spells UI URLs.

The default workspace is served at the short prefix ``""`` (``/``, ``/runs``); any other at
``/accounts/{account_id}/workspaces/{workspace_id}``. A page keeps the prefix it was
opened under, so every link it renders stays in its workspace.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import urlencode

WORKSPACE_PREFIX = "/accounts/{account_id}/workspaces/{workspace_id}"
STATIC_PREFIX = "/ui-static"

Query = dict[str, str | list[str]] | list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class WorkspaceUrls:
    """The URLs of one workspace's pages. ``prefix`` is ``""`` for the default workspace."""

    prefix: str = ""

    @classmethod
    def of(
        cls, account_id: uuid.UUID | str | None, workspace_id: uuid.UUID | str | None
    ) -> WorkspaceUrls:
        if account_id is None or workspace_id is None:
            return cls("")
        return cls(WORKSPACE_PREFIX.format(account_id=account_id, workspace_id=workspace_id))

    def page(self, path: str = "", query: Query | None = None) -> str:
        """``path`` relative to the workspace (``"runs"``), with an optional query string."""
        url = f"{self.prefix}/{path.lstrip('/')}"
        if query:
            url += "?" + urlencode(query, doseq=True)
        return url

    @property
    def dashboard(self) -> str:
        return self.page("")

    @property
    def flow_runs(self) -> str:
        return self.page("runs")

    def flow_run(self, flow_run_id: uuid.UUID | str) -> str:
        # The detail page's path shape, shared with ``pages/flow_run*.py``.
        return self.page(f"runs/flow-run/{flow_run_id}")

    def flow_runs_filtered(self, **filters: str | list[str]) -> str:
        """The flow-run list filtered as given (keys of ``pages.run_filters.RunListQuery``)."""
        return self.page("runs", {k: v for k, v in filters.items() if v not in ("", [])})


def static(path: str) -> str:
    return f"{STATIC_PREFIX}/{path}"
