"""The pull steps of a deployment: how a run's process gets the flow's code before it
imports the entrypoint.

Steps are ``{"<function path>": {<arguments>}}`` objects, run in order. Each step's result
(a dict) may set ``directory``, and the process then works from there. Known steps, under
Flowyard's and the official client's names:

- ``set_working_directory(directory)``;
- ``git_clone(repository, branch=None, access_token=None, credentials=None)``: a shallow
  clone into the current directory (the clone's folder is named after the repository), run
  as an argv list with ``--`` before the user's values. Network hosts must be public (see
  ``Settings.allow_private_addresses``); only https, http, ssh and local transports are
  allowed; URL credentials and tokens never appear in an error message.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flowyard.exceptions import FlowyardError
from flowyard.sdk._addresses import PrivateAddressError, redact_userinfo, resolve_public
from flowyard.settings import get_settings

PREFIXES = (
    "flowyard.deployments.steps.",
    "prefect.deployments.steps.pull.",
    "prefect.deployments.steps.",
)


DEFAULT_PORTS = {"https": 443, "http": 80, "ssh": 22, "git": 9418}
# Transports git may use, whatever the user's git config says: no ext:: (it runs a command),
# no git:// (unauthenticated, unencrypted); file only at the top level (``user``: git
# refuses it to submodules, which a repository's author chooses).
PROTOCOLS = [
    *("-c", "protocol.allow=never"),
    *("-c", "protocol.https.allow=always"),
    *("-c", "protocol.http.allow=always"),
    *("-c", "protocol.ssh.allow=always"),
    *("-c", "protocol.file.allow=user"),
]
_SCP_LIKE = re.compile(r"(?:[^@/:]+@)?(?P<host>\[[^\]/]+\]|[^:/\[\]]+):")
_BLOCK_REFERENCE = re.compile(
    r"\{\{\s*(?:prefect|flowyard)\.blocks\.(?P<slug>[A-Za-z0-9_-]+)\.(?P<name>[^\s}]+)\s*\}\}"
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


def _network_host(repository: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a repository reached over the network; None for a local
    path or file:// (no network request)."""
    if "://" in repository:
        parsed = urllib.parse.urlsplit(repository)
        scheme = parsed.scheme.lower()
        if scheme == "file":
            return None
        if not parsed.hostname:
            raise PullStepError(f"git_clone: {redact_userinfo(repository)!r} names no host.")
        try:
            port = parsed.port or DEFAULT_PORTS.get(scheme, 0)
        except ValueError:
            raise PullStepError(
                f"git_clone: {redact_userinfo(repository)!r} has a bad port."
            ) from None
        return scheme, parsed.hostname, port
    scp = _SCP_LIKE.match(repository)
    if scp is not None:  # [user@]host:path, git's ssh shorthand
        return "ssh", scp["host"].strip("[]"), 22
    return None


def _pinned_addresses(repository: str) -> list[str]:
    """The ``git -c`` settings that keep the clone on public addresses: the host checked
    here and, for http(s), git pinned to the address checked (``http.curloptResolve``) with
    redirects off, so neither a second DNS answer nor a redirect reaches a private host."""
    found = _network_host(repository)
    if found is None or get_settings().allow_private_addresses:
        return []
    scheme, host, port = found
    try:
        addresses = resolve_public(host, port)
    except PrivateAddressError as exc:
        raise PullStepError(
            f"git_clone: {exc} Set FLOWYARD_ALLOW_PRIVATE_ADDRESSES=true to clone from it."
        ) from None
    except OSError as exc:
        raise PullStepError(f"git_clone: cannot resolve {host!r}: {exc}") from None
    if scheme not in ("http", "https"):
        # ssh resolves the name itself: the check above is all we can do for it.
        return []
    pinned = ",".join(f"[{a}]" if a.version == 6 else str(a) for a in addresses)
    return [
        "-c",
        f"http.curloptResolve={host}:{port}:{pinned}",
        "-c",
        "http.followRedirects=false",
    ]


def _block_reference(value: str) -> Any:
    """``{{ prefect.blocks.<type-slug>.<name> }}``: the document's data (a Secret's
    value); any other string is taken as it is."""
    match = _BLOCK_REFERENCE.fullmatch(value.strip())
    if match is None:
        return value
    from flowyard.exceptions import ObjectNotFound
    from flowyard.sdk.blocks.core import _run

    slug, name = match["slug"], match["name"]
    try:
        document = _run(
            lambda client: client.read_block_document_by_name(name, slug, include_secrets=True)
        )
    except ObjectNotFound:
        raise PullStepError(f"git_clone: no block document {slug}/{name}.") from None
    data = document.data
    return data.get("value") if slug == "secret" else data


def _credentials(access_token: Any, credentials: Any) -> tuple[str, str] | None:
    """(username, token) from ``access_token`` or ``credentials`` (a value, a block
    reference, or a credentials block's data: ``token``/``access_token``/``password`` and
    an optional ``username``); None when neither is given."""
    value = access_token if access_token is not None else credentials
    if isinstance(value, str):
        value = _block_reference(value)
    if value is None:
        return None
    if isinstance(value, dict):
        token = value.get("token") or value.get("access_token") or value.get("password")
        if isinstance(token, dict):  # a nested Secret block's data
            token = token.get("value")
        if not isinstance(token, str) or not token:
            raise PullStepError("git_clone: the credentials hold no token.")
        username = value.get("username")
        return (str(username) if username else "", token)
    if not isinstance(value, str) or not value:
        raise PullStepError("git_clone: access_token must be a string or a block reference.")
    username, sep, password = value.partition(":")
    return (username, password) if sep else ("", value)


def _auth_environment(repository: str, login: tuple[str, str]) -> dict[str, str]:
    """The token as an ``Authorization`` header for the repository's host only, passed
    through git's ``GIT_CONFIG_*`` variables: not in argv (which any user can list), not
    written into the clone's config, not sent to submodule or other hosts."""
    found = _network_host(repository)
    if found is None or found[0] not in ("http", "https"):
        raise PullStepError("git_clone: an access token needs an http(s) repository URL.")
    scheme, host, port = found
    username, token = login
    if not username:
        # What the hosts expect with a bare token (GitLab: oauth2, Bitbucket: x-token-auth;
        # GitHub and most others take any name).
        lowered = host.lower()
        username = (
            "oauth2"
            if "gitlab" in lowered
            else "x-token-auth"
            if "bitbucket" in lowered
            else "x-access-token"
        )
    basic = base64.b64encode(f"{username}:{token}".encode()).decode()
    netloc = f"[{host}]" if ":" in host else host
    if port != DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"http.{scheme}://{netloc}/.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
    }


def git_clone(
    repository: str,
    branch: str | None = None,
    include_submodules: bool = False,
    access_token: Any = None,
    credentials: Any = None,
    directories: list[str] | None = None,
) -> dict[str, str]:
    """Clone ``repository`` (at ``branch``) into the current directory and work from it.

    ``access_token`` (or ``credentials``) is a token, a ``user:token`` pair, a block
    reference (``{{ prefect.blocks.secret.<name> }}``) or a credentials block's data; it is
    sent to the repository's host only. Network hosts must be public unless
    ``FLOWYARD_ALLOW_PRIVATE_ADDRESSES``; local paths and file:// are always allowed.
    """
    shown = redact_userinfo(repository)
    if repository.startswith("-") or (branch or "").startswith("-"):
        raise PullStepError("git_clone: the repository and branch must not start with '-'.")
    login = _credentials(access_token, credentials)
    secrets = [login[1]] if login else []
    target = Path.cwd() / _folder_name(repository)
    command = ["git", *PROTOCOLS, *_pinned_addresses(repository), "clone", "--depth", "1"]
    if branch:
        command += ["--branch", branch]
    if include_submodules:
        command += ["--recurse-submodules"]
    command += ["--", repository, str(target)]
    # Our own GIT_CONFIG_* entries only; GIT_PROTOCOL_FROM_USER=0 would refuse file://.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GIT_CONFIG_") and k != "GIT_PROTOCOL_FROM_USER"
    }
    env["GIT_TERMINAL_PROMPT"] = "0"
    if login is not None:
        env.update(_auth_environment(repository, login))
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)  # noqa: S603
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        message = redact_userinfo(lines[-1] if lines else "")
        for secret in secrets:
            message = message.replace(secret, "***")
        raise PullStepError(f"git_clone of {shown!r} failed: {message}")
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
            # Not the item itself: its arguments may hold a token.
            shown = sorted(item) if isinstance(item, dict) else type(item).__name__
            raise PullStepError(
                f"A pull step must be one {{name: arguments}} object, got {shown!r}."
            )
        ((name, arguments),) = item.items()
        arguments = {k: v for k, v in (arguments or {}).items() if k not in ("id", "requires")}
        try:
            output = _step(name)(**arguments) or {}
        except TypeError as exc:
            raise PullStepError(f"Pull step {name!r}: {exc}") from None
    return output
