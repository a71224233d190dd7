"""Check a block document's data against its schema's ``fields`` (a JSON schema).

A deliberately small validator for what block schemas use: ``type`` (one or a list),
``enum``, ``const``, ``anyOf`` / ``oneOf`` / ``allOf``, ``$ref`` into ``definitions`` /
``$defs``, ``required``, nested ``properties`` and array ``items``. Formats are not checked.
Unknown keys are allowed (clients add ``block_type_slug`` to nested blocks). The first
problem found is returned as ``data.<path>: <message>`` so the 422 names the field.
"""

from __future__ import annotations

from typing import Any

# Values standing for a nested block document ({"$ref": {"block_document_id": ...}}) are
# checked by the reference code, not here.
REF_KEY = "$ref"
MAX_DEPTH = 32


def _type_ok(expected: str, value: Any) -> bool:
    if expected == "string":
        return isinstance(value, str)
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expected == "boolean":
        return isinstance(value, bool)
    if expected == "object":
        return isinstance(value, dict)
    if expected == "array":
        return isinstance(value, list)
    if expected == "null":
        return value is None
    return True  # an unknown type name: not ours to refuse


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any] | None:
    ref = schema.get("$ref")
    if not isinstance(ref, str):
        return schema
    for prefix in ("#/definitions/", "#/$defs/"):
        if ref.startswith(prefix):
            definitions = root.get(prefix[2:-1]) or {}
            target = definitions.get(ref[len(prefix) :])
            return target if isinstance(target, dict) else None
    return None  # a reference we cannot follow: accept the value


def check(schema: Any, value: Any, root: dict[str, Any], path: str, depth: int = 0) -> str | None:
    """The first problem of ``value`` against ``schema``, or None."""
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return None
    if isinstance(value, dict) and set(value) == {REF_KEY}:
        return None
    resolved = _resolve(schema, root)
    if resolved is None:
        return None
    schema = resolved
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            problems = [check(option, value, root, path, depth + 1) for option in options]
            if all(problem is not None for problem in problems):
                return (
                    problems[0] if len(options) == 1 else f"{path}: does not match any allowed type"
                )
    for option in schema.get("allOf") or []:
        problem = check(option, value, root, path, depth + 1)
        if problem:
            return problem
    expected = schema.get("type")
    if expected is not None:
        names = expected if isinstance(expected, list) else [expected]
        if not any(_type_ok(str(name), value) for name in names):
            return f"{path}: expected {' or '.join(map(str, names))}, got {_kind(value)}"
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(repr(item) for item in schema["enum"])
        return f"{path}: must be one of {allowed}"
    if "const" in schema and value != schema["const"]:
        return f"{path}: must be {schema['const']!r}"
    if isinstance(value, dict):
        return _check_object(schema, value, root, path, depth)
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            problem = check(schema["items"], item, root, f"{path}.{index}", depth + 1)
            if problem:
                return problem
    return None


def _check_object(
    schema: dict[str, Any], value: dict[str, Any], root: dict[str, Any], path: str, depth: int
) -> str | None:
    for name in schema.get("required") or []:
        if name not in value:
            return f"{path}.{name}: field required"
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return None
    for name, item in value.items():
        if name in properties:
            problem = check(properties[name], item, root, f"{path}.{name}", depth + 1)
            if problem:
                return problem
    return None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string"}.get(
        type(value),
        "object"
        if isinstance(value, dict)
        else "array"
        if isinstance(value, list)
        else type(value).__name__,
    )


def validate_data(fields: dict[str, Any], data: dict[str, Any]) -> str | None:
    """The first problem of a document's ``data`` against its schema's ``fields``."""
    return check(fields, data, fields, "data")
