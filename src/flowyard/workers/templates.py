"""Turn a pool's base job template into one run's job configuration.

The template's ``job_configuration`` holds ``{{ name }}`` placeholders; the values are the
``variables`` schema's defaults, overridden by the deployment's ``job_variables``, overridden
by the run's. A value that is exactly one placeholder takes the variable's value as is (a
dict stays a dict); a placeholder inside a longer string is replaced by the value's text.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

_ONLY = re.compile(r"^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$")
_ANY = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def variable_values(template: dict[str, Any], *overrides: dict[str, Any] | None) -> dict[str, Any]:
    """The defaults of the template's variables, then each of ``overrides`` in turn."""
    properties = (template.get("variables") or {}).get("properties") or {}
    values = {
        name: spec["default"]
        for name, spec in properties.items()
        if isinstance(spec, dict) and "default" in spec
    }
    for layer in overrides:
        values.update(layer or {})
    return values


def render(value: Any, variables: dict[str, Any]) -> Any:
    """``value`` with its placeholders filled from ``variables`` (unknown ones become None
    when alone, empty text inside a string)."""
    if isinstance(value, str):
        whole = _ONLY.match(value)
        if whole:
            return variables.get(whole.group(1))

        def text(match: re.Match[str]) -> str:
            found = variables.get(match.group(1))
            return "" if found is None else str(found)

        return _ANY.sub(text, value)
    if isinstance(value, dict):
        return {key: render(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, variables) for item in value]
    return value


def job_configuration(
    template: dict[str, Any], *overrides: dict[str, Any] | None
) -> dict[str, Any]:
    """The run's job configuration: the template's ``job_configuration`` rendered with its
    variables (an empty template gives an empty configuration)."""
    configuration = template.get("job_configuration") or {}
    rendered = render(configuration, variable_values(template, *overrides))
    return rendered if isinstance(rendered, dict) else {}


def command_argv(command: Any) -> list[str]:
    """A configured command as an argv list: a list is kept, a string is split the way a
    POSIX shell would split it (no shell ever runs it); empty means none."""
    if command is None:
        return []
    if isinstance(command, list):
        return [str(part) for part in command]
    return shlex.split(str(command))
