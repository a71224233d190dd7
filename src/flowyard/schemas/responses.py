"""Response envelopes that are not a plain object or list."""

from __future__ import annotations

from typing import Any

from flowyard.schemas.base import FlowyardModel


class PaginatedResponse(FlowyardModel):
    results: list[Any]
    count: int
    limit: int
    pages: int
    page: int


def paginated(results: list[Any], count: int, limit: int, page: int) -> dict[str, Any]:
    pages = (count + limit - 1) // limit if limit else 0
    return {"results": results, "count": count, "limit": limit, "pages": pages, "page": page}
