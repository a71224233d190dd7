"""Check a block document's data against its schema's ``fields`` (a JSON schema).

The checking itself is :mod:`flowyard.schemas.json_schema`, shared with run inputs and job
variables (bounded work, cycles and malformed schemas refused). What is particular to
blocks: a value standing for a nested block document (``{"$ref": {"block_document_id":
...}}``) is checked by the reference code, not here, and unknown keys are allowed whatever
``additionalProperties`` says (clients add ``block_type_slug`` to nested blocks). The first
problem found is returned as ``data.<path>: <message>`` so the 422 names the field.
"""

from __future__ import annotations

from typing import Any

from flowyard.schemas.json_schema import SchemaError, problems

REF_KEY = "$ref"


def _is_reference(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {REF_KEY}


def validate_data(fields: dict[str, Any], data: dict[str, Any]) -> str | None:
    """The first problem of a document's ``data`` against its schema's ``fields`` (or of
    the schema itself, when it cannot be used), or None."""
    try:
        found = problems(data, fields, path="data", additional_properties=False, skip=_is_reference)
    except SchemaError as exc:
        return f"{exc.path or 'data'}: the block schema cannot be used: {exc.reason}"
    return str(found[0]) if found else None
