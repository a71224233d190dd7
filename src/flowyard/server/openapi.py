"""The last touches to the OpenAPI document FastAPI builds from the routes.

- Bodies read straight from bytes (``api.validation.documented_body``) get their nested
  models moved into the components.
- Every 422 is described as what the app answers (``ErrorResponse``: ``detail`` in one
  line, plus the contract's ``exception_message``/``exception_detail`` for a body or
  parameter that fails validation), not as FastAPI's default ``HTTPValidationError``;
  operations whose body is read from bytes (FastAPI sees nothing to validate) declare it too.
- The workspace prefix's ``{account_id}`` and ``{workspace_id}`` are declared as path
  parameters of every operation under it: the routers are mounted under the prefix, and the
  workspace is resolved from the path by a dependency, so FastAPI does not see them.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from flowyard.schemas.responses import ErrorResponse
from flowyard.server.api.validation import COMPONENTS, hoist_body_definitions

ERROR = "ErrorResponse"
METHODS = ("get", "put", "post", "delete", "patch")
WORKSPACE_PARAMETERS = ("account_id", "workspace_id")


def finish_document(spec: dict[str, Any]) -> dict[str, Any]:
    """Idempotent: FastAPI caches the document it built, and this runs on each request."""
    spec = hoist_body_definitions(spec)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    if ERROR not in schemas:
        schema = TypeAdapter(ErrorResponse).json_schema(ref_template=f"{COMPONENTS}{{model}}")
        schemas.update(schema.pop("$defs", {}))
        schemas[ERROR] = schema
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    refused = {
        "description": "Validation Error",
        "content": {"application/json": {"schema": {"$ref": f"{COMPONENTS}{ERROR}"}}},
    }
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            _declare_workspace_parameters(path, operation)
            responses = operation.setdefault("responses", {})
            if "422" in responses or "requestBody" in operation or operation.get("parameters"):
                responses["422"] = refused
    return spec


def _declare_workspace_parameters(path: str, operation: dict[str, Any]) -> None:
    parameters = operation.setdefault("parameters", [])
    declared = {p.get("name") for p in parameters if p.get("in") == "path"}
    for index, name in enumerate(WORKSPACE_PARAMETERS):
        if f"{{{name}}}" in path and name not in declared:
            parameters.insert(
                index,
                {
                    "name": name,
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "format": "uuid"},
                },
            )
    if not parameters:
        del operation["parameters"]
