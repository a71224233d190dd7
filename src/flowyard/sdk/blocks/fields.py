"""Field types for blocks: :class:`SecretDict`, and how a block's secret values are found
and revealed when its data is sent to the server."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any, get_args, get_origin

from pydantic import (
    BaseModel,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    Secret,
    SecretBytes,
    SecretStr,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema, to_jsonable_python

MASK = "**********"


class SecretDict:
    """A dict whose values are secret: shown masked, sent to the server only to be
    encrypted, read back with :meth:`get_secret_value`."""

    def __init__(self, value: dict[str, Any]) -> None:
        self._value = dict(value)

    def get_secret_value(self) -> dict[str, Any]:
        """The dict itself."""
        return dict(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretDict) and other._value == self._value

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._value)))

    def __repr__(self) -> str:
        return f"SecretDict({ {key: MASK for key in self._value} })"

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def validate(value: Any) -> SecretDict:
            return value if isinstance(value, SecretDict) else cls(value)

        from_dict = core_schema.no_info_after_validator_function(
            validate, core_schema.dict_schema(keys_schema=core_schema.str_schema())
        )
        return core_schema.json_or_python_schema(
            json_schema=from_dict,
            python_schema=core_schema.union_schema(
                [core_schema.is_instance_schema(cls), from_dict]
            ),
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda value: {key: MASK for key in value._value}
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "object"}


def _type_args(annotation: Any) -> tuple[Any, ...]:
    """The types inside a generic or union annotation (``list[X]``, ``X | None``)."""
    return get_args(annotation) if get_origin(annotation) is not None else ()


def secret_paths(name: str, annotation: Any) -> Iterator[str]:
    """The dotted paths of secret values under a field (``x``, ``headers.*``, ``a.b``)."""
    if get_origin(annotation) is Secret:  # pydantic's Secret[T]: the whole value
        yield name
        return
    for arg in _type_args(annotation):
        yield from secret_paths(name, arg)
    if annotation in (SecretStr, SecretBytes):
        yield name
    elif annotation is SecretDict:
        yield f"{name}.*"
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for field_name, field in annotation.model_fields.items():
            yield from secret_paths(f"{name}.{field_name}", field.annotation)


def reveal(value: Any) -> Any:
    """A model dump (python mode) as JSON data with every secret value in clear."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, SecretBytes):
        return value.get_secret_value().decode()
    if isinstance(value, SecretDict | Secret):
        return reveal(value.get_secret_value())
    if isinstance(value, BaseModel):
        return {key: reveal(getattr(value, key)) for key in type(value).model_fields}
    if isinstance(value, dict):
        return {str(key): reveal(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [reveal(item) for item in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return to_jsonable_python(value)
