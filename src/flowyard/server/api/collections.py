"""/collections/views/aggregate-worker-metadata: the worker types this server knows and their
default base job templates (``prefect work-pool create --type process`` reads it)."""

from __future__ import annotations

from fastapi import APIRouter

from flowyard.server.api.dependencies import Ctx
from flowyard.server.api.responses import JSONResponse
from flowyard.server.queries.job_templates import PROCESS_BASE_JOB_TEMPLATE

router = APIRouter(prefix="/collections", tags=["Collections"])

PROCESS_WORKER = {
    "default_base_job_configuration": PROCESS_BASE_JOB_TEMPLATE,
    "description": "Execute flow runs as subprocesses on a worker.",
    "display_name": "Process",
    "documentation_url": "",
    "install_command": "pip install flowyard",
    "is_beta": False,
    "logo_url": "",
    "type": "process",
}


@router.get("/views/aggregate-worker-metadata")
async def read_worker_metadata(ctx: Ctx) -> JSONResponse:
    return JSONResponse({"prefect": {"process": PROCESS_WORKER}})
