"""Limits on list endpoints: the server's default limit is also the maximum."""

from __future__ import annotations

from fastapi import HTTPException, Request


def clamp_limit(request: Request, limit: int | None) -> int:
    maximum: int = request.app.state.settings.api_default_limit
    if limit is None:
        return maximum
    if limit > maximum:
        raise HTTPException(422, f"limit: must be at most {maximum}, got {limit}.")
    return limit
