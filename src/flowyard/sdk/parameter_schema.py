"""The JSON Schema of a flow's parameters, as a deployment's ``parameter_openapi_schema``.

One property per parameter with its ``title``, ``position`` and, when it has one, its
``default``; annotated types are described by pydantic (``TypeAdapter``), with nested
models under ``definitions``. Parameters without a default are ``required``.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

from pydantic import TypeAdapter
from pydantic_core import to_jsonable_python


def _type_schema(hint: Any, definitions: dict[str, Any]) -> dict[str, Any]:
    try:
        schema = TypeAdapter(hint).json_schema(ref_template="#/definitions/{model}")
    except Exception:  # noqa: BLE001 - a type pydantic cannot describe accepts anything
        return {}
    definitions.update(schema.pop("$defs", {}))
    return schema


def _hints_one_by_one(fn: Callable[..., Any]) -> dict[str, Any]:
    hints: dict[str, Any] = {}
    namespace = getattr(fn, "__globals__", {})
    for name, hint in getattr(fn, "__annotations__", {}).items():
        if isinstance(hint, str):
            try:
                hint = eval(hint, namespace)  # noqa: S307 - the function's own annotation
            except Exception:  # noqa: BLE001 - left undescribed
                continue
        hints[name] = hint
    return hints


def parameter_schema(fn: Callable[..., Any]) -> dict[str, Any]:
    """The parameter schema of ``fn``'s signature."""
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception:  # noqa: BLE001 - one unresolvable hint: resolve the others one by one
        hints = _hints_one_by_one(fn)
    properties: dict[str, Any] = {}
    required: list[str] = []
    definitions: dict[str, Any] = {}
    signature = inspect.signature(fn)
    for position, (name, param) in enumerate(signature.parameters.items()):
        hint = hints.get(name, param.annotation)
        if param.kind is param.VAR_POSITIONAL:
            hint = list[Any] if hint is inspect.Parameter.empty else list[hint]  # type: ignore[valid-type]
        elif param.kind is param.VAR_KEYWORD:
            hint = dict[str, Any] if hint is inspect.Parameter.empty else dict[str, hint]  # type: ignore[valid-type]
        prop: dict[str, Any] = {}
        if hint is not inspect.Parameter.empty and not isinstance(hint, str):
            prop.update(_type_schema(hint, definitions))
        prop["title"] = name
        prop["position"] = position
        if param.default is not inspect.Parameter.empty:
            prop["default"] = to_jsonable_python(param.default, fallback=repr)
        elif param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            required.append(name)
        properties[name] = prop
    schema: dict[str, Any] = {"title": "Parameters", "type": "object", "properties": properties}
    if not any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        # No ``**kwargs`` to take them: the server refuses unknown parameters at request time
        # (an enforced schema) rather than the run failing at start.
        schema["additionalProperties"] = False
    if required:
        schema["required"] = required
    if definitions:
        schema["definitions"] = definitions
    return schema
