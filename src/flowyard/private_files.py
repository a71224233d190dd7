"""Files only their owner may read: FLOWYARD_HOME and what Flowyard keeps in it.

The home holds the database (every run's parameters and results, variable values, encrypted
block documents), the key that decrypts those documents, profiles (API keys) and local
result files. Whoever creates one of them -- the server, the CLI, the SDK running embedded --
makes folders 0700 and files 0600, whatever the umask.

A home that already exists with group or other access (made by an older version, or by
``mkdir``) is tightened to 0700 with a warning, when it is ours to change: owned by this
user and not a shared folder (sticky bit, as ``/tmp``). Otherwise it is left as it is, with
a warning, since changing a folder someone pointed us at could break its other users.

Imported by settings, server and SDK alike: the standard library only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

logger = logging.getLogger("flowyard.private_files")

FOLDER_MODE = 0o700
FILE_MODE = 0o600
_OPEN_TO_OTHERS = stat.S_IRWXG | stat.S_IRWXO
# SQLite's companions of a database file: created by SQLite with the database's own mode.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_folder(path: Path) -> Path:
    """Create ``path`` and its missing parents as 0700. A folder that exists is left alone
    (it may be one the user chose for other uses too): only the home is tightened."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    for created in missing:
        # mkdir's mode is filtered by the umask (and parents get the default mode).
        with contextlib.suppress(OSError):
            os.chmod(created, FOLDER_MODE)
    return path


def private_home(path: Path) -> Path:
    """FLOWYARD_HOME: created 0700, or tightened to 0700 if it is ours and open to others."""
    private_folder(path)
    _tighten_folder(path)
    return path


def _tighten_folder(path: Path) -> None:
    try:
        info = path.stat()
    except OSError:
        return
    if not info.st_mode & _OPEN_TO_OTHERS:
        return
    ours = hasattr(os, "getuid") and info.st_uid == os.getuid()
    if ours and not info.st_mode & stat.S_ISVTX:
        try:
            os.chmod(path, FOLDER_MODE)
        except OSError:
            pass
        else:
            logger.warning(
                "%s was readable by other users (mode %o): changed to 0700.",
                path, stat.S_IMODE(info.st_mode),
            )  # fmt: skip
            return
    logger.warning(
        "%s is readable by other users (mode %o) and was left as it is: "
        "point FLOWYARD_HOME at a folder only you can read.",
        path, stat.S_IMODE(info.st_mode),
    )  # fmt: skip


def private_file(path: Path) -> Path:
    """Make sure ``path`` exists as a 0600 file (created empty if missing, tightened if
    open to others): SQLite then creates its -wal and -shm files with the same mode."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    tighten_file(path)
    return path


def tighten_file(path: Path) -> None:
    """0600 for an existing file of ours that others may read; nothing if it is missing."""
    try:
        info = path.stat()
    except OSError:
        return
    if info.st_mode & _OPEN_TO_OTHERS and info.st_uid == getattr(os, "getuid", lambda: -1)():
        with contextlib.suppress(OSError):
            os.chmod(path, FILE_MODE)


def private_database(path: Path) -> None:
    """A SQLite database file and its companions, private (its folder too, if missing)."""
    if not path.parent.exists():
        private_folder(path.parent)
    private_file(path)
    for suffix in SQLITE_COMPANIONS:
        tighten_file(path.with_name(path.name + suffix))


def open_private(path: Path) -> int:
    """A new file descriptor on ``path`` for writing, created 0600 (never truncating one
    that exists: callers write temporary files under unique names)."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
