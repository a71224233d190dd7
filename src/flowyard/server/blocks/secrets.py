"""Secret fields of block data: masking them on reads, keeping them on masked writes.

A schema's ``secret_fields`` lists dotted paths into the data: ``password``, ``a.b`` for a
value nested in an object, and ``headers.*`` for every value of an object.
"""

from __future__ import annotations

import copy
from typing import Any

from flowyard.schemas.blocks import OBFUSCATED


def secret_fields_of(fields: dict[str, Any]) -> list[str]:
    value = fields.get("secret_fields")
    return [str(item) for item in value] if isinstance(value, list) else []


# A value's container, its key there (an index in a list), and its concrete path (keys and
# list indexes) from the top of the data: two secrets that share a key never share a path.
Place = tuple[Any, Any, tuple[Any, ...]]


def _places(data: Any, parts: list[str], at: tuple[Any, ...] = ()) -> list[Place]:
    """(container, key, where) for each value a path names in ``data``.

    ``*`` names every value of an object and every item of a list. A named field with a
    list on the way is looked up in each item (a secret field of a model in a list field).
    """
    if not parts:
        return []
    head, rest = parts[0], parts[1:]
    if isinstance(data, list):
        if head == "*":
            keys: list[Any] = list(range(len(data)))
        else:
            return [
                place for i, item in enumerate(data) for place in _places(item, parts, (*at, i))
            ]
    elif isinstance(data, dict):
        keys = list(data) if head == "*" else [head] if head in data else []
    else:
        return []
    if not rest:
        return [(data, key, (*at, key)) for key in keys]
    found: list[Place] = []
    for key in keys:
        found.extend(_places(data[key], rest, (*at, key)))
    return found


def _targets(data: Any, parts: list[str]) -> list[tuple[Any, Any]]:
    """The (container, key) pairs a path names in ``data``."""
    return [(container, key) for container, key, _ in _places(data, parts)]


def obfuscate(data: dict[str, Any], secret_fields: list[str]) -> dict[str, Any]:
    """A copy of ``data`` with every secret value (that is set) shown as ``********``."""
    if not secret_fields:
        return data
    masked = copy.deepcopy(data)
    for path in secret_fields:
        for container, key in _targets(masked, path.split(".")):
            if container[key] is not None:
                container[key] = OBFUSCATED
    return masked


def keep_masked_secrets(
    new: dict[str, Any], old: dict[str, Any], secret_fields: list[str]
) -> dict[str, Any]:
    """``new`` where each secret value sent back as ``********`` (a client echoing what it
    read) is replaced by the stored value, so that a read-modify-write keeps the secret."""
    if not secret_fields:
        return new
    merged = copy.deepcopy(new)
    for path in secret_fields:
        parts = path.split(".")
        # By concrete place, not by key: with a wildcard before the last part (or a list on
        # the way) many secrets share a key, and each must get its own value back.
        stored = {where: container[key] for container, key, where in _places(old, parts)}
        for container, key, where in _places(merged, parts):
            if container[key] == OBFUSCATED and where in stored:
                container[key] = stored[where]
    return merged


def _covers(secret: list[str], path: list[str]) -> bool:
    """Whether masking ``secret`` hides the value at ``path`` (itself or an ancestor)."""
    return len(secret) <= len(path) and all(
        mine == "*" or mine == theirs for mine, theirs in zip(secret, path, strict=False)
    )


def dropped_secret_fields(old: list[str], new: list[str]) -> list[str]:
    """The secret paths of ``old`` that ``new`` no longer masks. A schema change that drops
    one would show its stored value in clear on a plain read, so it is refused."""
    kept = [path.split(".") for path in new]
    return [path for path in old if not any(_covers(mine, path.split(".")) for mine in kept)]


def public_strings(data: dict[str, Any], secret_fields: list[str]) -> dict[str, str]:
    """The top-level string values of ``data`` that no secret path touches: what an event
    may tell of a block document (the official server's rule). A value under a secret path,
    a masked one, and anything that is not a string are left out: a nested object may hold
    the secrets of a nested document, whose schema this one does not describe."""
    secret_tops = {path.split(".", 1)[0] for path in secret_fields}
    if "*" in secret_tops:
        return {}
    masked = obfuscate(data, secret_fields)
    return {
        key: value
        for key, value in masked.items()
        if isinstance(value, str) and key not in secret_tops and value != OBFUSCATED
    }
