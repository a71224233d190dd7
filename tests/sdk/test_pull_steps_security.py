"""git_clone's guards: private hosts refused unless allowed, http(s) pinned to the checked
address, transports restricted, tokens sent to the repository's host only (never in argv
or in a message), and no ``user:token@`` in any error or in a run's Failed message."""

from __future__ import annotations

import base64
import http.server
import ipaddress
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowyard.client import get_sync_client
from flowyard.sdk import _addresses, pull_steps
from flowyard.sdk._addresses import redact_userinfo
from flowyard.sdk.blocks.system import Secret
from flowyard.sdk.pull_steps import PullStepError, git_clone, run_pull_steps

TOKEN = "ghp_s3cr3tT0ken"


@pytest.fixture(autouse=True)
def _scratch_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # clones land here, and the test's cwd comes back after


@pytest.fixture
def allow_private(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWYARD_ALLOW_PRIVATE_ADDRESSES", "true")


def fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, str]) -> None:
    """Resolve the given names to the given addresses (and nothing else)."""

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in answers:
            raise socket.gaierror(f"unknown host {host}")
        family = socket.AF_INET6 if ":" in answers[host] else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (answers[host], port))]

    monkeypatch.setattr(_addresses.socket, "getaddrinfo", getaddrinfo)


class Captured:
    def __init__(self) -> None:
        self.command: list[str] = []
        self.env: dict[str, str] = {}


@pytest.fixture
def captured_git(monkeypatch: pytest.MonkeyPatch) -> Captured:
    """git itself replaced by a recorder that fails (so nothing is cloned)."""
    seen = Captured()

    def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        seen.command, seen.env = command, kwargs["env"]
        return subprocess.CompletedProcess(command, 128, "", "fatal: stopped by the test")

    monkeypatch.setattr(pull_steps.subprocess, "run", run)
    return seen


def test_redact_userinfo() -> None:
    text = "fatal: unable to access 'https://bob:tok@git.example.com/r.git/': 403"
    assert redact_userinfo(text) == "fatal: unable to access 'https://git.example.com/r.git/': 403"
    assert redact_userinfo("ssh://git@host/r and http://x@y/z") == "ssh://host/r and http://y/z"
    assert redact_userinfo("/plain/path and git@host:r.git") == "/plain/path and git@host:r.git"


@pytest.mark.parametrize(
    "repository",
    [
        "https://127.0.0.1/repo.git",
        f"https://user:{TOKEN}@localhost:8443/repo.git",
        "http://10.1.2.3/repo.git",
        "ssh://git@192.168.0.9/repo.git",
        "git@169.254.169.254:repo.git",
        "https://[::1]/repo.git",
        "https://[::ffff:127.0.0.1]/repo.git",
    ],
)
def test_private_hosts_are_refused(repository: str, captured_git: Captured) -> None:
    with pytest.raises(PullStepError, match="non-public address") as raised:
        git_clone(repository)
    assert TOKEN not in str(raised.value)
    assert "FLOWYARD_ALLOW_PRIVATE_ADDRESSES" in str(raised.value)
    assert captured_git.command == []  # git never ran


def test_a_name_that_resolves_privately_is_refused(
    monkeypatch: pytest.MonkeyPatch, captured_git: Captured
) -> None:
    fake_dns(monkeypatch, {"git.corp.example": "10.0.0.7"})
    with pytest.raises(PullStepError, match=r"non-public address \(10\.0\.0\.7\)"):
        git_clone("https://git.corp.example/repo.git")
    assert captured_git.command == []


def test_public_https_is_pinned_to_the_checked_address(
    monkeypatch: pytest.MonkeyPatch, captured_git: Captured
) -> None:
    fake_dns(monkeypatch, {"git.example.com": "93.184.215.14"})
    with pytest.raises(PullStepError, match="stopped by the test"):
        git_clone("https://git.example.com/team/repo.git", branch="main")
    command = captured_git.command
    # git connects to the address checked (no second DNS answer) and follows no redirect.
    assert "http.curloptResolve=git.example.com:443:93.184.215.14" in command
    assert "http.followRedirects=false" in command
    # Only these transports; ext:: (runs a command) and git:// are off.
    assert command[:11] == ["git", *pull_steps.PROTOCOLS]
    assert "protocol.allow=never" in command and "protocol.file.allow=user" in command
    assert command[command.index("--") + 1] == "https://git.example.com/team/repo.git"


def test_allowed_private_hosts_are_not_checked(allow_private: None, captured_git: Captured) -> None:
    with pytest.raises(PullStepError, match="stopped by the test"):
        git_clone("https://127.0.0.1:1/repo.git")
    assert not any(part.startswith("http.curloptResolve") for part in captured_git.command)


def test_the_token_goes_to_the_repository_host_only_and_not_in_argv(
    monkeypatch: pytest.MonkeyPatch, captured_git: Captured
) -> None:
    fake_dns(monkeypatch, {"gitlab.example.com": "93.184.215.14"})
    monkeypatch.setenv("GIT_CONFIG_COUNT", "3")  # the caller's own entries are not mixed in
    with pytest.raises(PullStepError) as raised:
        git_clone("https://gitlab.example.com/team/repo.git", access_token=TOKEN)
    assert TOKEN not in str(raised.value)
    assert not any(TOKEN in part for part in captured_git.command)
    env = captured_git.env
    assert env["GIT_CONFIG_COUNT"] == "1"
    # Scoped to the repository's scheme and host: not sent to submodules or elsewhere.
    assert env["GIT_CONFIG_KEY_0"] == "http.https://gitlab.example.com/.extraHeader"
    expected = base64.b64encode(f"oauth2:{TOKEN}".encode()).decode()
    assert env["GIT_CONFIG_VALUE_0"] == f"Authorization: Basic {expected}"


def test_credentials_from_a_block_reference(
    monkeypatch: pytest.MonkeyPatch, captured_git: Captured
) -> None:
    Secret(value=TOKEN).save("gh-token")
    fake_dns(monkeypatch, {"github.com": "140.82.112.3"})
    with pytest.raises(PullStepError):
        run_pull_steps(
            [
                {
                    "prefect.deployments.steps.git_clone": {
                        "repository": "https://github.com/team/repo.git",
                        "access_token": "{{ prefect.blocks.secret.gh-token }}",
                    }
                }
            ]
        )
    expected = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    assert captured_git.env["GIT_CONFIG_VALUE_0"] == f"Authorization: Basic {expected}"
    # A credentials block's data (username and token) works too.
    with pytest.raises(PullStepError):
        git_clone(
            "https://github.com/team/repo.git",
            credentials={"username": "me", "token": TOKEN},
        )
    expected = base64.b64encode(f"me:{TOKEN}".encode()).decode()
    assert captured_git.env["GIT_CONFIG_VALUE_0"] == f"Authorization: Basic {expected}"
    with pytest.raises(PullStepError, match="no block document secret/missing"):
        git_clone("https://github.com/r.git", access_token="{{ prefect.blocks.secret.missing }}")


def test_a_token_needs_an_http_repository(tmp_path: Path) -> None:
    with pytest.raises(PullStepError, match="http"):
        git_clone(str(tmp_path / "local"), access_token=TOKEN)


def test_ext_transport_is_refused_even_when_private_hosts_are_allowed(
    allow_private: None, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    with pytest.raises(PullStepError, match="failed"):
        git_clone(f"ext::sh -c touch% {marker}")
    assert not marker.exists()


def make_repo(folder: Path) -> Path:
    folder.mkdir()
    (folder / "flow.py").write_text("x = 1\n")
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", "-C", str(folder)]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "c"]):
        subprocess.run([*git, *args], check=True, capture_output=True)
    return folder


def test_local_paths_and_file_urls_still_clone(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "source")
    for n, repository in enumerate((str(repo), f"file://{repo}")):
        work = tmp_path / f"w{n}"
        work.mkdir()
        os.chdir(work)
        assert git_clone(repository) == {"directory": str(work / "source")}
        assert (work / "source" / "flow.py").exists()


@pytest.fixture
def auth_recorder() -> Iterator[tuple[str, list[str | None]]]:
    """A local HTTP server that records the Authorization header git sends, and refuses."""
    seen: list[str | None] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            self.send_response(403)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_git_sends_the_token_and_no_message_shows_it(
    allow_private: None, auth_recorder: tuple[str, list[str | None]]
) -> None:
    base, seen = auth_recorder
    with pytest.raises(PullStepError) as raised:
        git_clone(f"{base.replace('http://', f'http://alice:{TOKEN}@')}/repo.git")
    assert TOKEN not in str(raised.value) and "alice" not in str(raised.value)
    seen.clear()
    with pytest.raises(PullStepError) as raised:
        git_clone(f"{base}/repo.git", access_token=TOKEN)
    assert TOKEN not in str(raised.value)
    expected = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    assert seen and seen[0] == f"Basic {expected}"


def test_a_failed_clone_leaves_no_credentials_in_the_run_state(tmp_path: Path) -> None:
    with get_sync_client() as client:
        flow = client.create_flow("leaky")
        client.create_work_pool("pool-leak", type="process")
        url = f"https://alice:{TOKEN}@127.0.0.1:9/repo.git"
        deployment = client.create_deployment(
            flow.id,
            "from-git",
            entrypoint="flow.py:leaky",
            work_pool_name="pool-leak",
            pull_steps=[{"prefect.deployments.steps.git_clone": {"repository": url}}],
        )
        run = client.create_flow_run_from_deployment(deployment.id)
    env = {**os.environ, "FLOWYARD_FLOW_RUN_ID": str(run.id)}
    done = subprocess.run(
        [sys.executable, "-m", "flowyard.sdk.execute"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert TOKEN not in done.stderr and TOKEN not in done.stdout
    with get_sync_client() as client:
        final = client.read_flow_run(run.id)
    assert final.state_type is not None and final.state_type.value == "FAILED"
    message = final.state.message if final.state else ""
    assert message and "non-public address" in message
    assert TOKEN not in message and "alice" not in message


def test_addresses_are_normalized() -> None:
    mapped = ipaddress.ip_address("::ffff:10.0.0.1")
    assert _addresses._normalized(mapped) == ipaddress.ip_address("10.0.0.1")


def test_from_source_takes_the_credentials_of_a_private_repository(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flowyard import Flow

    seen = Captured()

    def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        # A stand-in for git that "clones" a project holding one flow.
        seen.command, seen.env = command, kwargs["env"]
        target = Path(command[-1])
        target.mkdir(parents=True)
        (target / "etl.py").write_text("from flowyard import flow\n\n@flow\ndef etl():\n    pass\n")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(pull_steps.subprocess, "run", run)
    fake_dns(monkeypatch, {"github.com": "140.82.112.3"})
    token = Secret(value=TOKEN)
    token.save("gh-token-source")
    repository = "https://github.com/team/private.git"
    for given in (token, "{{ prefect.blocks.secret.gh-token-source }}"):
        etl = Flow.from_source(repository, "etl.py:etl", access_token=given)
        expected = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
        assert seen.env["GIT_CONFIG_VALUE_0"] == f"Authorization: Basic {expected}"
        assert TOKEN not in " ".join(seen.command)
        _, steps, _ = getattr(etl, "_deployment_source")  # noqa: B009
        # The deployment names the block: the token itself is never stored in it.
        assert steps == [
            {
                "prefect.deployments.steps.git_clone": {
                    "repository": repository,
                    "branch": None,
                    "access_token": "{{ prefect.blocks.secret.gh-token-source }}",
                }
            }
        ]
    with pytest.raises(ValueError, match="save"):
        Flow.from_source(repository, "etl.py:etl", access_token=Secret(value=TOKEN))
