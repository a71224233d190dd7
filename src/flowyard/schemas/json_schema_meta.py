"""The schema's side of a JSON Schema check (:mod:`flowyard.schemas.json_schema`): is each
node the value reaches a schema at all, and RE2 for its patterns.

A node is checked against the 2020-12 meta-schema made shallow: its core, applicator and
validation vocabularies with "a subschema" cut to "an object or a boolean" (and draft 7's
list form of ``items`` allowed), so one node is checked at a time, when the value gets
there. The whole meta-schema run once on the whole schema would cost 17 ms for a 1.4 kB
pydantic schema (measured; its ``$dynamicRef`` resolution), grow with the schema rather
than with what the value touches, and name a place in the schema rather than the field
of the value. A schema whose every reachable node passes is remembered by content
(:func:`well_formed`), so the next check of it skips this work.

Patterns (``pattern``, the names of ``patternProperties``, ``format: regex``) are compiled
by RE2 (``google-re2``), which runs them in time linear in the string. What RE2 cannot run
— a syntax error, look-around, back-references, a pattern longer than
:data:`MAX_PATTERN_LENGTH` or needing more than 1 MiB — makes the node malformed.
"""

from __future__ import annotations

import hashlib
import reprlib
from typing import Any

import orjson
import re2  # type: ignore[import-untyped]
import referencing
from jsonschema import Draft202012Validator, FormatChecker, ValidationError
from jsonschema_specifications import REGISTRY as META_SCHEMAS  # type: ignore[import-untyped]

# Longer patterns are refused: the cap keeps compiling a stored pattern cheap.
MAX_PATTERN_LENGTH = 1_000
# RE2's memory for one compiled pattern (8 MiB by default, 128 kept in re2's cache); a
# pattern that needs more is refused as too large.
_RE2_MAX_MEM = 1 << 20
_MISSING = object()


# --- regular expressions: RE2 only ------------------------------------------------------


def compile_pattern(pattern: str) -> Any:
    """``pattern`` compiled by RE2 (cached by re2); ValueError saying why when RE2 cannot
    run it: a syntax error, or a feature no linear-time engine has (look-around,
    back-references)."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ValueError(f"longer than {MAX_PATTERN_LENGTH} characters")
    options = re2.Options()
    options.max_mem = _RE2_MAX_MEM
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        raise ValueError(reason.decode() if isinstance(reason, bytes) else str(reason)) from None


FORMATS = FormatChecker(formats=())


@FORMATS.checks("regex", raises=ValueError)
def _is_pattern(value: object) -> bool:
    if isinstance(value, str):
        compile_pattern(value)
    return True


# --- the shallow meta-schema ------------------------------------------------------------

_SUBSCHEMA: dict[str, Any] = {"type": ["object", "boolean"]}


def _shallow(node: Any, defs: dict[str, Any]) -> Any:
    """The meta-schema ``node`` with each recursion into a subschema cut to its type, and
    its references into ``defs`` written out (none of them recursive once cut): jsonschema
    resolving each one costs more than the check it leads to."""
    if isinstance(node, dict):
        if node.get("$dynamicRef") == "#meta":
            return _SUBSCHEMA
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            target = _shallow(defs[ref.removeprefix("#/$defs/")], defs)
            rest = {k: _shallow(v, defs) for k, v in node.items() if k != "$ref"}
            return (
                {**target, **rest}
                if not target.keys() & rest.keys()
                else {"allOf": [target], **rest}
            )
        return {key: _shallow(value, defs) for key, value in node.items()}
    if isinstance(node, list):
        return [_shallow(value, defs) for value in node]
    return node


def _shallow_meta_schema() -> dict[str, Any]:
    # Annotations (meta-data, content, format) are not checked: nothing here reads them.
    vocabularies = [
        META_SCHEMAS.contents(f"https://json-schema.org/draft/2020-12/meta/{name}")
        for name in ("core", "applicator", "validation")
    ]
    defs = {name: d for meta in vocabularies for name, d in meta.get("$defs", {}).items()}
    properties = {
        keyword: _shallow(shape, defs)
        for meta in vocabularies
        for keyword, shape in meta["properties"].items()
    }
    top = Draft202012Validator.META_SCHEMA["properties"]
    properties["definitions"] = _shallow(top["definitions"], defs)  # draft 7's $defs
    properties["items"] = {"anyOf": [_SUBSCHEMA, {"type": "array", "items": _SUBSCHEMA}]}
    return {"type": "object", "properties": properties}


# The meta-schema's own patterns ($id, $anchor) are fixed and linear; jsonschema runs them.
META = Draft202012Validator(
    _shallow_meta_schema(), format_checker=FORMATS, registry=referencing.Registry()
)
_COUNT = "a non-negative integer"
_ONE = "a schema (an object or a boolean)"
_MANY = "a non-empty list of schemas"
_BY_NAME = "an object of schemas"
_SHAPES: dict[str, str] = {
    **dict.fromkeys(("minLength", "maxLength", "minItems", "maxItems"), _COUNT),
    **dict.fromkeys(("minProperties", "maxProperties", "minContains", "maxContains"), _COUNT),
    **dict.fromkeys(("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"), "a number"),
    **dict.fromkeys(("pattern", "$ref", "$dynamicRef", "$anchor", "$dynamicAnchor"), "a string"),
    **dict.fromkeys(("allOf", "anyOf", "oneOf", "prefixItems"), _MANY),
    **dict.fromkeys(("properties", "patternProperties", "$defs", "definitions"), _BY_NAME),
    **dict.fromkeys(("additionalProperties", "not", "if", "then", "else", "contains"), _ONE),
    "propertyNames": _ONE,
    "dependentSchemas": _BY_NAME,
    "items": "a schema or a list of schemas",
    "multipleOf": "a number greater than 0",
    "$id": "a URI reference without a fragment",
    "type": "a JSON type name or a list of them",
    "enum": "a list",
    "required": "a list of distinct strings",
    "dependentRequired": "an object of lists of distinct strings",
    "uniqueItems": "a boolean",
}


def malformed(error: ValidationError, node: dict[str, Any]) -> str:
    where = list(error.absolute_path)
    keyword = str(where[0]) if where else "the schema"
    if error.validator == "format":  # the one format checked: "regex"
        return f"{keyword} {error.instance!r} is not a valid regular expression ({error.cause})."
    shape = _SHAPES.get(keyword)
    if shape is None or keyword not in node:
        return f"{keyword}: {error.message}."
    return f"{keyword} must be {shape}, not {reprlib.repr(node[keyword])}."


# What well_formed() found, by a digest of the schema's content (a schema is read again
# from the database for each check: identity does not last). Checking each node against
# the meta-schema is most of the cost of a check (1.7 of 2.5 ms for a small pydantic model,
# measured), and a deployment's parameter schema or a pool's template is the same many
# times. A schema with more nodes than _WALK_BOUND is left to the per-check path, whose
# work the step budget bounds (a node costs 50-200 us to check).
_WELL_FORMED: dict[bytes, bool] = {}
_WELL_FORMED_BOUND = 512
_WALK_BOUND = 500
_ONE_SCHEMA = (
    "additionalProperties",
    "contains",
    "else",
    "if",
    "items",
    "not",
    "propertyNames",
    "then",
)
_SCHEMA_LISTS = ("allOf", "anyOf", "items", "oneOf", "prefixItems")
_SCHEMA_MAPS = ("$defs", "definitions", "dependentSchemas", "patternProperties", "properties")


def well_formed(root: Any, schema: Any) -> bool:
    """Whether every node a check of ``schema`` (``$ref`` into ``root``) can reach passes
    the meta-schema check; false also when that cannot be told cheaply (``$id``, anchors,
    a large schema). Remembered by content."""
    try:
        content = orjson.dumps([root, schema] if schema is not root else root)
    except TypeError:  # not JSON: nothing to key by
        return False
    key = hashlib.blake2b(content, digest_size=16).digest()
    known = _WELL_FORMED.get(key)
    if known is None:
        known = _walk(root, schema)
        if len(_WELL_FORMED) >= _WELL_FORMED_BOUND:
            del _WELL_FORMED[next(iter(_WELL_FORMED))]
        _WELL_FORMED[key] = known
    return known


def _walk(root: Any, schema: Any) -> bool:
    stack, seen = [schema, root], set()
    while stack:
        node = stack.pop()
        if not isinstance(node, dict) or id(node) in seen:
            continue
        seen.add(id(node))
        if len(seen) > _WALK_BOUND or "$id" in node:
            return False
        if next(META.iter_errors(node), None) is not None:
            return False
        stack.extend(node[k] for k in _ONE_SCHEMA if k in node and not isinstance(node[k], list))
        stack.extend(
            item for k in _SCHEMA_LISTS if isinstance(node.get(k), list) for item in node[k]
        )
        stack.extend(item for k in _SCHEMA_MAPS if k in node for item in node[k].values())
        for keyword in ("$ref", "$dynamicRef"):
            if keyword in node:
                target = _pointer(root, node[keyword])
                if target is _MISSING:
                    return False
                stack.append(target)
    return True


def _pointer(root: Any, ref: str) -> Any:
    """The node a local JSON-pointer reference names in ``root``, or ``_MISSING``."""
    if not ref.startswith("#/") and ref != "#":
        return _MISSING  # an anchor, or not local
    node = root
    for part in ref[2:].split("/") if ref != "#" else []:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node
