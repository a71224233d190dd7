"""The README stays true: every code block in it is run here, section by section, as a new
user would (the Blocks example in ``tests/sdk/test_sdk_blocks_readme.py``).

The examples meant for a server run against one started the way ``make run`` starts it;
the others in embedded mode, as the README says they can. CLI lines run in this process
(``typer``'s runner: the same code, without an interpreter start per line), except those
that start long-lived processes (``server start``, ``worker start``) and the line ``make
run`` prints, which run as real processes.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from flowyard.cli.main import app

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DEADLINE = 90.0

# Every section of the README with code blocks, and how many: a block added to the README
# fails this test until a test below runs it.
COVERED = {
    "Set up": 2,
    "The server": 1,
    "Flows and tasks": 1,
    "Caching, results, artifacts and variables": 1,
    "Blocks": 1,  # tests/sdk/test_sdk_blocks_readme.py
    "Deployments and schedules": 2,
    "Work pools and workers": 1,
    "Cancel, pause, and why a run is not running": 2,
    "Concurrency limits": 2,
    "Settings and profiles": 1,
    "CLI": 1,
    "Automations": 1,  # tests/e2e/test_official_automations.py
}


def blocks() -> dict[str, list[tuple[str, str]]]:
    """``{section heading: [(language, code), ...]}`` in README order."""
    found: dict[str, list[tuple[str, str]]] = {}
    section = ""
    for part in re.split(r"^(#{2,3} .*)$", README.read_text(), flags=re.M):
        if re.match(r"#{2,3} ", part):
            section = part.lstrip("#").strip()
            continue
        for lang, code in re.findall(r"^```(\w*)\n(.*?)^```", part, flags=re.M | re.S):
            found.setdefault(section, []).append((lang, code))
    return found


def block(section: str, index: int = 0, lang: str | None = None) -> str:
    lang_found, code = blocks()[section][index]
    assert lang is None or lang_found == lang, (section, index, lang_found)
    return code


def command_lines(code: str) -> list[list[str]]:
    """The commands of a bash block: comments dropped, ``a && b`` as two commands."""
    commands = []
    for line in code.splitlines():
        for part in line.split("&&"):
            argv = shlex.split(part, comments=True)
            if argv:
                commands.append(argv)
    return commands


def cli(argv: list[str], **env: str) -> Result:
    """``flowyard ARGS`` (the README's line) in this process; asserts it succeeded."""
    assert Path(argv[0]).name == "flowyard", argv
    result = CliRunner().invoke(app, argv[1:], env={"COLUMNS": "200", **env})
    assert result.exit_code == 0, (argv, result.output)
    return result


def embedded_env(home: Path) -> dict[str, str]:
    env = {**os.environ, "FLOWYARD_HOME": str(home)}
    env.pop("FLOWYARD_API_URL", None)
    return env


def run_python(code: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    script = cwd / "example.py"
    script.write_text(code)
    return subprocess.run(
        [sys.executable, str(script)], env=env, cwd=cwd, capture_output=True, text=True,
        timeout=180,
    )  # fmt: skip


def wait_until(check: Callable[[], Any], what: str) -> Any:
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGINT) -> str:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out


def test_every_block_of_the_readme_is_run_here() -> None:
    assert {name: len(found) for name, found in blocks().items()} == COVERED


# -- Set up, The server: a server as `make run` starts it ------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _make_dry_run(*args: str) -> str:
    return subprocess.run(
        ["make", "-n", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout


def no_venv_env() -> dict[str, str]:
    """The environment of a shell where ``make run`` was typed: no Flowyard settings, and
    the venv it makes neither activated nor on the PATH."""
    venv_bin = (ROOT / ".venv" / "bin").resolve()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWYARD_", "PREFECT_"))}
    env.pop("VIRTUAL_ENV", None)
    paths = env.get("PATH", "").split(os.pathsep)
    env["PATH"] = os.pathsep.join(p for p in paths if p and Path(p).resolve() != venv_bin)
    return env


class Server:
    """A running server, and what it printed so far."""

    def __init__(self, url: str, proc: subprocess.Popen[str]) -> None:
        self.url = url
        self._proc = proc
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._reader.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:  # drained, so that the server never blocks on its output
            self.output.append(line)

    def close(self) -> None:
        self._reader.join(timeout=10)
        if self._proc.stdout is not None:
            self._proc.stdout.close()


@pytest.fixture(autouse=True)
def _no_embedded_server_left() -> Iterator[None]:
    yield
    from flowyard.client import shutdown_embedded

    shutdown_embedded()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The server, started by the command `make run PORT=…` runs (from the repository)."""
    port = _free_port()
    [start] = [
        line for line in _make_dry_run("run", f"PORT={port}").splitlines() if "start" in line
    ]
    argv = shlex.split(start)
    if not (ROOT / argv[0]).exists():
        pytest.skip(f"no {argv[0]} here: the README's setup has not been made in this checkout")
    home = tmp_path_factory.mktemp("server-home")
    env = {**no_venv_env(), "FLOWYARD_HOME": str(home)}
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    running = Server(f"http://127.0.0.1:{port}/api", proc)

    def healthy() -> bool:
        assert proc.poll() is None, "".join(running.output)
        try:
            return bool(httpx.get(f"{running.url}/health", timeout=1).json() is True)
        except httpx.TransportError:
            return False

    try:
        wait_until(healthy, "the server to start")
        yield running
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        running.close()


@pytest.fixture
def on_server(server: Server, monkeypatch: pytest.MonkeyPatch) -> Server:
    """This test's clients (and in-process CLI) talk to the server."""
    monkeypatch.setenv("FLOWYARD_API_URL", server.url)
    return server


def test_setup_make_run_and_the_command_it_prints(server: Server, tmp_path: Path) -> None:
    make_run, make_test = command_lines(block("Set up", 0, "bash"))
    assert make_run == ["make", "run"] and make_test == ["make", "test"]
    assert "flowyard server start --host 127.0.0.1 --port 4200" in _make_dry_run("run")
    assert "--host 0.0.0.0 --port 4300" in _make_dry_run("run", "HOST=0.0.0.0", "PORT=4300")
    assert "pytest" in _make_dry_run("test")

    # The line the banner prints works when pasted, in the repository, with no venv active.
    [printed] = [line for line in server.output if " config set " in line]
    assert printed.strip().endswith(f"config set FLOWYARD_API_URL={server.url}"), printed
    env = {**no_venv_env(), "FLOWYARD_HOME": str(tmp_path / "client-home")}
    pasted = subprocess.run(
        shlex.split(printed), cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert pasted.returncode == 0, (printed, pasted.stderr)
    # ... and so does the README's own line.
    [readme_line] = command_lines(block("Set up", 1, "bash"))
    ran = subprocess.run(
        readme_line, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 0, ran.stderr
    assert (
        "FLOWYARD_API_URL='http://127.0.0.1:4200/api' (from profile)"
        in subprocess.run(
            [readme_line[0], "config", "view"], cwd=ROOT, env=env, capture_output=True, text=True
        ).stdout
    )


def test_the_server_synopsis_names_real_options() -> None:
    [line] = command_lines(block("The server", 0, "bash"))
    argv = [token.strip("[]") for token in line]
    shown = CliRunner().invoke(app, [*argv[1:3], "--help"]).output
    for option in (token for token in argv if token.startswith("--")):
        assert option in shown, option


# -- Flows and tasks; caching: embedded mode -------------------------------------------------


def test_readme_flow_example_runs_and_is_recorded(tmp_path: Path) -> None:
    env = embedded_env(tmp_path / "home")
    run = run_python(block("Flows and tasks", 0, "python"), env, tmp_path)
    assert run.returncode == 0, run.stderr
    assert "total 12" in run.stdout + run.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "flowyard.cli.main", "flow-run", "ls"],
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    assert "etl" in listed.stdout and "Completed" in listed.stdout


def test_readme_caching_example_hits_the_cache_and_publishes(tmp_path: Path) -> None:
    env = embedded_env(tmp_path / "home")
    run = run_python(block("Caching, results, artifacts and variables", 0, "python"), env, tmp_path)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert output.count("fetching Lyon") == 1, output  # the second flow run hit the cache
    assert "variable: Lyon" in output
    assert "Cached" in output
    artifacts = subprocess.run(
        [
            sys.executable,
            "-c",
            (
                "from flowyard.client import get_client\n"
                "import asyncio\n"
                "async def main():\n"
                "    async with get_client() as c:\n"
                "        print(sorted({a.key for a in await c.read_artifacts()}))\n"
                "asyncio.run(main())\n"
            ),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert artifacts.returncode == 0, artifacts.stderr
    assert "['readings', 'weather-report']" in artifacts.stdout


# -- Deployments, work pools, cancel and pause: against the server -----------------------------


def _runs(**flt: Any) -> list[Any]:
    from flowyard.client import get_sync_client
    from flowyard.schemas.filters import FlowRunFilter

    with get_sync_client() as client:
        return client.read_flow_runs(flow_run_filter=FlowRunFilter.model_validate(flt), limit=200)


def _scheduled(deployment: str) -> int:
    from flowyard.client import get_sync_client
    from flowyard.schemas.filters import FlowRunFilter

    with get_sync_client() as client:
        found = client.read_deployment_by_name(deployment)
        flt = {
            "deployment_id": {"any_": [str(found.id)]},
            "state": {"type": {"any_": ["SCHEDULED"]}},
        }
        return client.count_flow_runs(flow_run_filter=FlowRunFilter.model_validate(flt))


def test_readme_serve_example_and_deployment_commands(on_server: Server, tmp_path: Path) -> None:
    code = block("Deployments and schedules", 0, "python")
    (tmp_path / "example.py").write_text(code)
    env = {**os.environ, "FLOWYARD_API_URL": on_server.url}
    serving = subprocess.Popen(
        [sys.executable, "example.py"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(partial(_serving, serving), "serve() to start")
        run_line, *others = command_lines(block("Deployments and schedules", 1, "bash"))
        created = re.search(r"\(([0-9a-f-]{36})\)", cli(run_line).output)
        assert created, "deployment run does not say which run it created"
        [run] = wait_until(
            lambda: _runs(
                id={"any_": [created.group(1)]},
                state={"type": {"any_": ["COMPLETED", "FAILED", "CRASHED"]}},
            ),
            "the requested run to finish",
        )
        assert run.state_type == "COMPLETED" and run.parameters == {"name": "ada"}
        assert "hello ada" in cli(["flowyard", "flow-run", "logs", str(run.id)]).output
        for argv in others:
            shown = cli(argv).output
            if argv[2] == "ls":
                assert "greet/hourly" in shown and "every 3600s" in shown
            elif argv[2] == "inspect":
                assert json.loads(shown)["name"] == "hourly"
            elif argv[2] == "pause":
                assert _scheduled("greet/hourly") == 0  # its future scheduled runs go away
            elif argv[2] == "resume":
                assert _scheduled("greet/hourly") > 0  # ... and come back
        assert _deployed("greet/hourly") is False  # deleted
        assert _scheduled("nightly-report/nightly") > 0
    finally:
        output = stop(serving)  # Ctrl-C
    assert serving.returncode == 0, output
    assert "Paused" in output and "nightly-report/nightly" in output, output
    assert _scheduled("nightly-report/nightly") == 0  # as the README says Ctrl-C does


def _serving(proc: subprocess.Popen[str]) -> bool:
    assert proc.poll() is None, proc.communicate()[0]
    return _deployed("greet/hourly", "nightly-report/nightly")


def _deployed(*names: str) -> bool:
    from flowyard.client import get_sync_client
    from flowyard.exceptions import ObjectNotFound

    with get_sync_client() as client:
        try:
            for name in names:
                client.read_deployment_by_name(name)
        except ObjectNotFound:
            return False
    return True


def _pool_ready(pool: str, worker: subprocess.Popen[str]) -> bool:
    from flowyard.client import get_sync_client

    assert worker.poll() is None, worker.communicate()[0]
    with get_sync_client() as client:
        return client.read_work_pool(pool).status == "READY"


def test_readme_work_pool_commands(on_server: Server) -> None:
    commands = command_lines(block("Work pools and workers", 0, "bash"))
    worker: subprocess.Popen[str] | None = None
    try:
        for argv in commands:
            if argv[1:3] == ["worker", "start"]:
                worker = subprocess.Popen(
                    [sys.executable, "-m", "flowyard.cli.main", *argv[1:]],
                    env={**os.environ, "FLOWYARD_API_URL": on_server.url},
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )

                wait_until(partial(_pool_ready, "local", worker), "the worker to poll its pool")
                continue
            shown = cli(argv).output
            if argv[1:3] == ["work-pool", "ls"]:
                assert "local" in shown and "READY" in shown, shown
            elif argv[1:3] == ["work-pool", "inspect"]:
                assert "process" in shown and "default" in shown
    finally:
        output = stop(worker) if worker is not None else ""
    assert worker is not None and worker.returncode == 0, output
    assert "Traceback" not in output


def test_readme_pause_resume_cancel_and_inspect(on_server: Server, tmp_path: Path) -> None:
    import datetime as dt

    from flowyard.client import get_sync_client
    from flowyard.schemas.states import StateCreate, StateDetails, StateType

    cancel, inspect, resume = command_lines(block("Cancel, pause, and why a run is not running"))
    code = block("Cancel, pause, and why a run is not running", 1, "python")
    (tmp_path / "release.py").write_text(code + "\nprint(release())\n")
    releasing = subprocess.Popen(
        [sys.executable, "release.py"],
        cwd=tmp_path,
        env={**os.environ, "FLOWYARD_API_URL": on_server.url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        [paused] = wait_until(lambda: _runs(state={"type": {"any_": ["PAUSED"]}}), "the pause")
        shown = cli([*inspect[:3], str(paused.id)]).output
        assert "State:      Paused" in shown, shown
        cli([*resume[:3], str(paused.id), *resume[4:]])
        out, err = releasing.communicate(timeout=DEADLINE)
    finally:
        if releasing.poll() is None:
            releasing.kill()
            releasing.communicate()
    assert releasing.returncode == 0, err
    assert out.strip().splitlines()[-1] == "shipped", out + err

    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    with get_sync_client() as client:
        flow_id = client.read_flow_run(paused.id).flow_id
        state = StateCreate(
            type=StateType.SCHEDULED, state_details=StateDetails(scheduled_time=later)
        )
        waiting = client.create_flow_run(flow_id, state=state)
    shown = cli([*inspect[:3], str(waiting.id)]).output
    assert "Why isn't it running?\n  - The run is scheduled for" in shown, shown
    assert "is Cancelled" in cli([*cancel[:3], str(waiting.id)]).output


# -- Concurrency limits: embedded mode --------------------------------------------------------


def test_readme_concurrency_example_uses_the_limits_it_creates(tmp_path: Path) -> None:
    commands = block("Concurrency limits", 0, "bash")
    code = block("Concurrency limits", 1, "python")
    env = embedded_env(tmp_path / "home")
    # Without the limits the example still runs, and says what it did not find.
    bare = run_python(code + "\nnightly()\n", embedded_env(tmp_path / "bare"), tmp_path)
    assert bare.returncode == 0 and "'gpu' do not exist" in bare.stderr, bare.stderr
    for argv in command_lines(commands):
        made = subprocess.run(
            [sys.executable, "-m", "flowyard.cli.main", *argv[1:]],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert made.returncode == 0, made.stderr
    run = run_python(code + "\nnightly()\n", env, tmp_path)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "do not exist" not in output, output  # every limit it names was found
    assert "Completed" in output
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            (
                "from flowyard.client import get_sync_client\n"
                "with get_sync_client() as c:\n"
                "    print('gpu', c.read_concurrency_limit('gpu').active_slots,"
                " len(c.read_concurrency_leases('gpu')))\n"
                "    print('warehouse', c.read_concurrency_limit('tag:warehouse').active_slots)\n"
            ),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stderr
    # concurrency() and the tag slots were given back.
    assert "gpu 0 0" in check.stdout and "warehouse 0" in check.stdout, check.stdout


# -- Settings and profiles; the CLI synopsis ---------------------------------------------------


def test_readme_settings_and_profiles(tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    outputs = [
        cli(argv, FLOWYARD_HOME=home).output
        for argv in command_lines(block("Settings and profiles"))
    ]
    assert "Set FLOWYARD_API_URL=http://127.0.0.1:4200/api" in outputs[0]
    assert "FLOWYARD_API_URL='http://127.0.0.1:4200/api' (from profile)" in outputs[1]
    assert "Unset FLOWYARD_API_URL" in outputs[2]
    assert outputs[-1].splitlines() == ["  default", "* staging"]


def test_readme_cli_synopsis(tmp_path: Path) -> None:
    """Each line names a real command and real options; those that need no run id run, and
    so do inspect, logs and delete on a run of the README's first example."""
    env = embedded_env(tmp_path / "home")
    ran = run_python(
        "from flowyard import flow\n\n@flow\ndef hello():\n    print('hi')\n\nhello()\n",
        env,
        tmp_path,
    )
    assert ran.returncode == 0, ran.stderr
    home = env["FLOWYARD_HOME"]
    [run] = json.loads(cli(["flowyard", "flow-run", "ls", "--json"], FLOWYARD_HOME=home).stdout)
    for line in command_lines(block("CLI", 0, "bash")):
        argv = [token.strip("[]") for token in line]
        path = [t for t in argv[1:3] if not t.startswith(("-", "<"))]
        shown = CliRunner().invoke(app, [*path, "--help"]).output
        for option in (token for token in argv if token.startswith("--")):
            assert option in shown, (line, option)
        if "<id>" not in argv and "JSON" not in argv:
            cli(argv, FLOWYARD_HOME=home)
        elif path[-1] in ("inspect", "logs", "delete"):
            cli([token.replace("<id>", run["id"]) for token in argv], FLOWYARD_HOME=home)
