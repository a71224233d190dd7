"""Reading a form's fields into an API action model, and its errors back to the fields.

A form that fails is shown again with what was typed and each problem beside its field,
answered with the status the API gives the same body (422 for a value it refuses, 409 for
a name taken) and nothing stored: the page calls the operation only with a valid model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from flowyard.server.errors import DomainError
from flowyard.ui.routing import read_form

M = TypeVar("M", bound=BaseModel)


@dataclass
class Form:
    """What was submitted (kept to show it again) and the problems found, by field."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    # 422 for a value refused, as the API answers; an operation's refusal brings its own.
    status_code: int = 422

    @property
    def ok(self) -> bool:
        return not self.errors

    def text(self, name: str) -> str:
        return self.values.get(name, "").strip()

    def optional_int(self, name: str) -> int | None:
        """An integer field left empty means "none" (an unlimited pool, for one)."""
        raw = self.text(name)
        if raw == "":
            return None
        try:
            return int(raw)
        except ValueError:
            self.errors[name] = "a whole number, or empty"
            return None

    def number(self, name: str, default: float = 0.0) -> float:
        raw = self.text(name)
        if raw == "":
            return default
        try:
            return float(raw)
        except ValueError:
            self.errors[name] = "a number"
            return default

    def json_value(self, name: str) -> Any:
        """The field as JSON (a string value is typed with its quotes: ``"hello"``)."""
        try:
            return json.loads(self.values.get(name, ""))
        except ValueError as exc:
            self.errors[name] = f"not valid JSON: {exc}"
            return None

    def tags(self, name: str) -> list[str]:
        """Comma-separated, blanks dropped, order kept, no repeats."""
        parts = (part.strip() for part in self.values.get(name, "").split(","))
        return list(dict.fromkeys(part for part in parts if part))

    def model(self, model: type[M], data: dict[str, Any], fields: dict[str, str]) -> M | None:
        """``model`` validated from ``data``; its errors land on the form's fields
        (``fields`` maps a model field to the form field showing it). None on error."""
        if not self.ok:
            return None
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors():
                loc = err.get("loc", ())
                where = fields.get(str(loc[0]), str(loc[0])) if loc else "_form"
                message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
                self.errors.setdefault(where, message)
            return None

    def refuse(self, exc: DomainError, where: str) -> None:
        """An operation's refusal (a name taken: 409) shown at the field it is about."""
        self.errors[where] = exc.message
        self.status_code = exc.status_code


async def submitted(request: Request) -> Form:
    """The posted form (its CSRF token already checked by ``PageRoute``)."""
    fields = await read_form(request)
    values: dict[str, str] = {}
    for key, value in fields:
        if key != "csrf_token":
            values.setdefault(key, value)  # the first of a repeated name, as a browser sends
    return Form(values)


@dataclass(frozen=True, slots=True)
class Confirmation:
    """The question a destructive action asks first (``templates/confirm.html``): its
    "Confirm" button posts ``fields`` again to ``action`` with ``confirmed=yes``."""

    title: str
    warning: str
    label: str
    action: str
    back: str
    fields: dict[str, str] = field(default_factory=dict)


def is_confirmed(form: Form) -> bool:
    return form.values.get("confirmed") == "yes"
