"""The worker types a pool can have, with their default base job templates.

``worker_metadata.json`` beside this module is the ``aggregate-worker-metadata`` view as the
official ``prefect==3.9.1`` package documents it (the snapshot its own server falls back on
when the collection registry cannot be reached): one entry per worker type of Prefect and of
its integration packages (prefect-aws, prefect-azure, prefect-docker, prefect-gcp,
prefect-kubernetes), each with the base job template that package's worker reads. It is
data, not code, and Apache-2.0 like Prefect. The ``process`` entry's template is
:data:`~flowyard.server.queries.job_templates.PROCESS_BASE_JOB_TEMPLATE`, the one both
workers read, so it is kept in one place.

``prefect work-pool create -t TYPE`` offers the types listed here and sends the template
listed here; :func:`default_base_job_template` gives a pool created through the API without
a template the same one. Push (``TYPE:push``) and managed (``prefect:managed``) pools are
not listed: their runs are started by the server itself, which Prefect Cloud does and
Flowyard does not.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

from flowyard.server.queries.job_templates import PROCESS_BASE_JOB_TEMPLATE

_DATA = Path(__file__).with_name("worker_metadata.json")


@functools.cache
def _metadata() -> dict[str, dict[str, dict[str, Any]]]:
    data: dict[str, dict[str, dict[str, Any]]] = json.loads(_DATA.read_text(encoding="utf-8"))
    data["prefect"]["process"]["default_base_job_configuration"] = PROCESS_BASE_JOB_TEMPLATE
    return data


def worker_metadata() -> dict[str, dict[str, dict[str, Any]]]:
    """The view, by collection then worker type (a copy: callers may change it)."""
    return copy.deepcopy(_metadata())


def worker_types() -> list[str]:
    """Every worker type listed, sorted."""
    return sorted(w["type"] for workers in _metadata().values() for w in workers.values())


def default_base_job_template(pool_type: str) -> dict[str, Any] | None:
    """The default base job template of a listed worker type (a copy), else None."""
    for workers in _metadata().values():
        for worker in workers.values():
            if worker["type"] == pool_type:
                template: dict[str, Any] = copy.deepcopy(worker["default_base_job_configuration"])
                return template
    return None
