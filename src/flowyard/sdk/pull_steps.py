"""The pull steps of a deployment: how a run's process gets the flow's code before it
imports the entrypoint.

Steps are ``{"<function path>": {<arguments>}}`` objects, run in order. Each step's result
(a dict) may set ``directory``, and the process then works from there. Known steps, under
Flowyard's and the official client's names:

- ``set_working_directory(directory)``;
- ``git_clone(repository, branch=None)``: a shallow clone into the current directory (the
  clone's folder is named after the repository), run as an argv list with ``--`` before the
  user's values.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flowyard.exceptions import FlowyardError

PREFIXES = (
    "flowyard.deployments.steps.",
    "prefect.deployments.steps.pull.",
    "prefect.deployments.steps.",
)


class PullStepError(FlowyardError):
    """A pull step failed or is not known."""


def set_working_directory(directory: str) -> dict[str, str]:
    """Work from ``directory`` from now on."""
    path = Path(directory).expanduser()
    if not path.is_dir():
        raise PullStepError(f"set_working_directory: {directory!r} is not a directory.")
    os.chdir(path)
    return {"directory": str(path.resolve())}


def _folder_name(repository: str) -> str:
    name = re.split(r"[/:]", repository.rstrip("/"))[-1]
    name = name.removesuffix(".git") or "repository"
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def git_clone(
    repository: str,
    branch: str | None = None,
    include_submodules: bool = False,
    access_token: str | None = None,
    credentials: Any = None,
    directories: list[str] | None = None,
) -> dict[str, str]:
    """Clone ``repository`` (at ``branch``) into the current directory and work from it."""
    if repository.startswith("-") or (branch or "").startswith("-"):
        raise PullStepError("git_clone: the repository and branch must not start with '-'.")
    target = Path.cwd() / _folder_name(repository)
    command = ["git", "clone", "--depth", "1"]
    if branch:
        command += ["--branch", branch]
    if include_submodules:
        command += ["--recurse-submodules"]
    command += ["--", repository, str(target)]
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)  # noqa: S603
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip().splitlines()
        raise PullStepError(f"git_clone of {repository!r} failed: {message[-1] if message else ''}")
    os.chdir(target)
    return {"directory": str(target)}


STEPS: dict[str, Callable[..., dict[str, Any]]] = {
    "set_working_directory": set_working_directory,
    "git_clone": git_clone,
}


def _step(name: str) -> Callable[..., dict[str, Any]]:
    short = name
    for prefix in PREFIXES:
        if name.startswith(prefix):
            short = name[len(prefix) :]
            break
    step = STEPS.get(short)
    if step is None:
        raise PullStepError(f"Unknown pull step {name!r}; known: {', '.join(sorted(STEPS))}.")
    return step


def run_pull_steps(steps: list[dict[str, Any]] | None) -> dict[str, Any]:
    """Run the steps in order; the outputs of the last one that gave any."""
    output: dict[str, Any] = {}
    for item in steps or []:
        if not isinstance(item, dict) or len(item) != 1:
            raise PullStepError(
                f"A pull step must be one {{name: arguments}} object, got {item!r}."
            )
        ((name, arguments),) = item.items()
        arguments = {k: v for k, v in (arguments or {}).items() if k not in ("id", "requires")}
        try:
            output = _step(name)(**arguments) or {}
        except TypeError as exc:
            raise PullStepError(f"Pull step {name!r}: {exc}") from None
    return output
