"""The web UI: server-rendered pages (Jinja2, autoescaped) over the application layer.

Pages read and act only through ``flowyard.server.operations`` (an import-linter contract
forbids ``queries/``, ``orchestration/`` and the ORM here), with the request context that
the API resolves (:func:`flowyard.server.api.dependencies.workspace_context`), so a page
sees exactly what the same caller would see through ``/api``.

URLs. Every page exists twice: under ``/`` for the default workspace and under
``/accounts/{account_id}/workspaces/{workspace_id}`` for any workspace (the routers are
included under both prefixes, like the API's). Build links with ``page.urls`` (a
:class:`flowyard.ui.urls.WorkspaceUrls`), never by hand, so a page stays in the
workspace it was opened in and the cloud layer's switcher only swaps the prefix.

How to add a page (``flow_run`` as the example):

1. A module ``flowyard/ui/pages/flow_run.py`` with ``router = APIRouter(route_class=PageRoute)``
   (``flowyard.ui.routing``: security headers, CSRF on POST, domain errors rendered as an
   HTML error page) and its name in ``PAGE_MODULES`` in ``flowyard/ui/pages/__init__.py``.
2. A route taking ``page: PageDep`` (``flowyard.ui.context``: the RequestContext as
   ``page.ctx``, the workspace's URLs, its name, the CSRF token) that calls operations with
   ``page.ctx`` (one call per page section, never one per row) and returns
   ``render(page, "flow_run.html", {...})`` (``flowyard.ui.templating``).
3. A template ``templates/flow_run.html`` that ``{% extends "base.html" %}`` and fills
   ``{% block title %}`` and ``{% block content %}``; partials start with ``_``. Reuse the
   macros in ``templates/_macros.html`` (``state_badge``, ``csrf_field``) and the classes
   of ``static/flowyard.css``. No inline ``<script>`` or ``style=`` (the CSP forbids them);
   SVG takes its colours from CSS classes (``state-fill-completed`` ...).
4. A form that changes something is ``method="post"`` with ``{{ csrf_field(csrf_token) }}``
   (htmx requests send the token as a header, set on ``<body>``); read its fields with
   ``await read_form(page.request)`` (``flowyard.ui.routing``). A destructive one answers
   first with a confirmation page (see ``pages/flow_run_actions.py``).
5. Add the page's link to the navigation (``NAV`` in ``flowyard/ui/navigation.py``) once it
   works: pages not built yet are not linked.
6. Tests in ``tests/ui/``: in process with the ``ui`` client, ``seed`` and ``query_log``
   (one query per section, never per row); in a browser with ``ui_server`` and ``browser``
   (``tests/ui/conftest.py``, ``test_browser_pages.py``: no console error, no failed
   request, both themes).
"""
