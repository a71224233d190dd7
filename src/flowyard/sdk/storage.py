"""Result storage: where persisted results and cache records are written.

:class:`LocalFileSystem` (the default) keeps them as files under
``$FLOWYARD_HOME/storage``. Other stores plug in by subclassing :class:`ResultStorage`
and implementing ``read_path``, ``write_path`` and ``exists``.

Every path a storage touches stays inside its base folder: a key such as ``../x``, or an
absolute path elsewhere (say, one named by an API response), is refused. That is what
lets :func:`flowyard.sdk.results.load_result` follow a ``storage_key`` from the API
without reading -- and unpickling -- a file the user never wrote there.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from flowyard.private_files import open_private, private_folder


class ResultStorage:
    """Where result records live; keys are paths relative to the store (or inside it)."""

    def read_path(self, path: str) -> bytes:
        """The bytes stored at ``path``.

        Raises:
            FileNotFoundError: nothing is stored there.
        """
        raise NotImplementedError

    def write_path(self, path: str, content: bytes) -> str:
        """Store ``content`` at ``path``, replacing what was there; returns the full key."""
        raise NotImplementedError

    def exists(self, path: str) -> bool:
        """Whether something is stored at ``path``."""
        raise NotImplementedError

    def key_for(self, path: str) -> str:
        """The full key recorded in result metadata for ``path`` (default: ``path``)."""
        return path


class LocalFileSystem(ResultStorage):
    """Results as files in a local folder.

    Writes are atomic: the content goes to a temporary file in the same folder, is
    flushed to disk, and is renamed over the target, so a crash (or a concurrent writer
    of the same cache key) never leaves a half-written record for a reader to find.

    Args:
        basepath: the folder; default ``$FLOWYARD_HOME/storage``, looked up when used
            (so the same object works in a worker process with its own home).
    """

    def __init__(self, basepath: str | os.PathLike[str] | None = None) -> None:
        self._basepath = None if basepath is None else Path(basepath).expanduser()

    @property
    def basepath(self) -> Path:
        """The folder results go in (absolute)."""
        if self._basepath is not None:
            return self._basepath.resolve()
        from flowyard.settings import flowyard_home

        return (flowyard_home() / "storage").resolve()

    def resolve(self, path: str) -> Path:
        """The file for ``path`` (relative to the base folder, or absolute inside it).

        Raises:
            ValueError: the path points outside the base folder.
        """
        base = self.basepath
        target = (base / path).resolve()
        if target == base or not target.is_relative_to(base):
            raise ValueError(f"Result path {path!r} is outside the result storage at {base}.")
        return target

    def key_for(self, path: str) -> str:
        """The absolute file path: another process with the same storage can open it."""
        return str(self.resolve(path))

    def read_path(self, path: str) -> bytes:
        """The bytes of the file at ``path``.

        Raises:
            FileNotFoundError: no such file.
            ValueError: the path points outside the base folder.
        """
        return self.resolve(path).read_bytes()

    def write_path(self, path: str, content: bytes) -> str:
        """Write ``content`` atomically (temporary file, fsync, rename); returns the path."""
        target = self.resolve(path)
        private_folder(target.parent)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            # 0600: a result is whatever the task returned, often data only its owner may see.
            with os.fdopen(open_private(temporary), "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return str(target)

    def exists(self, path: str) -> bool:
        """Whether the file exists (False for paths outside the base folder)."""
        try:
            return self.resolve(path).is_file()
        except ValueError:
            return False

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LocalFileSystem) and other._basepath == self._basepath

    def __hash__(self) -> int:
        return hash(self._basepath)

    def __repr__(self) -> str:
        where = "" if self._basepath is None else repr(str(self._basepath))
        return f"LocalFileSystem({where})"


def resolve_storage(value: ResultStorage | str | os.PathLike[str] | None) -> ResultStorage:
    """A storage from an option value: an instance, a folder path, or None (the default)."""
    if value is None:
        return LocalFileSystem()
    if isinstance(value, ResultStorage):
        return value
    return LocalFileSystem(value)
