"""The shared JSON Schema checker: bounded work on hostile schemas, malformed schemas as
SchemaError (a 422 for callers, never a 500), and useful messages on ordinary ones."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from flowyard.schemas import json_schema, json_schema_engine, json_schema_meta
from flowyard.schemas.flow_run_control import json_schema_errors
from flowyard.schemas.json_schema import SchemaError, problems
from flowyard.server.blocks.validation import validate_data
from flowyard.server.queries.job_templates import (
    InvalidJobTemplate,
    _check_object,
    validate_job_variables,
)

# Each anyOf branch refers back to the same definition: without cycle detection and a step
# budget this is 2^depth calls.
A_REF = {"$ref": "#/definitions/A"}
DOUBLING = {**A_REF, "definitions": {"A": {"anyOf": [A_REF, A_REF]}}}
# Not cyclic (each branch consumes one level of the value) but exponential on a deep value
# that fails at the bottom.
BRANCHING = {
    "$ref": "#/$defs/L",
    "$defs": {
        "L": {
            "anyOf": [
                {"type": "array", "items": {"$ref": "#/$defs/L"}},
                {"type": "array", "items": {"$ref": "#/$defs/L"}, "minItems": 0},
                {"type": "array", "items": {"$ref": "#/$defs/L"}, "maxItems": 9},
            ]
        }
    },
}
TREE = {
    "$ref": "#/$defs/Node",
    "$defs": {
        "Node": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
            },
            "required": ["name"],
        }
    },
}


class Counting:
    """Counts the checker's steps (keyword visits), to show the work stays bounded (not
    timed): the real step counter, observed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        original = json_schema_engine._Run.tick

        def tick(run: Any) -> None:
            self.calls += 1
            original(run)

        monkeypatch.setattr(json_schema_engine._Run, "tick", tick)


def test_a_self_doubling_schema_is_refused_as_cyclic(monkeypatch: pytest.MonkeyPatch) -> None:
    counting = Counting(monkeypatch)
    with pytest.raises(SchemaError, match="cyclic"):
        problems("anything", DOUBLING)
    assert counting.calls < 10


def test_an_exponential_schema_runs_out_of_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    deep: Any = "leaf"  # a string at the bottom: every branch fails there
    for _ in range(10):  # 3^10 paths, within the depth limit (3 levels per list)
        deep = [deep]
    counting = Counting(monkeypatch)
    with pytest.raises(SchemaError, match="too complex"):
        problems(deep, BRANCHING)
    limit = json_schema.BASE_STEPS + json_schema.STEPS_PER_VALUE_NODE * 11
    assert counting.calls <= limit + 1


def test_ref_counts_as_depth() -> None:
    chain = {f"D{i}": {"$ref": f"#/$defs/D{i + 1}"} for i in range(40)}
    schema = {"$ref": "#/$defs/D0", "$defs": {**chain, "D40": {"type": "string"}}}
    with pytest.raises(SchemaError, match="levels deep"):
        problems("x", schema)


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        ({"$ref": "#/$defs/Missing"}, "does not resolve"),
        ({"$ref": "https://example.com/schema.json"}, "not a local reference"),
        ({"$ref": 5}, "must be a string"),
        ({"type": "string", "minLength": "2"}, "minLength must be a non-negative integer"),
        ({"type": "string", "maxLength": True}, "maxLength"),
        ({"minimum": "1"}, "minimum must be a number"),
        ({"type": "string", "pattern": "(unclosed"}, "not a valid regular expression"),
        ({"type": "string", "pattern": 7}, "pattern must be a string"),
        ({"enum": "ab"}, "enum must be a list"),
        ({"type": 3}, "type must be"),
        ({"anyOf": []}, "anyOf must be a non-empty list"),
    ],
)
def test_malformed_schemas_are_schema_errors(schema: dict[str, Any], reason: str) -> None:
    wrapped = {"type": "object", "properties": {"field": schema}, "$defs": {}}
    value = 5 if "minimum" in schema else "abc"  # bounds are read where they apply
    with pytest.raises(SchemaError, match=reason) as raised:
        problems({"field": value}, wrapped, path="data")
    assert raised.value.path == "data.field"


def test_patterns_run_on_a_linear_time_engine() -> None:
    # (a+)+$ against a long run of a's and one b backtracks for hours under ``re`` (2^64
    # steps): RE2 answers at once. Were it ``re``, this test would hang until its timeout.
    schema = {"type": "string", "pattern": "^(a+)+$"}
    assert [str(p) for p in problems("a" * 64 + "b", schema, path="name")] == [
        "name: must match the pattern '^(a+)+$'."
    ]
    assert problems("a" * 100_000, schema) == []
    # patternProperties (and additionalProperties, which matches against them) too.
    keyed = {"patternProperties": {"^(a+)+$": {"type": "integer"}}, "additionalProperties": False}
    assert [str(p) for p in problems({"a" * 64 + "b": 1, "aaa": "x"}, keyed)] == [
        "aaa: expected integer, got string."
    ]
    assert [str(p) for p in problems({"a" * 64 + "b": 1}, keyed)] == [
        f"{'a' * 64}b: extra field not permitted."
    ]
    # What no linear-time engine can run is refused as a malformed schema, naming the field.
    for pattern in (r"(a)\1", "(?=a)b", "x" * 1001):
        with pytest.raises(SchemaError, match="not a valid regular expression") as refused:
            problems({"f": "ab"}, {"properties": {"f": {"pattern": pattern}}})
        assert refused.value.path == "f"


def test_ordinary_schemas_name_the_field() -> None:
    value = {"name": "root", "children": [{"name": "a"}, {"children": []}]}
    assert [str(p) for p in problems(value, TREE, path="data")] == [
        "data.children.1.name: field required."
    ]
    level = {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]}
    assert str(problems(0, level, path="level")[0]) == "level: must be at least 1."
    assert str(problems("x", level, path="level")[0]) == (
        "level: expected integer or null, got string."
    )
    assert problems(None, level) == [] and problems(3, level) == []
    assert problems(2.0, {"type": "integer"}) == []
    assert problems(True, {"type": "integer"}) != []


def test_a_large_legitimate_value_fits_the_budget() -> None:
    big = {"name": "root", "children": [{"name": str(i)} for i in range(20_000)]}
    assert problems(big, TREE) == []


def test_callers_turn_schema_errors_into_messages_naming_the_field() -> None:
    cyclic = {
        "type": "object",
        "properties": {"x": {"$ref": "#/definitions/A"}},
        "definitions": {"A": {"$ref": "#/definitions/A"}},
    }
    # Run input: a reason the resume route answers with 422.
    assert json_schema_errors({"x": 1}, cyclic) == [
        "x: the stored input schema cannot be used: $ref '#/definitions/A' is cyclic."
    ]
    # Block data: the message of the 422.
    problem = validate_data(cyclic, {"x": 1})
    assert problem is not None and problem.startswith("data.x: the block schema cannot be used")
    # Job variables: InvalidJobTemplate, a 422.
    with pytest.raises(InvalidJobTemplate) as refused:
        validate_job_variables({"job_configuration": {}, "variables": cyclic}, {"x": 1})
    assert refused.value.status_code == 422
    assert "job_variables.x: the schema cannot be used" in str(refused.value)
    # Deployment parameters go through _check_object.
    assert _check_object({"x": 1}, cyclic, cyclic) == (
        "x: the schema cannot be used: $ref '#/definitions/A' is cyclic."
    )
    assert _check_object({}, {"required": ["n"]}, {}) == "n: field required."


def test_block_data_keeps_its_particular_rules() -> None:
    fields = {
        "type": "object",
        "properties": {"inner": {"$ref": "#/definitions/Inner"}},
        "additionalProperties": False,
        "definitions": {"Inner": {"type": "object", "additionalProperties": False}},
    }
    # Nested document references are not checked here, unknown keys are allowed.
    assert validate_data(fields, {"inner": {"$ref": {"block_document_id": "x"}}}) is None
    assert validate_data(fields, {"inner": {"block_type_slug": "s"}, "extra": 1}) is None
    assert validate_data(fields, {"inner": 5}) == "data.inner: expected object, got integer."


# --- the library's keywords, and the guards around them -------------------------------------


@pytest.mark.parametrize(
    ("schema", "good", "bad", "message"),
    [
        # Keywords the hand-written subset did not know: jsonschema enforces them all.
        ({"multipleOf": 5}, 10, 12, "must be a multiple of 5."),
        ({"if": {"minimum": 10}, "then": {"maximum": 20}}, 15, 25, "must be at most 20."),
        ({"dependentRequired": {"a": ["b"]}}, {"a": 1, "b": 2}, {"a": 1}, "does not satisfy"),
        ({"propertyNames": {"maxLength": 3}}, {"abc": 1}, {"abcd": 1}, "at most 3 characters"),
        ({"contains": {"type": "string"}}, [1, "x"], [1, 2], "does not satisfy contains."),
        ({"minProperties": 1}, {"a": 1}, {}, "expected at least 1 fields."),
        ({"not": {"type": "null"}}, 0, None, "must not match the schema under not."),
        # JSON equality: true is not 1, 1.0 is 1.
        ({"enum": [1, "x"]}, 1.0, True, "must be one of 1, 'x'."),
        ({"const": {"a": [1]}}, {"a": [1.0]}, {"a": [True]}, "must be {'a': [1]}."),
        # oneOf means exactly one (the hand-written subset read it as anyOf).
        (
            {"oneOf": [{"type": "integer"}, {"minimum": 0}]},
            -1,
            5,
            "matches more than one of the oneOf options.",
        ),
        # The older tuple form of prefixItems (pydantic v1), and prefixItems itself.
        ({"items": [{"type": "integer"}, {"type": "string"}]}, [1, "a"], [1, 2], "got integer"),
        ({"prefixItems": [{"type": "integer"}], "items": False}, [1], [1, 2], "at most 1 items"),
    ],
)
def test_jsonschema_keywords_are_enforced(
    schema: dict[str, Any], good: Any, bad: Any, message: str
) -> None:
    assert problems(good, schema) == []
    found = problems(bad, schema, path="v")
    assert len(found) == 1 and message in str(found[0]), found


def test_unique_items_is_linear_and_uses_json_equality() -> None:
    # jsonschema compares unhashable items pairwise: 17 s for 4,000 objects, 140 s for
    # 8,000. Were it used, this would hang until the test's timeout.
    distinct = [{"id": i, "tags": [str(i)]} for i in range(20_000)]
    schema = {"type": "array", "uniqueItems": True}
    assert problems(distinct, schema) == []
    assert [str(p) for p in problems([*distinct, {"tags": ["7"], "id": 7.0}], schema)] == [
        "items must be unique."
    ]
    assert problems([1, True, "1", None, False, 0], schema) == []


def test_a_subschema_naming_another_draft_keeps_the_guards() -> None:
    # jsonschema switches to that draft's validator for a subschema naming it: Python's re
    # would run this pattern (for hours on this value). The $schema keys are dropped.
    draft7 = "http://json-schema.org/draft-07/schema#"
    schema = {
        "$schema": draft7,
        "properties": {"a": {"$schema": draft7, "type": "string", "pattern": "^(a+)+$"}},
    }
    value = {"a": "a" * 64 + "!"}
    assert [str(p) for p in problems(value, schema)] == ["a: must match the pattern '^(a+)+$'."]
    assert "$schema" in schema["properties"]["a"]  # the caller's schema is left as it was


def test_unevaluated_keywords_are_not_evaluated() -> None:
    # jsonschema evaluates them outside the guards: it would run this pattern on Python's
    # re (2^30 steps for this key), and follow a $ref cycle until RecursionError.
    cyclic = {
        "$defs": {"A": {"$ref": "#/$defs/A"}},
        "properties": {"x": {"type": "integer"}},
        "unevaluatedProperties": False,
        "patternProperties": {"^(a+)+$": True},
    }
    assert problems({"x": 1, "a" * 30 + "!": 2}, cyclic) == []


def test_more_malformed_schemas_name_the_field() -> None:
    cases = [
        ({"properties": {"inner": 5}}, "properties must be an object of schemas"),
        ({"type": "strin"}, "type must be a JSON type name"),
        ({"required": ["a", "a"]}, "required must be a list of distinct strings"),
        ({"patternProperties": {"(?<=x)": True}}, "not a valid regular expression"),
        ({"allOf": [{"$ref": "#/nowhere"}]}, "does not resolve"),
        ({"$ref": "http://127.0.0.1:9/schema.json"}, "not a local reference"),
    ]
    for schema, reason in cases:
        with pytest.raises(SchemaError, match=reason) as raised:
            problems({"field": {"x": 1}}, {"properties": {"field": schema}}, path="data")
        assert raised.value.path == "data.field", (schema, raised.value)


def test_a_well_formed_schema_is_remembered_and_a_malformed_one_never_trusted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    title = uuid.uuid4().hex  # content no other check has had

    def fresh() -> dict[str, Any]:  # a new object each time, as read from the database
        shapes = {"A": {"type": "int"}}
        return {"title": title, "properties": {"a": {"$ref": "#/x-shapes/A"}}, "x-shapes": shapes}

    walks: list[Any] = []
    walk = json_schema_meta._walk
    monkeypatch.setattr(json_schema_meta, "_walk", lambda *a: walks.append(a) or walk(*a))
    # A malformed node reached only through a $ref into a place no keyword names is found
    # by the walk too: the schema is not trusted, and each check names the problem.
    for _ in range(2):
        with pytest.raises(SchemaError, match="type must be a JSON type name") as raised:
            problems({"a": "x"}, fresh())
        assert raised.value.path == "a"
    good = fresh()
    good["x-shapes"]["A"]["type"] = "string"
    assert problems({"a": 1}, good)[0].message == "expected string, got integer."
    assert problems({"a": "x"}, json.loads(json.dumps(good))) == []
    assert len(walks) == 2  # once per content, the second check of each remembered


def test_recursion_through_contains_and_property_names_is_no_cycle() -> None:
    # The value descends there too (to an item, to a key): the same $ref again is a level
    # further down, not a loop.
    nested = {
        "$ref": "#/$defs/L",
        "$defs": {"L": {"type": "array", "contains": {"$ref": "#/$defs/L"}}},
    }
    assert problems([[[[]], 1]], nested) != []  # the innermost list contains nothing
    keys = {
        "$ref": "#/$defs/K",
        "$defs": {"K": {"propertyNames": {"$ref": "#/$defs/S"}}, "S": {"maxLength": 2}},
    }
    assert problems({"ab": 1}, keys) == [] and problems({"abc": 1}, keys) != []
