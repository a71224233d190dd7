"""The one JSON Schema checker: a value against a schema that a user stored.

Three places check data against a schema someone else wrote — block document data against
its block schema (``server/blocks/validation.py``), a paused run's resume input against the
schema the flow stored (``schemas/flow_run_control.py``), job variables and deployment
parameters against a work pool's template or a deployment's parameter schema
(``server/queries/job_templates.py``) — and all use this module.

The checking is jsonschema's, Draft 2020-12 (what the official server uses), with ``pattern``
and ``patternProperties`` run by RE2, a linear-time engine: :mod:`.json_schema_engine` says
how, and which few keywords it re-states for what measured reason. This module turns
jsonschema's errors into :class:`Problem` objects that name the field, in our words.

The schema is as untrusted as the value, so the check is bounded and never crashes:

* work is capped: every keyword visited is a step, and a check may take :data:`BASE_STEPS`
  plus :data:`STEPS_PER_VALUE_NODE` per node of the value (linear in the request).
  ``A: {anyOf: [{$ref: A}, {$ref: A}]}`` and friends hit the cap and are answered with
  :class:`SchemaError` ("too complex") instead of 2^n calls inside a request handler;
* following a ``$ref`` counts as one level of nesting, like descending into a property, and
  nesting deeper than :data:`MAX_DEPTH` is a :class:`SchemaError`;
* a ``$ref`` that comes back to itself without the value descending (``A: {$ref: A}``,
  ``A: {allOf: [{$ref: B}]}, B: {anyOf: [{$ref: A}]}``) is a cycle: :class:`SchemaError`;
* a malformed schema — a reference that does not resolve or is not local (``#/...``), a
  bound that is not a number, a ``pattern`` RE2 cannot run (a syntax error, look-around or
  back-references, longer than :data:`MAX_PATTERN_LENGTH`), a keyword of the wrong JSON type
  — is a :class:`SchemaError` naming the field, which callers answer with 422, never a 500.
  Each schema node is checked against the meta-schema when the value reaches it.

``format`` is an annotation (not asserted), ``unevaluated*`` are not evaluated. A null value
where the schema's ``default`` is null is accepted: older generators write ``Optional[X] =
None`` as the bare type with a null default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jsonschema import ValidationError

from flowyard.schemas.json_schema_engine import (
    MAX_DEPTH,
    OWN_MESSAGES,
    SchemaError,
    first_errors,
)
from flowyard.schemas.json_schema_meta import MAX_PATTERN_LENGTH

BASE_STEPS = 5_000
STEPS_PER_VALUE_NODE = 20
# Counting a value's nodes stops here: the budget does not grow past this.
_MAX_COUNTED_NODES = 1_000_000

__all__ = [
    "BASE_STEPS",
    "MAX_DEPTH",
    "MAX_PATTERN_LENGTH",
    "STEPS_PER_VALUE_NODE",
    "Problem",
    "SchemaError",
    "count_nodes",
    "kind",
    "problems",
]


@dataclass(frozen=True, slots=True)
class Problem:
    """Why the value does not fit: ``path`` (dotted) and ``message``. ``level`` is how deep
    in the value the problem is; ``expected`` the type names when it is a type mismatch."""

    path: str
    message: str
    level: int
    expected: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def problems(
    value: Any,
    schema: Any,
    *,
    root: Any = None,
    path: str = "",
    limit: int = 1,
    additional_properties: bool = True,
    skip: Callable[[Any], bool] | None = None,
) -> list[Problem]:
    """Up to ``limit`` problems of ``value`` against ``schema`` (empty when it fits).

    ``root`` is what ``$ref`` pointers resolve against (``schema`` by default);
    ``additional_properties=False`` ignores that keyword (unknown keys always allowed);
    ``skip(value)`` true accepts a value unchecked. Raises :class:`SchemaError`."""
    if schema is False:
        return [Problem(path, "not permitted.", 0)]
    if not isinstance(schema, dict):
        return []  # ``true``, or something that is no schema: constrains nothing
    errors = first_errors(
        value,
        schema,
        schema if root is None else root,
        limit=max(1, limit),
        path=path,
        budget=BASE_STEPS + STEPS_PER_VALUE_NODE * count_nodes(value),
        additional=additional_properties,
        skip=skip,
    )
    return [_problem(error, path) for error in errors]


def count_nodes(value: Any) -> int:
    """How many JSON nodes ``value`` has (iteratively, so any depth is fine; capped)."""
    count, stack = 0, [value]
    while stack and count < _MAX_COUNTED_NODES:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def kind(value: Any) -> str:
    """The JSON type name of ``value``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _child(path: str, name: object) -> str:
    return f"{path}.{name}" if path else str(name)


def _problem(error: ValidationError, prefix: str) -> Problem:
    """The problem jsonschema's ``error`` describes, in our words."""
    where, level = prefix, 0
    for part in error.absolute_path:
        where, level = _child(where, part), level + 1
    keyword: Any = error.validator
    if keyword in ("anyOf", "oneOf") and error.context:
        return _choice(error, prefix, where, level)
    if keyword == "type":
        bound: Any = error.validator_value
        names = (bound,) if isinstance(bound, str) else tuple(bound)
        return Problem(where, _mismatch(names, error.instance), level, names)
    return Problem(where, _message(keyword, error), level)


def _mismatch(names: tuple[str, ...], value: Any) -> str:
    return f"expected {' or '.join(names)}, got {kind(value)}."


def _choice(error: ValidationError, prefix: str, where: str, level: int) -> Problem:
    """None of the options fit: the types they would take when the value's type fits none,
    else the problem of the option that got furthest into the value."""
    first: dict[Any, ValidationError] = {}
    for sub in error.context:
        first.setdefault(sub.relative_schema_path[0], sub)  # the option's index
    failures = [_problem(sub, prefix) for sub in first.values()]
    if len(failures) == 1:
        return failures[0]
    mismatches = [p for p in failures if p.expected and p.level == level]
    if len(mismatches) == len(failures):
        names = tuple(dict.fromkeys(name for p in mismatches for name in p.expected))
        return Problem(where, _mismatch(names, error.instance), level, names)
    # The deepest problem is the most telling (a wrong field inside the right type); on a
    # tie, a failed constraint beats a type mismatch.
    return max(failures, key=lambda p: (p.level, not p.expected))


_BOUNDS = {
    "minimum": "must be at least",
    "maximum": "must be at most",
    "exclusiveMinimum": "must be greater than",
    "exclusiveMaximum": "must be less than",
}
_SIZES = {
    "minLength": ("at least", "characters"),
    "maxLength": ("at most", "characters"),
    "minItems": ("at least", "items"),
    "maxItems": ("at most", "items"),
    "minProperties": ("at least", "fields"),
    "maxProperties": ("at most", "fields"),
}


def _message(keyword: Any, error: ValidationError) -> str:
    bound: Any = error.validator_value
    if keyword is None:  # a ``false`` schema
        return "not permitted."
    if keyword in OWN_MESSAGES:
        return error.message
    if keyword in _BOUNDS:
        return f"{_BOUNDS[keyword]} {bound!r}."
    if keyword in _SIZES:
        which, unit = _SIZES[keyword]
        return f"expected {which} {bound} {unit}."
    if keyword == "enum":
        return f"must be one of {', '.join(repr(item) for item in bound)}."
    if keyword == "const":
        return f"must be {bound!r}."
    if keyword == "multipleOf":
        return f"must be a multiple of {bound!r}."
    if keyword == "oneOf":
        return "matches more than one of the oneOf options."
    if keyword == "not":
        return "must not match the schema under not."
    # contains, dependentRequired, ...: jsonschema's own wording would quote the value.
    return f"does not satisfy {keyword}."
