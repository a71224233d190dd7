"""Saved searches in the Prefect 3 wire shapes: a named set of filters the UI keeps for a
workspace (``PUT /saved_searches/`` creates one, or replaces the filters of the one of that
name)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from flowyard.schemas.base import ActionModel, FlowyardModel, ObjectModel


class SavedSearchFilter(FlowyardModel):
    """One filter of a saved search: the UI's own vocabulary, stored as given."""

    object: str = Field(description="The object over which to filter.")
    property: str = Field(description="The property of the object on which to filter.")
    type: str = Field(description="The type of the property.")
    operation: str = Field(description="The operator to apply to the object, e.g. `equals`.")
    value: Any = Field(description="A JSON-compatible value for the filter.")


class SavedSearchCreate(ActionModel):
    name: str = Field(min_length=1, max_length=255, description="The name of the saved search.")
    filters: list[SavedSearchFilter] = Field(
        default_factory=list, description="The filter set for the saved search."
    )


class SavedSearch(ObjectModel):
    name: str
    filters: list[SavedSearchFilter] = Field(default_factory=list)
