"""Templates in automation actions: sandboxed Jinja2.

An automation's author is a workspace member, not the server's operator: templates run in
``ImmutableSandboxedEnvironment`` (no attribute that reaches Python internals, no mutation
of the objects in scope), with autoescaping off (the results are parameters and messages,
not HTML) and undefined names rendered empty, as the contract's server does. A template
that does not parse is refused when the automation is saved (``POST /templates/validate``
says where); one that fails while rendering makes its action fail with the reason.
"""

from __future__ import annotations

import functools
from typing import Any

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from flowyard.server.errors import Invalid

MAX_TEMPLATE_CHARS = 100_000


@functools.cache
def environment() -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(autoescape=False, enable_async=False)


def looks_like_template(text: str) -> bool:
    return "{{" in text or "{%" in text


def check_template(text: str) -> None:
    """Raise :class:`Invalid` naming the line and the reason when ``text`` does not parse."""
    if len(text) > MAX_TEMPLATE_CHARS:
        raise Invalid(f"A template is at most {MAX_TEMPLATE_CHARS} characters.")
    try:
        environment().parse(text)
    except TemplateSyntaxError as exc:
        raise Invalid(f"Invalid template at line {exc.lineno}: {exc.message}") from None


def render(text: str, scope: dict[str, Any]) -> str:
    return environment().from_string(text).render(scope)


def render_values(value: Any, scope: dict[str, Any]) -> Any:
    """Every string in ``value`` (nested dicts and lists) rendered with ``scope``."""
    if isinstance(value, str):
        return render(value, scope) if looks_like_template(value) else value
    if isinstance(value, dict):
        return {key: render_values(item, scope) for key, item in value.items()}
    if isinstance(value, list):
        return [render_values(item, scope) for item in value]
    return value


def template_strings(value: Any) -> list[str]:
    """The strings in ``value`` that are templates (to check them when saved)."""
    if isinstance(value, str):
        return [value] if looks_like_template(value) else []
    if isinstance(value, dict):
        return [text for item in value.values() for text in template_strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in template_strings(item)]
    return []
