"""Block documents as the API sees them: checked, encrypted, referenced, masked.

``operations.block_documents`` calls these inside its transaction; a refused request raises
a domain error (``NotFound``, ``Conflict``, ``Invalid``, with a message naming the field)
before anything is written.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas import blocks as schemas
from flowyard.server.blocks.encryption import BlockCipher
from flowyard.server.blocks.secrets import (
    dropped_secret_fields,
    keep_masked_secrets,
    obfuscate,
    secret_fields_of,
)
from flowyard.server.blocks.validation import validate_data
from flowyard.server.database.orm_blocks import BlockDocument, BlockSchema, BlockType
from flowyard.server.errors import Conflict, Invalid, NotFound
from flowyard.server.queries import block_documents as queries
from flowyard.server.queries import blocks as type_queries

# Nesting deeper than this is not followed on reads (and cycles end here).
MAX_REFERENCE_DEPTH = 8


@dataclass(frozen=True, slots=True)
class Documents:
    """What every operation needs: the session, the workspace and the cipher."""

    session: AsyncSession
    workspace_id: uuid.UUID
    cipher: BlockCipher

    # --- writes --------------------------------------------------------------------------

    async def create(self, body: schemas.BlockDocumentCreate) -> BlockDocument:
        block_type, block_schema = await self._type_and_schema(
            body.block_type_id, body.block_schema_id
        )
        if body.is_anonymous:
            name = body.name or f"anonymous-{uuid.uuid4()}"
        elif not body.name:
            raise Invalid("name: required unless the block document is anonymous.")
        else:
            name = body.name
        data, references = await self._checked(block_schema, body.data, None)
        row = await queries.insert_block_document(
            self.session,
            self.workspace_id,
            name=name,
            token=self.cipher.encrypt(data),
            is_anonymous=body.is_anonymous,
            block_type_id=block_type.id,
            block_schema_id=block_schema.id,
        )
        if row is None:
            raise Conflict(f"A {block_type.name} block document named {name!r} already exists.")
        await queries.replace_references(self.session, self.workspace_id, row.id, references)
        return row

    async def update(self, row: BlockDocument, body: schemas.BlockDocumentUpdate) -> None:
        schema_id = body.block_schema_id or row.block_schema_id
        _, block_schema = await self._type_and_schema(row.block_type_id, schema_id)
        if block_schema.id != row.block_schema_id:
            await self._refuse_dropping_secrets(row, block_schema)
        current = self.cipher.decrypt(row.data)
        new = {**current, **body.data} if body.merge_existing_data else dict(body.data)
        new = keep_masked_secrets(new, current, secret_fields_of(block_schema.fields))
        data, references = await self._checked(block_schema, new, row.id)
        await queries.update_block_document(
            self.session,
            self.workspace_id,
            row.id,
            token=self.cipher.encrypt(data),
            block_schema_id=block_schema.id,
        )
        await queries.replace_references(self.session, self.workspace_id, row.id, references)

    async def _refuse_dropping_secrets(self, row: BlockDocument, new: BlockSchema) -> None:
        """Refuse moving a document to a schema that masks less than its current one: its
        stored secret would then show in clear on a plain read (no ``include_secrets``)."""
        old = await type_queries.read_block_schema(
            self.session, self.workspace_id, row.block_schema_id
        )
        old_secrets = secret_fields_of(old.fields) if old is not None else []
        dropped = dropped_secret_fields(old_secrets, secret_fields_of(new.fields))
        if dropped:
            raise Invalid(
                f"block_schema_id: block schema {new.id} does not keep "
                f"{', '.join(repr(path) for path in dropped)} secret, as the document's "
                "current schema does.",
            )

    async def _type_and_schema(
        self, block_type_id: uuid.UUID, block_schema_id: uuid.UUID
    ) -> tuple[BlockType, BlockSchema]:
        block_type = await type_queries.read_block_type(
            self.session, self.workspace_id, block_type_id
        )
        if block_type is None:
            raise NotFound(f"block_type_id: block type {block_type_id} not found.")
        block_schema = await type_queries.read_block_schema(
            self.session, self.workspace_id, block_schema_id
        )
        if block_schema is None:
            raise NotFound(f"block_schema_id: block schema {block_schema_id} not found.")
        if block_schema.block_type_id != block_type.id:
            raise Invalid(
                f"block_schema_id: block schema {block_schema_id} is not a schema of block "
                f"type {block_type.slug!r}.",
            )
        return block_type, block_schema

    async def _checked(
        self, block_schema: BlockSchema, data: dict[str, Any], own_id: uuid.UUID | None
    ) -> tuple[dict[str, Any], dict[str, uuid.UUID]]:
        """The data to store and its references, or Invalid naming the bad field."""
        references: dict[str, uuid.UUID] = {}
        for name, value in data.items():
            target = _reference(value)
            if target is None:
                continue
            if target == own_id:
                raise Invalid(f"data.{name}: a block document cannot nest itself.")
            references[name] = target
        found = await queries.read_block_documents_by_ids(
            self.session, self.workspace_id, set(references.values())
        )
        for name, target in references.items():
            if target not in found:
                raise Invalid(f"data.{name}: block document {target} not found.")
        problem = validate_data(block_schema.fields, data)
        if problem:
            raise Invalid(problem)
        return data, references

    # --- reads ---------------------------------------------------------------------------

    async def models(
        self, rows: list[BlockDocument], include_secrets: bool, depth: int = 0
    ) -> list[schemas.BlockDocument]:
        """API models of ``rows``: data decrypted, nested documents resolved, secrets
        masked unless ``include_secrets``."""
        if not rows:
            return []
        session, workspace_id = self.session, self.workspace_id
        block_schemas = {
            row.id: row
            for row in await type_queries.read_block_schemas(
                session,
                [
                    BlockSchema.workspace_id == workspace_id,
                    BlockSchema.id.in_({row.block_schema_id for row in rows}),
                ],
                None,
            )
        }
        types = await type_queries.types_by_id(
            session, workspace_id, {row.block_type_id for row in rows}
        )
        references = await queries.read_references(session, workspace_id, {r.id for r in rows})
        nested: dict[uuid.UUID, schemas.BlockDocument] = {}
        targets = {target for refs in references.values() for target in refs.values()}
        if targets and depth < MAX_REFERENCE_DEPTH:
            found = await queries.read_block_documents_by_ids(session, workspace_id, targets)
            nested_models = await self.models(list(found.values()), include_secrets, depth + 1)
            nested = {model.id: model for model in nested_models}
        return [
            self._model(
                row, block_schemas, types, references.get(row.id, {}), nested, include_secrets
            )
            for row in rows
        ]

    def _model(
        self,
        row: BlockDocument,
        block_schemas: dict[uuid.UUID, BlockSchema],
        types: dict[uuid.UUID, BlockType],
        references: dict[str, uuid.UUID],
        nested: dict[uuid.UUID, schemas.BlockDocument],
        include_secrets: bool,
    ) -> schemas.BlockDocument:
        block_schema = block_schemas.get(row.block_schema_id)
        block_type = types.get(row.block_type_id)
        data = self.cipher.decrypt(row.data)
        if not include_secrets and block_schema is not None:
            data = obfuscate(data, secret_fields_of(block_schema.fields))
        described: dict[str, dict[str, Any]] = {}
        for name, target in references.items():
            child = nested.get(target)
            if child is None:
                continue
            data[name] = child.data
            described[name] = {
                "block_document": {
                    "id": str(child.id),
                    "name": child.name,
                    "block_type": child.block_type.model_dump(mode="json")
                    if child.block_type
                    else None,
                    "is_anonymous": child.is_anonymous,
                    "block_document_references": child.block_document_references,
                }
            }
        return schemas.BlockDocument(
            id=row.id,
            created=row.created,
            updated=row.updated,
            name=row.name,
            data=data,
            block_schema_id=row.block_schema_id,
            block_schema=type_queries.schema_model(block_schema, block_type)
            if block_schema is not None
            else None,
            block_type_id=row.block_type_id,
            block_type_name=block_type.name if block_type is not None else None,
            block_type=type_queries.type_model(block_type) if block_type is not None else None,
            block_document_references=described,
            is_anonymous=row.is_anonymous,
        )


def _reference(value: Any) -> uuid.UUID | None:
    """The document id of a ``{"$ref": {"block_document_id": …}}`` value, else None."""
    if not isinstance(value, dict) or set(value) != {"$ref"}:
        return None
    ref = value["$ref"]
    raw = ref.get("block_document_id") if isinstance(ref, dict) else ref
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise Invalid("data: a $ref must name a block_document_id.") from None
