"""The left navigation: the pages that exist, in the order the product names them.

Only pages that work are listed; Flows, Deployments, Work Pools, Blocks, Variables,
Artifacts, Concurrency, then Events, Automations and Settings are added here by the change
that builds each of them (``path`` relative to the workspace).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NavItem:
    key: str
    label: str
    path: str


NAV: list[NavItem] = [
    NavItem("dashboard", "Dashboard", ""),
    NavItem("flow_runs", "Flow Runs", "runs"),
    NavItem("work_pools", "Work Pools", "work-pools"),
    NavItem("variables", "Variables", "variables"),
    NavItem("concurrency", "Concurrency", "concurrency"),
]
