"""The shared JSON Schema checker: bounded work on hostile schemas, malformed schemas as
SchemaError (a 422 for callers, never a 500), and useful messages on ordinary ones."""

from __future__ import annotations

from typing import Any

import pytest

from flowyard.schemas import json_schema, json_schema_engine
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
