"""The one JSON Schema checker: a value against a schema that a user stored.

Three places check data against a schema someone else wrote — block document data against
its block schema (``server/blocks/validation.py``), a paused run's resume input against the
schema the flow stored (``schemas/flow_run_control.py``), job variables and deployment
parameters against a work pool's template or a deployment's parameter schema
(``server/queries/job_templates.py``) — and all use this module.

The schema is as untrusted as the value, so the check is bounded and never crashes:

* work is capped: every (schema node, value node) visit is a step, and a check may take
  :data:`BASE_STEPS` plus :data:`STEPS_PER_VALUE_NODE` per node of the value (linear in the
  request). ``A: {anyOf: [{$ref: A}, {$ref: A}]}`` and friends hit the cap and are answered
  with :class:`SchemaError` ("too complex") instead of 2^n calls inside a request handler;
* following a ``$ref`` counts as one level of nesting, like descending into a property, and
  nesting deeper than :data:`MAX_DEPTH` is a :class:`SchemaError`;
* a ``$ref`` that comes back to itself without the value descending (``A: {$ref: A}``,
  ``A: {allOf: [{$ref: B}]}, B: {anyOf: [{$ref: A}]}``) is a cycle: :class:`SchemaError`;
* a malformed schema — a reference that does not resolve, a bound that is not a number, a
  ``pattern`` that is not a regular expression, a keyword of the wrong JSON type — is a
  :class:`SchemaError` naming the field, which callers answer with 422, never a 500.

``pattern`` is compiled (a bad one is refused) but **not evaluated**: Python's ``re`` has no
time limit, so a stored pattern like ``(a+)+$`` run against the caller's string would pin a
server worker for hours (ReDoS), and a heuristic "is this pattern safe" test is easy to get
wrong. The client validates with the same pydantic model that produced the pattern, so
nothing is lost for well-behaved callers; the server's check is about shape and types.

Supported: ``type`` (one or a list), ``enum``, ``const``, ``anyOf``/``oneOf`` (as any-of),
``allOf``, local ``$ref`` (JSON pointer: ``#/definitions/X``, ``#/$defs/X``), ``properties``,
``required``, ``additionalProperties``, ``items``, ``prefixItems``, ``minItems``/``maxItems``,
``minLength``/``maxLength``, ``minimum``/``maximum``/``exclusiveMinimum``/
``exclusiveMaximum``. Other keywords (``format``, ``title``, ...) are ignored. A null value
where the schema's ``default`` is null is accepted: older generators write ``Optional[X] =
None`` as the bare type with a null default.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_DEPTH = 32
BASE_STEPS = 5_000
STEPS_PER_VALUE_NODE = 20
# Longer patterns are not even compiled (they are never evaluated anyway, see above); the
# cap keeps compiling a stored pattern cheap.
MAX_PATTERN_LENGTH = 1_000
# Counting a value's nodes stops here: the budget does not grow past this.
_MAX_COUNTED_NODES = 1_000_000

_TYPE_NAMES = ("null", "boolean", "integer", "number", "string", "array", "object")


class SchemaError(ValueError):
    """The schema cannot be used to check the value: malformed, cyclic or too complex.
    ``path`` is where in the value the check was (may be empty), ``reason`` what is wrong."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}" if path else reason)
        self.path = path
        self.reason = reason


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
    checker = _Checker(
        root if root is not None else schema,
        budget=BASE_STEPS + STEPS_PER_VALUE_NODE * count_nodes(value),
        limit=max(1, limit),
        additional_properties=additional_properties,
        skip=skip,
    )
    return checker.check(value, schema, path, 0, 0, frozenset())


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


def _is_type(value: Any, name: str) -> bool:
    if name == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and math.isfinite(value) and value.is_integer()
        )
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if name in _TYPE_NAMES:
        return kind(value) == name
    return True  # a type name outside JSON Schema: not ours to refuse


def _child(path: str, name: object) -> str:
    return f"{path}.{name}" if path else str(name)


class _Checker:
    def __init__(
        self,
        root: Any,
        *,
        budget: int,
        limit: int,
        additional_properties: bool,
        skip: Callable[[Any], bool] | None,
    ) -> None:
        self.root = root
        self.budget = budget
        self.limit = limit
        self.additional_properties = additional_properties
        self.skip = skip

    # ``refs``: the references followed since the value last descended. Meeting one of them
    # again means the schema loops without consuming anything: a cycle.
    def check(  # noqa: C901 - one keyword after another reads best as one function
        self, value: Any, schema: Any, path: str, depth: int, level: int, refs: frozenset[str]
    ) -> list[Problem]:
        self.budget -= 1
        if self.budget < 0:
            raise SchemaError(path, "the schema is too complex to check this value.")
        if depth > MAX_DEPTH:
            raise SchemaError(
                path, f"nested more than {MAX_DEPTH} levels deep (each $ref counts as one)."
            )
        if schema is False:
            return [Problem(path, "not permitted.", level)]
        if not isinstance(schema, dict):
            return []  # ``true``, or something that is no schema: constrains nothing
        if self.skip is not None and self.skip(value):
            return []
        if "$ref" in schema:
            ref = schema["$ref"]
            if not isinstance(ref, str):
                raise SchemaError(path, "$ref must be a string.")
            if ref in refs:
                raise SchemaError(path, f"$ref {ref!r} is cyclic.")
            target = self._resolve(ref, path)
            return self.check(value, target, path, depth + 1, level, refs | {ref})
        if value is None and schema.get("default", ...) is None:
            return []
        for key in ("anyOf", "oneOf"):
            if key in schema:
                found = self._any_of(value, schema[key], key, path, depth, level, refs)
                if found:
                    return found
        found = []
        all_of = schema.get("allOf", [])
        if not isinstance(all_of, list):
            raise SchemaError(path, "allOf must be a list.")
        for option in all_of:
            found += self.check(value, option, path, depth + 1, level, refs)
            if len(found) >= self.limit:
                return found[: self.limit]
        if "type" in schema:
            names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not all(isinstance(name, str) for name in names):
                raise SchemaError(path, "type must be a string or a list of strings.")
            if not any(_is_type(value, name) for name in names):
                message = f"expected {' or '.join(names)}, got {kind(value)}."
                return [*found, Problem(path, message, level, tuple(names))][: self.limit]
        if "enum" in schema:
            if not isinstance(schema["enum"], list):
                raise SchemaError(path, "enum must be a list.")
            if value not in schema["enum"]:
                allowed = ", ".join(repr(item) for item in schema["enum"])
                found.append(Problem(path, f"must be one of {allowed}.", level))
        if "const" in schema and value != schema["const"]:
            found.append(Problem(path, f"must be {schema['const']!r}.", level))
        if isinstance(value, dict):
            found += self._object(value, schema, path, depth, level)
        elif isinstance(value, list):
            found += self._array(value, schema, path, depth, level)
        elif isinstance(value, str):
            found += _string(value, schema, path, level)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            found += _number(value, schema, path, level)
        return found[: self.limit]

    def _resolve(self, ref: str, path: str) -> Any:
        if not ref.startswith("#"):
            raise SchemaError(path, f"$ref {ref!r} is not a local reference (#/...).")
        node: Any = self.root
        for part in ref[1:].lstrip("/").split("/") if ref not in ("#", "#/") else []:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise SchemaError(path, f"$ref {ref!r} does not resolve.")
        return node

    def _any_of(
        self,
        value: Any,
        options: Any,
        key: str,
        path: str,
        depth: int,
        level: int,
        refs: frozenset[str],
    ) -> list[Problem]:
        """Nothing when one option fits (later options are not tried), else the problems
        of the option that got furthest into the value."""
        if not isinstance(options, list) or not options:
            raise SchemaError(path, f"{key} must be a non-empty list.")
        failures: list[list[Problem]] = []
        for option in options:
            found = self.check(value, option, path, depth + 1, level, refs)
            if not found:
                return []
            failures.append(found)
        if len(failures) == 1:
            return failures[0]
        mismatches = [f[0] for f in failures if f[0].expected and f[0].level == level]
        if len(mismatches) == len(failures):
            # The value's type fits no option: say which types would.
            names = list(dict.fromkeys(name for p in mismatches for name in p.expected))
            message = f"expected {' or '.join(names)}, got {kind(value)}."
            return [Problem(path, message, level, tuple(names))]
        # The deepest problem is the most telling (a wrong field inside the right type);
        # on a tie, a failed constraint beats a type mismatch.
        return max(failures, key=lambda f: (f[0].level, not f[0].expected))

    def _object(
        self, value: dict[str, Any], schema: dict[str, Any], path: str, depth: int, level: int
    ) -> list[Problem]:
        found: list[Problem] = []
        required = schema.get("required", [])
        if not isinstance(required, list):
            raise SchemaError(path, "required must be a list.")
        for name in required:
            if name not in value:
                found.append(Problem(_child(path, name), "field required.", level + 1))
        properties = schema.get("properties", {})
        if not isinstance(properties, dict):
            raise SchemaError(path, "properties must be an object.")
        extra = schema.get("additionalProperties", True) if self.additional_properties else True
        for name, item in value.items():
            if len(found) >= self.limit:
                break
            where = _child(path, name)
            if name in properties:
                found += self.check(
                    item, properties[name], where, depth + 1, level + 1, frozenset()
                )
            elif extra is False:
                found.append(Problem(where, "extra field not permitted.", level + 1))
            elif isinstance(extra, dict):
                found += self.check(item, extra, where, depth + 1, level + 1, frozenset())
        return found

    def _array(
        self, value: list[Any], schema: dict[str, Any], path: str, depth: int, level: int
    ) -> list[Problem]:
        found: list[Problem] = []
        low, high = _count(schema, "minItems", path), _count(schema, "maxItems", path)
        if low is not None and len(value) < low:
            found.append(Problem(path, f"expected at least {low} items.", level))
        if high is not None and len(value) > high:
            found.append(Problem(path, f"expected at most {high} items.", level))
        prefix = schema.get("prefixItems", [])
        items = schema.get("items")
        if isinstance(items, list):  # the older tuple form of prefixItems
            prefix, items = items, None
        if not isinstance(prefix, list):
            raise SchemaError(path, "prefixItems must be a list.")
        for index, item in enumerate(value):
            if len(found) >= self.limit:
                break
            option = prefix[index] if index < len(prefix) else items
            if option is not None:
                where = _child(path, index)
                found += self.check(item, option, where, depth + 1, level + 1, frozenset())
        return found


def _count(schema: dict[str, Any], key: str, path: str) -> int | None:
    bound = schema.get(key)
    if bound is None:
        return None
    if isinstance(bound, bool) or not isinstance(bound, int) or bound < 0:
        raise SchemaError(path, f"{key} must be a non-negative integer, not {bound!r}.")
    return bound


def _number_bound(schema: dict[str, Any], key: str, path: str) -> float | None:
    bound = schema.get(key)
    if bound is None:
        return None
    if isinstance(bound, bool) or not isinstance(bound, int | float) or not math.isfinite(bound):
        raise SchemaError(path, f"{key} must be a number, not {bound!r}.")
    return bound


def _string(value: str, schema: dict[str, Any], path: str, level: int) -> list[Problem]:
    found: list[Problem] = []
    low, high = _count(schema, "minLength", path), _count(schema, "maxLength", path)
    if low is not None and len(value) < low:
        found.append(Problem(path, f"expected at least {low} characters.", level))
    if high is not None and len(value) > high:
        found.append(Problem(path, f"expected at most {high} characters.", level))
    pattern = schema.get("pattern")
    if pattern is not None:
        # Checked for being a regular expression, never run: see the module docstring.
        if not isinstance(pattern, str):
            raise SchemaError(path, "pattern must be a string.")
        if len(pattern) <= MAX_PATTERN_LENGTH:
            try:
                re.compile(pattern)
            except (re.error, RecursionError, OverflowError) as exc:
                raise SchemaError(
                    path, f"pattern {pattern!r} is not a valid regular expression ({exc})."
                ) from None
    return found


def _number(value: float, schema: dict[str, Any], path: str, level: int) -> list[Problem]:
    checks: list[tuple[str, Callable[[float, float], bool], str]] = [
        ("minimum", lambda v, b: v >= b, "must be at least"),
        ("maximum", lambda v, b: v <= b, "must be at most"),
        ("exclusiveMinimum", lambda v, b: v > b, "must be greater than"),
        ("exclusiveMaximum", lambda v, b: v < b, "must be less than"),
    ]
    found: list[Problem] = []
    for key, fits, wording in checks:
        bound = _number_bound(schema, key, path)
        if bound is not None and not fits(value, bound):
            found.append(Problem(path, f"{wording} {bound!r}.", level))
    return found
