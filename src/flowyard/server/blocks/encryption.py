"""Block document data encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256).

The key never lives in the database: a backup or a leaked dump of the database alone does
not reveal a secret. It comes from ``FLOWYARD_SERVER_ENCRYPTION_KEY`` when set (several
server replicas on one PostgreSQL must share it), else from ``$FLOWYARD_HOME/encryption.key``,
which the first server start (or the first embedded client) creates with mode 0600.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from pathlib import Path
from typing import Any

import orjson

from flowyard.exceptions import ConfigurationError
from flowyard.private_files import open_private, private_folder
from flowyard.server.errors import Misconfigured
from flowyard.settings import Settings

KEY_FILE_NAME = "encryption.key"

_lock = threading.Lock()
_ciphers: dict[tuple[str, str | None], BlockCipher] = {}


class UndecryptableData(Misconfigured):
    """Stored data that this server's key cannot decrypt (the key was changed or lost):
    answered as a 500 naming the key, since only the operator can put it right."""


class BlockCipher:
    """Encrypts a document's data (a JSON object) into one token, and back."""

    def __init__(self, key: bytes) -> None:
        # Imported here: cryptography costs the server's startup ~35 ms otherwise.
        from cryptography.fernet import Fernet

        try:
            self._fernet = Fernet(key)
        except ValueError as exc:
            raise ConfigurationError(
                "FLOWYARD_SERVER_ENCRYPTION_KEY is not a valid Fernet key "
                "(32 url-safe base64-encoded bytes)."
            ) from exc

    def encrypt(self, data: dict[str, Any]) -> str:
        return self._fernet.encrypt(orjson.dumps(data)).decode()

    def decrypt(self, token: str) -> dict[str, Any]:
        from cryptography.fernet import InvalidToken

        try:
            data = orjson.loads(self._fernet.decrypt(token.encode()))
        except (InvalidToken, orjson.JSONDecodeError) as exc:
            raise UndecryptableData(
                "A block document cannot be decrypted with this server's encryption key; "
                "was FLOWYARD_SERVER_ENCRYPTION_KEY or the key file changed?"
            ) from exc
        if not isinstance(data, dict):
            raise UndecryptableData("A block document's stored data is not a JSON object.")
        return data


def key_path(settings: Settings) -> Path:
    return settings.home / KEY_FILE_NAME


def cipher_for(settings: Settings) -> BlockCipher:
    """The cipher of these settings' key, creating the key file on first use."""
    key = settings.server_encryption_key
    cache_key = (str(settings.home), key.get_secret_value() if key is not None else None)
    cipher = _ciphers.get(cache_key)
    if cipher is None:
        with _lock:
            cipher = _ciphers.get(cache_key)
            if cipher is None:
                cipher = _ciphers[cache_key] = BlockCipher(_load_key(settings))
    return cipher


def _load_key(settings: Settings) -> bytes:
    if settings.server_encryption_key:
        return settings.server_encryption_key.get_secret_value().encode()
    path = key_path(settings)
    with contextlib.suppress(FileNotFoundError):
        return _read_key(path)
    from cryptography.fernet import Fernet

    private_folder(path.parent)
    # Written whole to a private temporary file, then linked into place: a concurrent
    # starter either wins the link or reads the complete key the winner wrote.
    temporary = path.with_name(f".{KEY_FILE_NAME}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    fd = open_private(temporary)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(Fernet.generate_key())
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    key = path.read_bytes().strip()
    if not key:
        raise ConfigurationError(f"The block encryption key file {path} is empty.")
    return key
