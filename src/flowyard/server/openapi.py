"""The last touches to the OpenAPI document FastAPI builds from the routes.

- Bodies read straight from bytes (``api.validation.documented_body``) get their nested
  models moved into the components.
- Every 422 is described as what the app answers (``ValidationErrorResponse``: the
  contract's ``exception_message``/``exception_detail`` and a one-line ``detail``), not as
  FastAPI's default ``HTTPValidationError``; operations whose body is read from bytes (so
  FastAPI sees no parameter to validate) declare their 422 too.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from flowyard.schemas.responses import ValidationErrorResponse
from flowyard.server.api.validation import COMPONENTS, hoist_body_definitions

VALIDATION_ERROR = "ValidationErrorResponse"
METHODS = ("get", "put", "post", "delete", "patch")


def finish_document(spec: dict[str, Any]) -> dict[str, Any]:
    """Idempotent: FastAPI caches the document it built, and this runs on each request."""
    spec = hoist_body_definitions(spec)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    if VALIDATION_ERROR not in schemas:
        schema = TypeAdapter(ValidationErrorResponse).json_schema(
            ref_template=f"{COMPONENTS}{{model}}"
        )
        schemas.update(schema.pop("$defs", {}))
        schemas[VALIDATION_ERROR] = schema
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    answer = {
        "description": "Validation Error",
        "content": {"application/json": {"schema": {"$ref": f"{COMPONENTS}{VALIDATION_ERROR}"}}},
    }
    for item in spec.get("paths", {}).values():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            responses = operation.setdefault("responses", {})
            if "422" in responses or "requestBody" in operation or operation.get("parameters"):
                responses["422"] = answer
    return spec
