"""`flowyard config set|unset|view` on the active profile."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from cli_helpers import Flowyard, one_error_line


def stored(home: Path) -> dict[str, object]:
    return tomllib.loads((home / "profiles.toml").read_text())


def test_set_view_unset(flowyard: Flowyard, flowyard_home: Path) -> None:
    result = flowyard("config", "set", "FLOWYARD_API_URL=http://127.0.0.1:4300/api")
    assert result.exit_code == 0, result.output
    assert "Set FLOWYARD_API_URL=http://127.0.0.1:4300/api in profile 'default'." in result.output
    assert stored(flowyard_home)["profiles"] == {
        "default": {"FLOWYARD_API_URL": "http://127.0.0.1:4300/api"}
    }

    result = flowyard("config", "view")
    assert result.exit_code == 0
    assert "PROFILE: 'default'" in result.output
    assert "FLOWYARD_API_URL='http://127.0.0.1:4300/api' (from profile)" in result.output

    assert flowyard("config", "unset", "FLOWYARD_API_URL").exit_code == 0
    assert "FLOWYARD_API_URL" not in flowyard("config", "view").output


def test_names_are_case_insensitive_and_several_can_be_set(
    flowyard: Flowyard, flowyard_home: Path
) -> None:
    result = flowyard("config", "set", "flowyard_server_port=4400", "FLOWYARD_LOGGING_LEVEL=DEBUG")
    assert result.exit_code == 0, result.output
    profile = stored(flowyard_home)["profiles"]["default"]  # type: ignore[index]
    assert profile == {"FLOWYARD_SERVER_PORT": "4400", "FLOWYARD_LOGGING_LEVEL": "DEBUG"}


def test_secrets_are_masked_in_view_but_stored_whole(
    flowyard: Flowyard, flowyard_home: Path
) -> None:
    secret = "fy_0123456789abcdef"
    db_url = "postgresql+asyncpg://app:hunter2@db.internal:5432/flowyard"
    result = flowyard(
        "config", "set", f"FLOWYARD_API_KEY={secret}", f"FLOWYARD_DATABASE_URL={db_url}"
    )
    assert result.exit_code == 0, result.output
    assert secret not in result.output and "hunter2" not in result.output

    view = flowyard("config", "view").output
    assert secret not in view
    assert "FLOWYARD_API_KEY='fy_0********' (from profile)" in view
    assert "hunter2" not in view
    assert "postgresql+asyncpg://app:********@db.internal:5432/flowyard" in view
    assert stored(flowyard_home)["profiles"]["default"]["FLOWYARD_API_KEY"] == secret  # type: ignore[index]


def test_view_shows_defaults_and_environment(
    flowyard: Flowyard, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWYARD_LOGGING_LEVEL", "WARNING")
    output = flowyard("config", "view", "--show-defaults").output
    assert "FLOWYARD_SERVER_PORT='4200' (from default)" in output
    assert "FLOWYARD_LOGGING_LEVEL='WARNING' (from environment)" in output


def test_set_warns_when_the_environment_wins(
    flowyard: Flowyard, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWYARD_LOGGING_LEVEL", "WARNING")
    result = flowyard("config", "set", "FLOWYARD_LOGGING_LEVEL=DEBUG")
    assert result.exit_code == 0
    assert "also set in the environment" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["set", "FLOWYARD_NOPE=1"], "Unknown setting 'FLOWYARD_NOPE'. Run 'flowyard config view"),
        (["set", "NOT_EVEN_OURS=1"], "Unknown setting 'NOT_EVEN_OURS'"),
        (["set", "FLOWYARD_API_URL"], "Expected KEY=VALUE, got 'FLOWYARD_API_URL'."),
        (["set", "=x"], "Expected KEY=VALUE"),
        (["set", "FLOWYARD_SERVER_PORT=abc"], "Invalid value 'abc' for FLOWYARD_SERVER_PORT"),
        (["set", "FLOWYARD_HOME=/tmp"], "FLOWYARD_HOME cannot be stored in a profile"),
        (["unset", "FLOWYARD_API_URL"], "FLOWYARD_API_URL is not set in profile 'default'."),
        (["unset", "FLOWYARD_WHAT"], "Unknown setting 'FLOWYARD_WHAT'"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(
    flowyard: Flowyard, flowyard_home: Path, args: list[str], message: str
) -> None:
    line = one_error_line(flowyard("config", *args))
    assert message in line
    assert not (flowyard_home / "profiles.toml").exists()  # nothing half-written


def test_a_bad_value_among_good_ones_stores_nothing(
    flowyard: Flowyard, flowyard_home: Path
) -> None:
    one_error_line(flowyard("config", "set", "FLOWYARD_SERVER_PORT=1", "FLOWYARD_X=2"))
    assert not (flowyard_home / "profiles.toml").exists()


def test_missing_argument_is_one_line(flowyard: Flowyard) -> None:
    result = flowyard("config", "set")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "Error: Missing argument 'KEY=VALUE...'. Try 'flowyard config set --help'."
    ]


def test_unknown_command_is_one_line(flowyard: Flowyard) -> None:
    result = flowyard("confg")
    assert result.exit_code == 2
    assert result.output.strip() == (
        "Error: No such command 'confg'. Did you mean 'config'? Try 'flowyard --help'."
    )


def test_a_corrupt_profiles_file_is_one_line(flowyard: Flowyard, flowyard_home: Path) -> None:
    flowyard_home.mkdir(parents=True)
    (flowyard_home / "profiles.toml").write_text("active = [unclosed")
    assert "is not valid TOML" in one_error_line(flowyard("config", "view"))
