"""`flowyard profile ls|create|use|delete`."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import Flowyard, one_error_line


def test_create_use_and_delete(flowyard: Flowyard) -> None:
    result = flowyard("profile", "create", "dev")
    assert result.exit_code == 0, result.output
    assert "Created profile 'dev'" in result.output
    assert flowyard("profile", "ls").output.splitlines() == ["* default", "  dev"]

    assert flowyard("profile", "use", "dev").exit_code == 0
    assert flowyard("profile", "ls").output.splitlines() == ["  default", "* dev"]

    # Settings go to the active profile.
    flowyard("config", "set", "FLOWYARD_SERVER_PORT=4500")
    assert "FLOWYARD_SERVER_PORT='4500'" in flowyard("config", "view").output
    flowyard("profile", "use", "default")
    assert "FLOWYARD_SERVER_PORT" not in flowyard("config", "view").output

    result = flowyard("profile", "delete", "dev")
    assert result.exit_code == 0
    assert flowyard("profile", "ls").output.splitlines() == ["* default"]


def test_the_active_profile_cannot_be_deleted(flowyard: Flowyard) -> None:
    flowyard("profile", "create", "dev")
    flowyard("profile", "use", "dev")
    line = one_error_line(flowyard("profile", "delete", "dev"))
    assert "Profile 'dev' is active; switch to another one first" in line


def test_environment_chooses_the_active_profile(
    flowyard: Flowyard, monkeypatch: pytest.MonkeyPatch
) -> None:
    flowyard("profile", "create", "ci")
    monkeypatch.setenv("FLOWYARD_PROFILE", "ci")
    assert flowyard("profile", "ls").output.splitlines() == ["* ci", "  default"]
    one_error_line(flowyard("profile", "delete", "ci"))
    result = flowyard("profile", "use", "default")
    assert "FLOWYARD_PROFILE=ci is set in the environment" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "default"], "Profile 'default' already exists."),
        (["create", "bad name"], "Invalid profile name 'bad name'"),
        (["create", "-x"], None),  # looks like an option: a usage error, tested below
        (["use", "nope"], "Profile 'nope' does not exist. See 'flowyard profile ls'."),
        (["delete", "nope"], "Profile 'nope' does not exist."),
    ],
)
def test_bad_input_is_one_line(flowyard: Flowyard, args: list[str], message: str | None) -> None:
    result = flowyard("profile", *args)
    if message is None:
        assert result.exit_code == 2
        assert len(result.output.strip().splitlines()) == 1
        return
    assert message in one_error_line(result)


def test_missing_active_profile_is_one_line(
    flowyard: Flowyard, monkeypatch: pytest.MonkeyPatch, flowyard_home: Path
) -> None:
    monkeypatch.setenv("FLOWYARD_PROFILE", "ghost")
    assert "Profile 'ghost' does not exist." in one_error_line(flowyard("config", "view"))
