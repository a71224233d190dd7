"""The async client, assembled from one mixin per resource, and :func:`get_client`."""

from __future__ import annotations

from flowyard.client._artifacts import ArtifactsAPI
from flowyard.client._automations import AutomationsAPI
from flowyard.client._blocks import BlocksAPI
from flowyard.client._concurrency import ConcurrencyAPI
from flowyard.client._deployments import DeploymentsAPI
from flowyard.client._flow_run_control import FlowRunControlAPI
from flowyard.client._flow_runs import FlowRunsAPI
from flowyard.client._flows import FlowsAPI
from flowyard.client._http import parse_json
from flowyard.client._logs import LogsAPI
from flowyard.client._task_runs import TaskRunsAPI
from flowyard.client._variables import VariablesAPI
from flowyard.client._work_pools import WorkPoolsAPI
from flowyard.exceptions import ClientError
from flowyard.settings import Settings, get_settings


class FlowyardClient(
    FlowsAPI,
    FlowRunsAPI,
    TaskRunsAPI,
    LogsAPI,
    ConcurrencyAPI,
    VariablesAPI,
    ArtifactsAPI,
    FlowRunControlAPI,
    BlocksAPI,
    WorkPoolsAPI,
    DeploymentsAPI,
    AutomationsAPI,
):
    """Async client of the Flowyard REST API (the Prefect 3 wire protocol).

    Use it as an async context manager so its connections are closed::

        async with get_client() as client:
            flow = await client.create_flow("etl")
            run = await client.create_flow_run(flow.id)

    Every method raises from :mod:`flowyard.exceptions`: ``ServerUnavailable`` when the
    API cannot be reached, ``ObjectNotFound`` on 404, ``ObjectAlreadyExists`` on 409,
    ``InvalidRequest`` on other 4xx answers (with the server's message), ``ClientError``
    otherwise.
    """

    @property
    def embedded(self) -> bool:
        """Whether this client talks to a server running inside this process."""
        from flowyard.client._embedded import EmbeddedTransport

        return isinstance(self._transport, EmbeddedTransport)

    async def api_healthcheck(self) -> None:
        """Check that the API answers ``GET /health``.

        Raises:
            ServerUnavailable: the API cannot be reached.
            ClientError: it answered, but not healthy.
        """
        response = await self._request("GET", "/health")
        if parse_json(response) is not True:
            raise ClientError(f"The Flowyard API at {self.api_url} is not healthy.")

    async def api_version(self) -> str:
        """The version of the REST API the server speaks (e.g. ``"0.8.4"``)."""
        return str(parse_json(await self._request("GET", "/version")))

    async def server_version(self) -> str:
        """The Prefect release the server is compatible with (``GET /admin/version``)."""
        return str(parse_json(await self._request("GET", "/admin/version")))


def get_client(settings: Settings | None = None) -> FlowyardClient:
    """A client for the API that the settings point at.

    With ``FLOWYARD_API_URL`` set, the client talks HTTP to that server, sending
    ``FLOWYARD_API_KEY`` (if set) as a bearer token. Without it, the client runs the server
    app inside this process on the database under ``FLOWYARD_HOME`` (embedded mode), so
    nothing needs to be started and the runs show up in ``flowyard server start`` later.

    Args:
        settings: the settings to use; the current ones (environment over the active
            profile) when ``None``.
    """
    settings = settings or get_settings()
    if settings.api_url:
        return FlowyardClient(
            settings.api_url,
            api_key=settings.api_key.get_secret_value() if settings.api_key else None,
            timeout=settings.api_request_timeout,
        )
    from flowyard.client._embedded import EMBEDDED_API_URL, EmbeddedTransport

    return FlowyardClient(
        EMBEDDED_API_URL,
        transport=EmbeddedTransport(settings),
        timeout=settings.api_request_timeout,
    )
