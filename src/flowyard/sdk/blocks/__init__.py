"""Blocks: typed configuration and credentials saved on the server by name.

The public names are re-exported by :mod:`flowyard.blocks`.
"""

from flowyard.sdk.blocks.core import Block
from flowyard.sdk.blocks.fields import SecretDict
from flowyard.sdk.blocks.system import (
    JSON,
    DateTime,
    EmailServerCredentials,
    LocalFileSystem,
    Secret,
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
