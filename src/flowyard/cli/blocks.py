"""``flowyard block ls|inspect|delete`` and ``flowyard block type ls``.

Secret values are never printed: the CLI never asks the server for them, so what it
shows is the server's ``********``.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated

import typer

from flowyard.cli.output import (
    ID,
    Column,
    JsonOption,
    OutputOption,
    fail,
    print_json,
    print_models,
    print_table,
    short_id,
    wants_json,
    when,
)

if TYPE_CHECKING:
    from flowyard.client import SyncFlowyardClient
    from flowyard.schemas.blocks import BlockDocument

block_app = typer.Typer(help="List, inspect and delete blocks.", no_args_is_help=True)
block_type_app = typer.Typer(help="Block types.", no_args_is_help=True)
block_app.add_typer(block_type_app, name="type")

BlockArg = Annotated[
    str, typer.Argument(metavar="SLUG/NAME|ID", help="The block: 'type-slug/name' or its id.")
]


def _find(client: SyncFlowyardClient, block: str) -> BlockDocument:
    from flowyard.exceptions import ObjectNotFound

    try:
        block_id = uuid.UUID(block)
    except ValueError:
        slug, sep, name = block.partition("/")
        if not sep or not slug or not name:
            fail(f"{block!r} is neither 'type-slug/name' nor a block id.")
        try:
            return client.read_block_document_by_name(name, slug)
        except ObjectNotFound:
            fail(f"Block {slug}/{name} not found.")
    try:
        return client.read_block_document(block_id)
    except ObjectNotFound:
        fail(f"Block {block_id} not found.")


@block_app.command("ls")
def ls(
    block_type: Annotated[
        str | None,
        typer.Option("--type", metavar="SLUG", help="Only blocks of this type (its slug)."),
    ] = None,
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """List saved blocks by type and name."""
    from flowyard.client import get_sync_client
    from flowyard.schemas.blocks import BlockDocumentSort, BlockTypeFilter, SlugFilter

    type_filter = BlockTypeFilter(slug=SlugFilter(any_=[block_type])) if block_type else None
    from flowyard.exceptions import ObjectNotFound

    with get_sync_client() as client:
        if block_type:
            try:
                client.read_block_type_by_slug(block_type)
            except ObjectNotFound:
                fail(f"Block type {block_type!r} not found; see 'flowyard block type ls'.")
        documents = client.read_block_documents(
            block_type_filter=type_filter, sort=BlockDocumentSort.BLOCK_TYPE_AND_NAME_ASC
        )
    if wants_json(as_json, output):
        print_models(documents)
        return
    print_table(
        "Blocks",
        [ID, Column("Type", flex=True), Column("Block", flex=True), Column("Updated")],
        (
            [
                short_id(document.id),
                document.block_type_name or "",
                f"{document.block_type.slug}/{document.name}" if document.block_type else "",
                when(document.updated),
            ]
            for document in documents
        ),
    )


@block_app.command()
def inspect(block: BlockArg) -> None:
    """Show one block as JSON, secret values masked."""
    import json

    from flowyard.client import get_sync_client

    with get_sync_client() as client:
        document = _find(client, block)
    shown = document.model_dump(mode="json", exclude={"block_schema"})
    print_json(json.dumps(shown))


@block_app.command()
def delete(block: BlockArg) -> None:
    """Delete a block (refused while a deployment or another block uses it)."""
    from flowyard.cli.output import success
    from flowyard.client import get_sync_client

    with get_sync_client() as client:
        document = _find(client, block)
        client.delete_block_document(document.id)
    slug = document.block_type.slug if document.block_type else "block"
    success(f"Deleted block {slug}/{document.name}.")


@block_type_app.command("ls")
def type_ls(as_json: JsonOption = False, output: OutputOption = None) -> None:
    """List block types."""
    from flowyard.client import get_sync_client

    with get_sync_client() as client:
        types = client.read_block_types()
    if wants_json(as_json, output):
        print_models(types)
        return
    print_table(
        "Block types",
        [
            Column("Slug", flex=True),
            Column("Name", flex=True),
            Column("Built in"),
            Column("Description", flex=True, secondary=True),
        ],
        (
            [
                block_type.slug,
                block_type.name,
                "yes" if block_type.is_protected else "",
                # Its first line: the rest is for `block type inspect`-like detail.
                (block_type.description or "").strip().split("\n", 1)[0],
            ]
            for block_type in types
        ),
    )
