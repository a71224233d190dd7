"""Blocks: typed configuration and credentials saved on the server by name.

::

    from flowyard.blocks import Secret

    Secret(value="s3cr3t").save("api-key")
    Secret.load("api-key").get()

See :class:`flowyard.sdk.blocks.core.Block` for defining block types of your own.
"""

from flowyard.sdk.blocks import (
    JSON,
    Block,
    DateTime,
    EmailServerCredentials,
    LocalFileSystem,
    Secret,
    SecretDict,
    String,
    Webhook,
)

__all__ = [
    "JSON",
    "Block",
    "DateTime",
    "EmailServerCredentials",
    "LocalFileSystem",
    "Secret",
    "SecretDict",
    "String",
    "Webhook",
]
