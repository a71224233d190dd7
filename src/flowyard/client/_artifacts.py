"""Client methods for /artifacts: results that runs publish for people to read."""

from __future__ import annotations

import uuid
from typing import Any

from flowyard.client._http import (
    UNSET,
    BaseClient,
    build,
    compose,
    dump,
    parse,
    parse_json,
    parse_list,
    segment,
)
from flowyard.schemas.actions import ArtifactCreate, ArtifactUpdate
from flowyard.schemas.core import Artifact
from flowyard.schemas.filters import ArtifactFilter, FlowRunFilter, TaskRunFilter
from flowyard.schemas.sorting import ArtifactSort


class ArtifactsAPI(BaseClient):
    """Artifacts: tables, markdown, links and progress published by runs."""

    async def create_artifact(
        self,
        *,
        key: str | None = None,
        type: str | None = None,
        description: str | None = None,
        data: Any = None,
        metadata_: dict[str, Any] | None = None,
        flow_run_id: uuid.UUID | None = None,
        task_run_id: uuid.UUID | None = None,
    ) -> Artifact:
        """Publish an artifact. A keyed artifact becomes the latest of its key.

        Args:
            key: lowercase letters, digits and dashes; artifacts of one key form a history.
            type: how to render it: ``markdown``, ``table``, ``link``, ``progress``...
            description: a markdown description.
            data: the content.
            metadata_: free-form string metadata.
            flow_run_id: the flow run that made it.
            task_run_id: the task run that made it.
        """
        fields = {
            "key": key,
            "type": type,
            "description": description,
            "data": data,
            "metadata_": metadata_,
            "flow_run_id": flow_run_id,
            "task_run_id": task_run_id,
        }
        body = build(ArtifactCreate, **{k: v for k, v in fields.items() if v is not None})
        return parse(Artifact, await self._request("POST", "/artifacts/", json=dump(body)))

    async def read_artifact(self, artifact_id: uuid.UUID) -> Artifact:
        """Read one artifact by id. Raises ``ObjectNotFound``."""
        return parse(Artifact, await self._request("GET", f"/artifacts/{artifact_id}"))

    async def read_latest_artifact(self, key: str) -> Artifact:
        """The newest artifact with ``key``. Raises ``ObjectNotFound``."""
        path = f"/artifacts/{segment(key)}/latest"
        return parse(Artifact, await self._request("GET", path))

    async def read_artifacts(
        self,
        artifact_filter: ArtifactFilter | None = None,
        *,
        flow_run_filter: FlowRunFilter | None = None,
        task_run_filter: TaskRunFilter | None = None,
        sort: ArtifactSort = ArtifactSort.ID_DESC,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Artifact]:
        """Artifacts matching every given filter, in ``sort`` order."""
        body = compose(
            artifacts=artifact_filter,
            flow_runs=flow_run_filter,
            task_runs=task_run_filter,
            sort=str(sort),
            limit=limit,
            offset=offset,
        )
        return parse_list(Artifact, await self._request("POST", "/artifacts/filter", json=body))

    async def count_artifacts(
        self,
        artifact_filter: ArtifactFilter | None = None,
        *,
        flow_run_filter: FlowRunFilter | None = None,
        task_run_filter: TaskRunFilter | None = None,
    ) -> int:
        """How many artifacts match every given filter."""
        body = compose(
            artifacts=artifact_filter, flow_runs=flow_run_filter, task_runs=task_run_filter
        )
        return int(parse_json(await self._request("POST", "/artifacts/count", json=body)))

    async def update_artifact(
        self,
        artifact_id: uuid.UUID,
        *,
        data: Any = UNSET,
        description: str | None = None,
        metadata_: dict[str, Any] | None = None,
    ) -> None:
        """Change an artifact's data, description or metadata; what is not given stays."""
        fields: dict[str, Any] = {}
        if data is not UNSET:
            fields["data"] = data
        if description is not None:
            fields["description"] = description
        if metadata_ is not None:
            fields["metadata_"] = metadata_
        body = build(ArtifactUpdate, **fields)
        await self._request("PATCH", f"/artifacts/{artifact_id}", json=dump(body))

    async def delete_artifact(self, artifact_id: uuid.UUID) -> None:
        """Delete an artifact. Raises ``ObjectNotFound``."""
        await self._request("DELETE", f"/artifacts/{artifact_id}")
