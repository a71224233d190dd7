"""Client methods for blocks: /block_types, /block_schemas, /block_documents."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from flowyard.client._http import (
    BaseClient,
    build,
    compose,
    dump,
    parse,
    parse_json,
    parse_list,
    segment,
)
from flowyard.schemas.sorting import BlockDocumentSort

if TYPE_CHECKING:
    from flowyard.schemas.blocks import (
        BlockDocument,
        BlockDocumentCreate,
        BlockDocumentFilter,
        BlockSchema,
        BlockSchemaCreate,
        BlockSchemaFilter,
        BlockType,
        BlockTypeCreate,
        BlockTypeFilter,
        BlockTypeUpdate,
    )


def _secrets(include_secrets: bool) -> dict[str, Any]:
    return {"include_secrets": "true" if include_secrets else "false"}


class BlocksAPI(BaseClient):
    """Blocks: typed, named configuration (credentials, settings) kept by the server.

    Values of secret fields are encrypted at rest and come back as ``********`` unless
    ``include_secrets=True`` is asked for.
    """

    # --- block types ---------------------------------------------------------------------

    async def create_block_type(self, block_type: BlockTypeCreate) -> BlockType:
        """Create a block type. Raises ``ObjectAlreadyExists`` if its name or slug is taken."""
        from flowyard.schemas.blocks import BlockType

        response = await self._request("POST", "/block_types/", json=dump(block_type))
        return parse(BlockType, response)

    async def read_block_type(self, block_type_id: uuid.UUID) -> BlockType:
        """Read a block type by id. Raises ``ObjectNotFound``."""
        from flowyard.schemas.blocks import BlockType

        return parse(BlockType, await self._request("GET", f"/block_types/{block_type_id}"))

    async def read_block_type_by_slug(self, slug: str) -> BlockType:
        """Read a block type by slug (e.g. ``secret``). Raises ``ObjectNotFound``."""
        from flowyard.schemas.blocks import BlockType

        path = f"/block_types/slug/{segment(slug)}"
        return parse(BlockType, await self._request("GET", path))

    async def read_block_types(
        self,
        block_type_filter: BlockTypeFilter | None = None,
        block_schema_filter: BlockSchemaFilter | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[BlockType]:
        """Block types matching the filters, by name."""
        from flowyard.schemas.blocks import BlockType

        body = compose(
            block_types=block_type_filter,
            block_schemas=block_schema_filter,
            limit=limit,
            offset=offset,
        )
        response = await self._request("POST", "/block_types/filter", json=body)
        return parse_list(BlockType, response)

    async def update_block_type(self, block_type_id: uuid.UUID, update: BlockTypeUpdate) -> None:
        """Change a block type's description, logo, documentation link or code example."""
        await self._request("PATCH", f"/block_types/{block_type_id}", json=dump(update))

    async def delete_block_type(self, block_type_id: uuid.UUID) -> None:
        """Delete a block type with its schemas and documents (not a built-in one)."""
        await self._request("DELETE", f"/block_types/{block_type_id}")

    # --- block schemas -------------------------------------------------------------------

    async def create_block_schema(self, block_schema: BlockSchemaCreate) -> BlockSchema:
        """Create a block schema (or get the existing one with the same checksum)."""
        from flowyard.schemas.blocks import BlockSchema

        response = await self._request("POST", "/block_schemas/", json=dump(block_schema))
        return parse(BlockSchema, response)

    async def read_block_schema(self, block_schema_id: uuid.UUID) -> BlockSchema:
        """Read a block schema by id. Raises ``ObjectNotFound``."""
        from flowyard.schemas.blocks import BlockSchema

        response = await self._request("GET", f"/block_schemas/{block_schema_id}")
        return parse(BlockSchema, response)

    async def read_block_schema_by_checksum(
        self, checksum: str, version: str | None = None
    ) -> BlockSchema:
        """Read a block schema by checksum (the newest, unless ``version`` is given)."""
        from flowyard.schemas.blocks import BlockSchema

        params = {"version": version} if version is not None else None
        path = f"/block_schemas/checksum/{segment(checksum)}"
        return parse(BlockSchema, await self._request("GET", path, params=params))

    async def read_block_schemas(
        self,
        block_schema_filter: BlockSchemaFilter | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[BlockSchema]:
        """Block schemas matching the filter, newest first."""
        from flowyard.schemas.blocks import BlockSchema

        body = compose(block_schemas=block_schema_filter, limit=limit, offset=offset)
        response = await self._request("POST", "/block_schemas/filter", json=body)
        return parse_list(BlockSchema, response)

    async def delete_block_schema(self, block_schema_id: uuid.UUID) -> None:
        """Delete a block schema and the documents saved with it."""
        await self._request("DELETE", f"/block_schemas/{block_schema_id}")

    async def read_block_capabilities(self) -> list[str]:
        """Every capability some block schema declares."""
        return list(parse_json(await self._request("GET", "/block_capabilities/")))

    # --- block documents -----------------------------------------------------------------

    async def create_block_document(self, block_document: BlockDocumentCreate) -> BlockDocument:
        """Save a block document. Raises ``ObjectAlreadyExists`` if the name is taken for
        its block type, ``InvalidRequest`` if the data does not fit the schema."""
        from flowyard.schemas.blocks import BlockDocument

        response = await self._request("POST", "/block_documents/", json=dump(block_document))
        return parse(BlockDocument, response)

    async def read_block_document(
        self, block_document_id: uuid.UUID, *, include_secrets: bool = False
    ) -> BlockDocument:
        """Read a block document by id. Raises ``ObjectNotFound``."""
        from flowyard.schemas.blocks import BlockDocument

        response = await self._request(
            "GET", f"/block_documents/{block_document_id}", params=_secrets(include_secrets)
        )
        return parse(BlockDocument, response)

    async def read_block_document_by_name(
        self, name: str, block_type_slug: str, *, include_secrets: bool = False
    ) -> BlockDocument:
        """Read the block document ``name`` of a block type. Raises ``ObjectNotFound``."""
        from flowyard.schemas.blocks import BlockDocument

        path = f"/block_types/slug/{segment(block_type_slug)}/block_documents/name/{segment(name)}"
        response = await self._request("GET", path, params=_secrets(include_secrets))
        return parse(BlockDocument, response)

    async def read_block_documents_by_type(
        self, block_type_slug: str, *, include_secrets: bool = False
    ) -> list[BlockDocument]:
        """Every (named) block document of a block type."""
        from flowyard.schemas.blocks import BlockDocument

        path = f"/block_types/slug/{segment(block_type_slug)}/block_documents"
        response = await self._request("GET", path, params=_secrets(include_secrets))
        return parse_list(BlockDocument, response)

    async def read_block_documents(
        self,
        block_document_filter: BlockDocumentFilter | None = None,
        block_type_filter: BlockTypeFilter | None = None,
        block_schema_filter: BlockSchemaFilter | None = None,
        *,
        include_secrets: bool = False,
        sort: BlockDocumentSort = BlockDocumentSort.NAME_ASC,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[BlockDocument]:
        """Block documents matching the filters (anonymous ones only when asked for)."""
        from flowyard.schemas.blocks import BlockDocument

        body = compose(
            block_documents=block_document_filter,
            block_types=block_type_filter,
            block_schemas=block_schema_filter,
            include_secrets=include_secrets,
            sort=str(sort),
            limit=limit,
            offset=offset,
        )
        response = await self._request("POST", "/block_documents/filter", json=body)
        return parse_list(BlockDocument, response)

    async def count_block_documents(
        self,
        block_document_filter: BlockDocumentFilter | None = None,
        block_type_filter: BlockTypeFilter | None = None,
    ) -> int:
        """How many block documents match the filters."""
        body = compose(block_documents=block_document_filter, block_types=block_type_filter)
        response = await self._request("POST", "/block_documents/count", json=body)
        return int(parse_json(response))

    async def update_block_document(
        self,
        block_document_id: uuid.UUID,
        data: dict[str, Any],
        *,
        merge_existing_data: bool = True,
        block_schema_id: uuid.UUID | None = None,
    ) -> None:
        """Change a block document's data: merged into what is stored, or replacing it."""
        from flowyard.schemas.blocks import BlockDocumentUpdate

        fields: dict[str, Any] = {"data": data, "merge_existing_data": merge_existing_data}
        if block_schema_id is not None:
            fields["block_schema_id"] = block_schema_id
        body = build(BlockDocumentUpdate, **fields)
        await self._request("PATCH", f"/block_documents/{block_document_id}", json=dump(body))

    async def delete_block_document(self, block_document_id: uuid.UUID) -> None:
        """Delete a block document. Raises ``ObjectAlreadyExists`` (409) while a deployment
        or another block document uses it, naming them."""
        await self._request("DELETE", f"/block_documents/{block_document_id}")
