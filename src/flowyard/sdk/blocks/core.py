"""The :class:`Block` base class: typed configuration saved on the server by name.

A block is a pydantic model. Its class is a block *type* (name, slug, description), its
fields make a block *schema* (a JSON schema identified by a checksum), and a saved
instance is a block *document*::

    from pydantic import SecretStr
    from flowyard.blocks import Block

    class Warehouse(Block):
        _block_type_name = "Warehouse"
        host: str
        password: SecretStr

    Warehouse(host="db.internal", password="hunter2").save("prod")
    Warehouse.load("prod").password.get_secret_value()

Fields typed ``SecretStr``, ``SecretBytes`` or :class:`SecretDict` are secret: the server
encrypts them at rest and shows them masked. ``save`` registers the type and schema the
first time; ``load`` accepts ``"name"`` on a subclass and ``"slug/name"`` on ``Block``.
Every method has an ``a``-prefixed async twin.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar

from pydantic import BaseModel, ConfigDict, PrivateAttr

from flowyard.exceptions import ObjectAlreadyExists, ObjectNotFound
from flowyard.sdk.blocks.fields import reveal, secret_paths

if TYPE_CHECKING:
    from flowyard.client import FlowyardClient
    from flowyard.schemas.blocks import BlockDocument, BlockSchemaCreate, BlockTypeCreate

_REGISTRY: dict[str, type[Block]] = {}
T = TypeVar("T")


def slugify(name: str) -> str:
    """``"Email Server Credentials"`` -> ``"email-server-credentials"``."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


class Block(BaseModel):
    """Base class of blocks (see the module docstring).

    Class attributes a subclass may set: ``_block_type_name`` (default: the class name),
    ``_block_type_slug`` (default: the name, slugified), ``_description`` (default: the
    docstring's first paragraph), ``_logo_url``, ``_documentation_url``,
    ``_code_example``, ``_block_schema_capabilities`` and ``_block_schema_version``.
    """

    model_config = ConfigDict(extra="ignore", arbitrary_types_allowed=True)

    _block_type_name: ClassVar[str | None] = None
    _block_type_slug: ClassVar[str | None] = None
    _description: ClassVar[str | None] = None
    _logo_url: ClassVar[str | None] = None
    _documentation_url: ClassVar[str | None] = None
    _code_example: ClassVar[str | None] = None
    _block_schema_capabilities: ClassVar[list[str]] = []
    _block_schema_version: ClassVar[str | None] = None

    _block_document_id: uuid.UUID | None = PrivateAttr(default=None)
    _block_document_name: str | None = PrivateAttr(default=None)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        # The newest definition of a slug wins, as a module reloaded in a notebook expects.
        _REGISTRY[cls.get_block_type_slug()] = cls

    # --- type and schema ---------------------------------------------------------------

    @classmethod
    def get_block_type_name(cls) -> str:
        """The block type's display name."""
        return cls._block_type_name or cls.__name__

    @classmethod
    def get_block_type_slug(cls) -> str:
        """The block type's slug: how documents are addressed (``slug/name``)."""
        return cls._block_type_slug or slugify(cls.get_block_type_name())

    @classmethod
    def get_description(cls) -> str | None:
        """The block type's description: ``_description``, else the docstring's start."""
        if cls._description:
            return cls._description
        doc = cls.__doc__ if "__doc__" in vars(cls) else None
        if not doc:
            return None
        return " ".join(doc.strip().split("\n\n")[0].split())

    @classmethod
    def get_code_example(cls) -> str:
        """How to load a document of this type, for the UI."""
        if cls._code_example:
            return cls._code_example
        # Built-ins are imported from their public home.
        module = (
            "flowyard.blocks" if cls.__module__.startswith(__package__ or "-") else cls.__module__
        )
        return (
            f"```python\nfrom {module} import {cls.__name__}\n\n"
            f'block = {cls.__name__}.load("BLOCK_NAME")\n```'
        )

    @classmethod
    def get_block_schema_version(cls) -> str:
        return cls._block_schema_version or "non-versioned"

    @classmethod
    def secret_fields(cls) -> list[str]:
        """Dotted paths of the secret values (``password``, ``headers.*``)."""
        paths: list[str] = []
        for name, field in cls.model_fields.items():
            for path in secret_paths(field.alias or name, field.annotation):
                if path not in paths:
                    paths.append(path)
        return paths

    @classmethod
    def block_schema_fields(cls) -> dict[str, Any]:
        """The JSON schema of the fields, as the block schema's ``fields``."""
        schema = cls.model_json_schema(ref_template="#/definitions/{model}")
        definitions = schema.pop("$defs", None)
        schema["title"] = cls.__name__
        description = cls.get_description()
        schema.pop("description", None)
        if description:
            schema["description"] = description
        schema["block_type_slug"] = cls.get_block_type_slug()
        schema["secret_fields"] = cls.secret_fields()
        schema["block_schema_references"] = {}
        if definitions:
            schema["definitions"] = definitions
        return schema

    @classmethod
    def block_type_create(cls) -> BlockTypeCreate:
        from flowyard.schemas.blocks import BlockTypeCreate

        return BlockTypeCreate(
            name=cls.get_block_type_name(),
            slug=cls.get_block_type_slug(),
            logo_url=cls._logo_url,
            documentation_url=cls._documentation_url,
            description=cls.get_description(),
            code_example=cls.get_code_example(),
        )

    @classmethod
    def block_schema_create(cls, block_type_id: uuid.UUID) -> BlockSchemaCreate:
        from flowyard.schemas.blocks import BlockSchemaCreate

        return BlockSchemaCreate(
            fields=cls.block_schema_fields(),
            block_type_id=block_type_id,
            capabilities=list(cls._block_schema_capabilities),
            version=cls.get_block_schema_version(),
        )

    def block_data(self) -> dict[str, Any]:
        """This block's values as a document's ``data``, secrets in clear (for the server
        to encrypt); field aliases are used as keys. A nested block that is saved is a
        reference to its document (``{"$ref": {"block_document_id": ...}}``), as the
        official client stores it: the server then knows who uses it, and refuses to delete
        it from under its users."""
        data: dict[str, Any] = {}
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            nested = value._block_document_id if isinstance(value, Block) else None
            if nested is not None:
                data[field.alias or name] = {"$ref": {"block_document_id": str(nested)}}
            else:
                data[field.alias or name] = reveal(value)
        return data

    # --- save --------------------------------------------------------------------------

    @classmethod
    async def _register(cls, client: FlowyardClient) -> tuple[uuid.UUID, uuid.UUID]:
        """Create the type and schema if the server lacks them; their ids."""
        from flowyard.schemas.blocks import BlockTypeUpdate, schema_checksum

        if cls is Block:
            raise TypeError("Save an instance of a Block subclass, not of Block itself.")
        wanted = cls.block_type_create()
        try:
            block_type = await client.read_block_type_by_slug(wanted.slug)
        except ObjectNotFound:
            try:
                block_type = await client.create_block_type(wanted)
            except ObjectAlreadyExists:  # created meanwhile by another process
                block_type = await client.read_block_type_by_slug(wanted.slug)
        else:
            update = BlockTypeUpdate(**wanted.model_dump(exclude={"name", "slug"}))
            current = BlockTypeUpdate(
                **block_type.model_dump(include=set(BlockTypeUpdate.model_fields))
            )
            if not block_type.is_protected and update != current:
                await client.update_block_type(block_type.id, update)
        fields = cls.block_schema_fields()
        version = cls.get_block_schema_version()
        try:
            schema = await client.read_block_schema_by_checksum(schema_checksum(fields), version)
        except ObjectNotFound:
            schema = await client.create_block_schema(cls.block_schema_create(block_type.id))
        return block_type.id, schema.id

    async def _save(self, client: FlowyardClient, name: str, overwrite: bool) -> uuid.UUID:
        from flowyard.schemas.blocks import BlockDocumentCreate

        block_type_id, schema_id = await self._register(client)
        data = self.block_data()
        try:
            document = await client.create_block_document(
                BlockDocumentCreate(
                    name=name, data=data, block_schema_id=schema_id, block_type_id=block_type_id
                )
            )
        except ObjectAlreadyExists:
            if not overwrite:
                raise ValueError(
                    f"A {self.get_block_type_name()} block named {name!r} already exists; "
                    "pass overwrite=True to replace its values."
                ) from None
            document = await client.read_block_document_by_name(name, self.get_block_type_slug())
            await client.update_block_document(
                document.id, data, merge_existing_data=False, block_schema_id=schema_id
            )
        self._block_document_id = document.id
        self._block_document_name = name
        return document.id

    def save(self, name: str, overwrite: bool = False) -> uuid.UUID:
        """Save this block as document ``name``; returns the document's id.

        Registers the block type and schema on the server if they are missing.

        Raises:
            ValueError: a document of this type is named ``name`` and ``overwrite`` is
                false.
            InvalidRequest: the server refused the name or the data (naming the field).
        """
        return _run(lambda client: self._save(client, name, overwrite))

    async def asave(self, name: str, overwrite: bool = False) -> uuid.UUID:
        """Async :meth:`save`."""
        return await _arun(lambda client: self._save(client, name, overwrite))

    # --- load and delete ---------------------------------------------------------------

    @classmethod
    def _address(cls, name: str) -> tuple[str, str]:
        slug, sep, document_name = name.partition("/")
        if cls is Block:
            if not sep or not slug or not document_name:
                raise ValueError(
                    f"Block.load needs 'block-type-slug/name', got {name!r}; or call load "
                    "on the block's own class with just the name."
                )
            return slug, document_name
        if sep and slug == cls.get_block_type_slug():
            return slug, document_name
        return cls.get_block_type_slug(), name

    @classmethod
    def _from_document(cls, document: BlockDocument, slug: str) -> Self:
        block_cls: type[Block] = cls
        if cls is Block:
            found = _REGISTRY.get(slug)
            if found is None:
                raise ValueError(
                    f"No Block class is defined for block type {slug!r}; import the module "
                    "that defines it before loading."
                )
            block_cls = found
        block = block_cls.model_validate(document.data)
        block._block_document_id = document.id
        block._block_document_name = document.name
        return block  # type: ignore[return-value]

    @classmethod
    async def _load(cls, client: FlowyardClient, name: str) -> Self:
        slug, document_name = cls._address(name)
        try:
            document = await client.read_block_document_by_name(
                document_name, slug, include_secrets=True
            )
        except ObjectNotFound:
            raise ValueError(f"Unable to find block document {slug}/{document_name}.") from None
        return cls._from_document(document, slug)

    @classmethod
    def load(cls, name: str) -> Self:
        """The block saved as ``name`` (``"slug/name"`` when called on ``Block``).

        Raises:
            ValueError: there is no such document, or no class for its type.
        """
        return _run(lambda client: cls._load(client, name))

    @classmethod
    async def aload(cls, name: str) -> Self:
        """Async :meth:`load`."""
        return await _arun(lambda client: cls._load(client, name))

    @classmethod
    async def _delete(cls, client: FlowyardClient, name: str) -> None:
        slug, document_name = cls._address(name)
        document = await client.read_block_document_by_name(document_name, slug)
        await client.delete_block_document(document.id)

    @classmethod
    def delete(cls, name: str) -> None:
        """Delete the document ``name``.

        Raises:
            ObjectNotFound: there is no such document.
            ObjectAlreadyExists: a deployment or another block uses it (the message
                names them).
        """
        _run(lambda client: cls._delete(client, name))

    @classmethod
    async def adelete(cls, name: str) -> None:
        """Async :meth:`delete`."""
        await _arun(lambda client: cls._delete(client, name))


def _run(request: Callable[[FlowyardClient], Coroutine[Any, Any, T]]) -> T:
    """Run ``request(async_client)`` on the client's background loop, from sync code."""
    from flowyard.client._loop import run_in_background
    from flowyard.sdk._client_calls import sync_client

    client = sync_client().async_client
    return run_in_background(request(client))


async def _arun(request: Callable[[FlowyardClient], Coroutine[Any, Any, T]]) -> T:
    from flowyard.sdk._client_calls import call_async

    return await call_async(request)
