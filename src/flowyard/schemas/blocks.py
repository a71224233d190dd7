"""Blocks in the Prefect 3 wire shapes: types, schemas, documents, their filters and sorts.

A block *type* is a kind of configuration (``secret``, ``json``, a user's own); a block
*schema* is the JSON schema of one version of a type's fields, identified by a checksum of
those fields; a block *document* is a named, saved set of values for a schema. The fields of
a schema named in its ``secret_fields`` list are encrypted at rest by the server and read
back as ``********`` unless ``include_secrets`` is asked for.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from pydantic import Field

from flowyard.schemas.base import ActionModel, FilterModel, ObjectModel
from flowyard.schemas.filters import BoolFilter, FilterSet, IdFilter
from flowyard.schemas.sorting import BlockDocumentSort as BlockDocumentSort  # re-exported

# Block type and document names: no path separators or characters that break URLs.
NAME_PATTERN = r"^[^/%&><]+$"
OBFUSCATED = "********"
DEFAULT_SCHEMA_VERSION = "non-versioned"


def schema_checksum(fields: dict[str, Any]) -> str:
    """``sha256:`` + the hex digest of the canonical JSON of a schema's ``fields``.

    Canonical means: ``secret_fields`` left out at every level, definitions of nested
    blocks (those carrying a ``block_type_slug``) left out, keys sorted, and the value
    wrapped as the official client hashes it (``[[fields], {}]``), so that a schema
    registered by either client is found again by the other under the same checksum.
    """
    stripped = _without_key(fields, "secret_fields")
    definitions = stripped.get("definitions")
    if isinstance(definitions, dict):
        plain = {
            name: value
            for name, value in definitions.items()
            if not (isinstance(value, dict) and value.get("block_type_slug") is not None)
        }
        if plain:
            stripped["definitions"] = plain
        else:
            stripped.pop("definitions")
    canonical = json.dumps([[stripped], {}], sort_keys=True)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _without_key(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        return {k: _without_key(v, key) for k, v in value.items() if k != key}
    return value


# --- read models -------------------------------------------------------------------------


class BlockType(ObjectModel):
    name: str
    slug: str
    logo_url: str | None = None
    documentation_url: str | None = None
    description: str | None = None
    code_example: str | None = None
    is_protected: bool = False


class BlockSchema(ObjectModel):
    checksum: str
    fields: dict[str, Any] = Field(default_factory=dict)
    block_type_id: uuid.UUID | None
    block_type: BlockType | None = None
    capabilities: list[str] = Field(default_factory=list)
    version: str = DEFAULT_SCHEMA_VERSION


class BlockDocument(ObjectModel):
    name: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    block_schema_id: uuid.UUID
    block_schema: BlockSchema | None = None
    block_type_id: uuid.UUID
    block_type_name: str | None = None
    block_type: BlockType | None = None
    block_document_references: dict[str, dict[str, Any]] = Field(default_factory=dict)
    is_anonymous: bool = False


# --- request bodies ----------------------------------------------------------------------


class BlockTypeCreate(ActionModel):
    name: str = Field(pattern=NAME_PATTERN, max_length=255)
    slug: str = Field(pattern=r"^[a-z0-9_-]+$", max_length=255)
    logo_url: str | None = None
    documentation_url: str | None = None
    description: str | None = None
    code_example: str | None = None


class BlockTypeUpdate(ActionModel):
    logo_url: str | None = None
    documentation_url: str | None = None
    description: str | None = None
    code_example: str | None = None


class BlockSchemaCreate(ActionModel):
    fields: dict[str, Any] = Field(default_factory=dict)
    block_type_id: uuid.UUID
    capabilities: list[str] = Field(default_factory=list)
    version: str = Field(default=DEFAULT_SCHEMA_VERSION, max_length=255)


class BlockDocumentCreate(ActionModel):
    name: str | None = Field(default=None, pattern=NAME_PATTERN, max_length=255)
    data: dict[str, Any] = Field(default_factory=dict)
    block_schema_id: uuid.UUID
    block_type_id: uuid.UUID
    is_anonymous: bool = False


class BlockDocumentUpdate(ActionModel):
    block_schema_id: uuid.UUID | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    merge_existing_data: bool = True


# --- filters and sorts -------------------------------------------------------------------


class BlockTypeNameFilter(FilterModel):
    like_: str | None = None


class SlugFilter(FilterModel):
    any_: list[str] | None = None


class BlockTypeFilter(FilterSet):
    name: BlockTypeNameFilter | None = None
    slug: SlugFilter | None = None


class CapabilitiesFilter(FilterModel):
    all_: list[str] | None = None


class VersionFilter(FilterModel):
    any_: list[str] | None = None


class BlockSchemaFilter(FilterSet):
    block_type_id: IdFilter | None = None
    block_capabilities: CapabilitiesFilter | None = None
    id: IdFilter | None = None
    version: VersionFilter | None = None


class BlockDocumentNameFilter(FilterModel):
    any_: list[str] | None = None
    like_: str | None = None


def _not_anonymous() -> BoolFilter:
    return BoolFilter(eq_=False)


class BlockDocumentFilter(FilterSet):
    id: IdFilter | None = None
    # As in the contract: anonymous documents are left out unless asked for.
    is_anonymous: BoolFilter | None = Field(default_factory=_not_anonymous)
    block_type_id: IdFilter | None = None
    name: BlockDocumentNameFilter | None = None
