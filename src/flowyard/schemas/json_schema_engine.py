"""The validator under :mod:`flowyard.schemas.json_schema`: jsonschema's Draft 2020-12
validator, guarded for schemas as untrusted as the values they check.

jsonschema runs the keywords and resolves ``$ref`` (through ``referencing``, with a registry
that fetches nothing). Around every keyword (:func:`_guarded`) this module adds what a
schema from a request needs: a step budget, a nesting limit, ``$ref`` cycles and non-local
references refused, and the check of each schema node the value reaches that
:mod:`.json_schema_meta` makes (which also compiles patterns with RE2).

What is re-stated here rather than run as jsonschema has it, and the measured reason:

* ``pattern``, ``patternProperties``, ``additionalProperties`` (which matches
  ``patternProperties`` too): jsonschema runs those regexes on Python's backtracking ``re``;
  ``^(a+)+$`` against 24 ``a`` and a ``!`` takes 3.9 s there and grows twofold per ``a``.
  Here RE2 (``google-re2``) runs them, in time linear in the string;
* ``uniqueItems``: jsonschema compares unhashable items pairwise, 17 s for 4,000 objects and
  140 s for 8,000; here items are hashed, one pass;
* ``properties``, ``items``, ``prefixItems``: to know which field of the value the check is
  in, so that a schema problem met there names it. jsonschema builds an error's path only as
  a yielded error bubbles up, and a schema problem must stop the check at once (an error
  would be swallowed by a surrounding ``anyOf`` or ``not``). ``items`` also reads the older
  list form of ``prefixItems`` (pydantic v1's tuples), which 2020-12 no longer has;
* ``required``: one error per missing field, located at the field;
* ``unevaluatedProperties`` and ``unevaluatedItems`` are not evaluated, as before: jsonschema
  computes them by walking the schema again outside keyword dispatch, with Python's ``re``
  on ``patternProperties`` and ``$ref`` followed unguarded (``{"$defs": {"A": {"$ref":
  "#/$defs/A"}}, "allOf": [{"$ref": "#/$defs/A"}], "unevaluatedProperties": false}`` recurses
  until RecursionError).

``format`` stays an annotation (no format checker), as in the official server's parameter
check (``jsonschema.validate`` without one). ``$schema`` is dropped from a copy of the schema
before use: jsonschema switches to another draft's validator, without these guards and with
Python's ``re``, on any subschema that names one.
"""

from __future__ import annotations

import contextvars
import itertools
from collections.abc import Callable, Iterator
from typing import Any, cast

import referencing
import referencing.exceptions
from jsonschema import Draft202012Validator, ValidationError, validators
from jsonschema.exceptions import UnknownType

from flowyard.schemas.json_schema_meta import (
    FORMATS,
    META,
    compile_pattern,
    malformed,
    well_formed,
)

MAX_DEPTH = 32
_MISSING = object()

Keyword = Callable[[Any, Any, Any, dict[str, Any]], Iterator[ValidationError] | None]


class SchemaError(ValueError):
    """The schema cannot be used to check the value: malformed, cyclic or too complex.
    ``path`` is where in the value the check was (may be empty), ``reason`` what is wrong."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}" if path else reason)
        self.path = path
        self.reason = reason


# --- one check's state ------------------------------------------------------------------


class _Run:
    """The state of one check: what the guards count and where in the value it is."""

    __slots__ = (
        "active",
        "additional",
        "budget",
        "checked",
        "depth",
        "path",
        "prefix",
        "skip",
        "trusted",
    )

    def __init__(
        self,
        prefix: str,
        budget: int,
        additional: bool,
        skip: Callable[[Any], bool] | None,
        trusted: bool,
    ) -> None:
        self.prefix = prefix
        self.trusted = trusted  # every node was checked already (see well_formed)
        self.budget = budget
        self.additional = additional
        self.skip = skip
        self.depth = 0
        self.path: list[str | int] = []
        # The references being followed, each with the value it was met on: one met again
        # on the same value means the schema loops without consuming anything.
        self.active: set[tuple[str, int]] = set()
        self.checked: dict[int, Any] = {}  # id -> node (kept alive, so ids stay unique)

    def where(self) -> str:
        return ".".join([self.prefix, *map(str, self.path)] if self.prefix else map(str, self.path))

    def tick(self) -> None:
        self.budget -= 1
        if self.budget < 0:
            raise SchemaError(self.where(), "the schema is too complex to check this value.")

    def check_node(self, node: dict[str, Any]) -> None:
        if self.trusted or id(node) in self.checked:
            return
        self.checked[id(node)] = node
        error = next(META.iter_errors(node), None)
        if error is not None:
            raise SchemaError(self.where(), malformed(error, node))


_RUN: contextvars.ContextVar[_Run] = contextvars.ContextVar("flowyard_json_schema_run")


def _guarded(keyword: Keyword) -> Keyword:
    def run(validator: Any, value: Any, instance: Any, schema: dict[str, Any]) -> Any:
        state = _RUN.get()
        state.tick()
        depth = state.depth
        state.depth += 1
        try:
            # A chain of MAX_DEPTH descents, then the keyword that asserts at its end.
            if state.depth > MAX_DEPTH + 1:
                reason = f"nested more than {MAX_DEPTH} levels deep (each $ref counts as one)."
                raise SchemaError(state.where(), reason)
            state.check_node(schema)
            if state.skip is not None and state.skip(instance):
                return
            if instance is None and schema.get("default", _MISSING) is None:
                return  # older generators write ``Optional[X] = None`` as X, default null
            yield from keyword(validator, value, instance, schema) or ()
        except SchemaError:
            raise
        except referencing.exceptions.Unresolvable as exc:
            raise SchemaError(state.where(), f"a reference does not resolve ({exc}).") from None
        except (AttributeError, TypeError, KeyError, IndexError, ValueError, UnknownType) as exc:
            # jsonschema on a node shaped in a way the meta-schema check let through
            raise SchemaError(state.where(), f"the schema is malformed ({exc}).") from None
        finally:
            state.depth = depth

    return run


def _reference(keyword: Keyword) -> Keyword:
    def run(validator: Any, ref: str, instance: Any, schema: dict[str, Any]) -> Any:
        state = _RUN.get()
        if not ref.startswith("#"):
            raise SchemaError(state.where(), f"$ref {ref!r} is not a local reference (#/...).")
        # The value is alive all through the check, so its id names it.
        here = (ref, id(instance))
        if here in state.active:
            raise SchemaError(state.where(), f"$ref {ref!r} is cyclic.")
        state.active.add(here)
        try:
            yield from keyword(validator, ref, instance, schema) or ()
        except referencing.exceptions.Unresolvable:
            raise SchemaError(state.where(), f"$ref {ref!r} does not resolve.") from None
        finally:
            state.active.discard(here)

    return run


def _descend(
    validator: Any, item: Any, schema: Any, key: str | int, schema_key: Any = None
) -> Iterator[ValidationError]:
    """jsonschema's descend into ``item`` (the value's child ``key``), with the check's
    path following it."""
    state = _RUN.get()
    mark = len(state.path)
    state.path.append(key)
    try:
        yield from validator.descend(item, schema, path=key, schema_path=schema_key)
    finally:
        del state.path[mark:]


# --- the keywords re-stated (see the module docstring for why) --------------------------


def _properties(validator: Any, properties: Any, instance: Any, schema: Any) -> Any:
    if isinstance(instance, dict):
        for name, subschema in properties.items():
            if name in instance:
                yield from _descend(validator, instance[name], subschema, name, name)


def _pattern_properties(validator: Any, patterns: Any, instance: Any, schema: Any) -> Any:
    if isinstance(instance, dict):
        for pattern, subschema in patterns.items():
            regex = compile_pattern(pattern)
            for name, item in instance.items():
                if regex.search(name):
                    yield from _descend(validator, item, subschema, name, pattern)


def _additional_properties(validator: Any, extra: Any, instance: Any, schema: Any) -> Any:
    if not isinstance(instance, dict) or not _RUN.get().additional:
        return
    known = schema.get("properties", {})
    patterns = [compile_pattern(pattern) for pattern in schema.get("patternProperties", {})]
    for name, item in instance.items():
        if name in known or any(regex.search(name) for regex in patterns):
            continue
        if extra is False:
            yield ValidationError("extra field not permitted.", path=(name,))
        else:
            yield from _descend(validator, item, extra, name)


def _items(validator: Any, items: Any, instance: Any, schema: Any) -> Any:
    if not isinstance(instance, list):
        return
    if isinstance(items, list):  # the older tuple form: what prefixItems is now
        yield from _prefix_items(validator, items, instance, schema)
        return
    prefix = len(schema.get("prefixItems", []))
    if items is False and len(instance) > prefix:
        yield ValidationError(f"expected at most {prefix} items.")
        return
    for index in range(prefix, len(instance)):
        yield from _descend(validator, instance[index], items, index)


def _prefix_items(validator: Any, prefix: Any, instance: Any, schema: Any) -> Any:
    if isinstance(instance, list):
        for index, (item, subschema) in enumerate(zip(instance, prefix, strict=False)):
            yield from _descend(validator, item, subschema, index, index)


def _required(validator: Any, required: Any, instance: Any, schema: Any) -> Any:
    if isinstance(instance, dict):
        for name in required:
            if name not in instance:
                yield ValidationError("field required.", path=(name,))


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    if isinstance(instance, str) and not compile_pattern(pattern).search(instance):
        yield ValidationError(f"must match the pattern {pattern!r}.")


def _unique_items(validator: Any, unique: Any, instance: Any, schema: Any) -> Any:
    if unique and isinstance(instance, list):
        seen: set[Any] = set()
        for item in instance:
            key = _hashable(item)
            if key in seen:
                yield ValidationError("items must be unique.")
                return
            seen.add(key)


def _hashable(value: Any) -> Any:
    """A key equal for values JSON Schema calls equal (1 and 1.0; not true and 1)."""
    if isinstance(value, bool) or value is None:
        return ("b", value)
    if isinstance(value, int | float):
        return ("n", value)
    if isinstance(value, str):
        return ("s", value)
    if isinstance(value, list):
        return ("l", tuple(_hashable(item) for item in value))
    if isinstance(value, dict):
        return ("o", frozenset((key, _hashable(item)) for key, item in value.items()))
    return ("?", id(value))


# The messages of these keywords' errors are final (the others get theirs from the caller).
OWN_MESSAGES = frozenset({"additionalProperties", "items", "pattern", "required", "uniqueItems"})
_RESTATED: dict[str, Keyword] = {
    "properties": _properties,
    "patternProperties": _pattern_properties,
    "additionalProperties": _additional_properties,
    "items": _items,
    "prefixItems": _prefix_items,
    "required": _required,
    "pattern": _pattern,
    "uniqueItems": _unique_items,
}
_KEYWORDS = {
    name: _guarded(_reference(keyword) if name in ("$ref", "$dynamicRef") else keyword)
    for name, keyword in {**Draft202012Validator.VALIDATORS, **_RESTATED}.items()
    if name not in ("unevaluatedProperties", "unevaluatedItems")
}
# Not ``validators.extend``: it cannot drop keywords. No ``version``, so jsonschema's own
# table of validators by meta-schema is left alone.
_Validator = validators.create(
    meta_schema=Draft202012Validator.META_SCHEMA,
    validators=cast(Any, _KEYWORDS),  # the stubs want generators typed on JSON values
    type_checker=Draft202012Validator.TYPE_CHECKER,
    format_checker=FORMATS,
    id_of=cast(Any, Draft202012Validator.ID_OF),  # the stubs say it never returns None
)


def _without_dialects(schema: Any) -> Any:
    """``schema``, or a copy without ``$schema`` anywhere when it names one (see the module
    docstring). Iterative: a schema may nest deeper than Python recurses."""
    stack, found = [schema], False
    while stack and not found:
        node = stack.pop()
        if isinstance(node, dict):
            found = "$schema" in node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    if not found:
        return schema
    out: list[Any] = [None]
    pending: list[tuple[Any, Any, Any]] = [(schema, out, 0)]
    while pending:
        node, parent, slot = pending.pop()
        if isinstance(node, dict):
            mapping: dict[str, Any] = {}
            parent[slot] = mapping
            pending.extend((v, mapping, k) for k, v in node.items() if k != "$schema")
        elif isinstance(node, list):
            items: list[Any] = [None] * len(node)
            parent[slot] = items
            pending.extend((v, items, i) for i, v in enumerate(node))
        else:
            parent[slot] = node
    return out[0]


def first_errors(
    value: Any,
    schema: dict[str, Any],
    root: Any,
    *,
    limit: int,
    path: str,
    budget: int,
    additional: bool,
    skip: Callable[[Any], bool] | None,
) -> list[ValidationError]:
    """The first ``limit`` errors of ``value`` against ``schema`` (``$ref`` resolved in
    ``root``), jsonschema's, found within ``budget`` keyword visits. Raises SchemaError."""
    clean_root = _without_dialects(root)
    clean = clean_root if schema is root else _without_dialects(schema)
    token = _RUN.set(_Run(path, budget, additional, skip, well_formed(clean_root, clean)))
    try:
        validator = _Validator(clean_root, registry=referencing.Registry())
        if clean is not clean_root:
            validator = validator.evolve(schema=clean)
        errors = validator.iter_errors(value)
        try:
            return list(itertools.islice(errors, limit))
        finally:
            errors.close()
    except RecursionError:
        raise SchemaError(path, "the value is nested too deeply to check.") from None
    except referencing.exceptions.Unresolvable as exc:  # the root's own $id, say
        raise SchemaError(path, f"a reference does not resolve ({exc}).") from None
    finally:
        _RUN.reset(token)
