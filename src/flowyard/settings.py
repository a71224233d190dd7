"""Flowyard settings: one model, read from FLOWYARD_* variables and the active profile.

Precedence, highest first: environment variables, the active profile in
``$FLOWYARD_HOME/profiles.toml``, then the defaults below. ``FLOWYARD_HOME`` (default
``~/.flowyard``) moves everything Flowyard keeps on disk: profiles, the SQLite database,
result storage.

Setting names follow ``FLOWYARD_<AREA>_<NAME>``; the fields below are the same names
lower-cased without the prefix, so ``FLOWYARD_API_URL`` is ``Settings.api_url``.
"""

from __future__ import annotations

import os
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from flowyard.exceptions import ConfigurationError

DEFAULT_PROFILE = "default"


def flowyard_home() -> Path:
    """The folder that holds profiles, the default database and local result storage."""
    return Path(os.environ.get("FLOWYARD_HOME") or Path.home() / ".flowyard").expanduser()


def profiles_path() -> Path:
    return flowyard_home() / "profiles.toml"


class Settings(BaseSettings):
    """Every Flowyard setting. Construct through :func:`get_settings` to honour profiles."""

    model_config = SettingsConfigDict(env_prefix="FLOWYARD_", extra="ignore")

    home: Path = Field(default_factory=flowyard_home)

    # Client side: where the API is. Unset means "embedded": the app runs in-process.
    api_url: str | None = None
    api_key: SecretStr | None = None  # never shown by repr() or in a traceback
    api_request_timeout: float = 60.0

    # Server side.
    server_host: str = "127.0.0.1"
    server_port: int = 4200
    database_url: str | None = None
    database_echo: bool = False
    database_timeout: float = 30.0
    api_default_limit: int = 200
    logging_level: str = "INFO"
    # Fernet key for block secrets at rest; unset means $FLOWYARD_HOME/encryption.key.
    # A SecretStr so that repr(settings), a traceback's locals or a log line never show it.
    server_encryption_key: SecretStr | None = None

    # Run monitoring (issue 4): late runs, leases held by running flows, cancellation.
    server_services_late_runs_after_seconds: float = 15.0
    server_services_late_runs_loop_seconds: float = 5.0
    server_services_run_leases_loop_seconds: float = 2.0
    # How long a prefect.flow-run.heartbeat event (official client) keeps a run's lease.
    server_services_run_leases_heartbeat_event_seconds: float = 600.0
    server_services_cancellation_loop_seconds: float = 5.0
    # A run Cancelling this long with nothing finishing it is marked Cancelled.
    server_services_cancellation_timeout_seconds: float = 300.0
    # Flow runs of a process started by a worker or serve() (FLOWYARD_FLOW_RUN_ID set), or of
    # any process with runner_leases on, hold a lease renewed every third of this period.
    runner_lease_seconds: float = 30.0
    runner_leases: bool = False
    # Concurrency leases: the shortest lease the API grants (the contract's 60 s; tests
    # lower it) and how often the reaper frees the slots of expired leases.
    server_concurrency_min_lease_seconds: float = 60.0
    server_services_concurrency_leases_loop_seconds: float = 15.0

    # Outbound requests a deployment's code makes on our behalf (the git_clone pull step)
    # refuse loopback, private and link-local hosts unless this is on (a git server on the
    # LAN, tests on 127.0.0.1). Local paths and file:// are not network requests.
    allow_private_addresses: bool = False

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite under FLOWYARD_HOME."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.home / 'flowyard.db'}"

    @property
    def storage_path(self) -> Path:
        return self.home / "storage"


# Settings names a user may put in a profile: FLOWYARD_<FIELD> for each field above.
SETTING_NAMES = frozenset(f"FLOWYARD_{name.upper()}" for name in Settings.model_fields)


def load_profiles() -> dict[str, Any]:
    """Read profiles.toml; a missing file is one empty default profile."""
    path = profiles_path()
    if not path.exists():
        return {"active": DEFAULT_PROFILE, "profiles": {DEFAULT_PROFILE: {}}}
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path} is not valid TOML: {exc}") from exc
    data.setdefault("active", DEFAULT_PROFILE)
    data.setdefault("profiles", {})
    data["profiles"].setdefault(DEFAULT_PROFILE, {})
    return data


def save_profiles(data: dict[str, Any]) -> None:
    import tomli_w

    path = profiles_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(tomli_w.dumps(data))
    tmp.replace(path)  # atomic: a crash never leaves half a profiles file


def active_profile_name() -> str:
    return os.environ.get("FLOWYARD_PROFILE") or str(load_profiles()["active"])


def profile_values(name: str | None = None) -> dict[str, str]:
    data = load_profiles()
    name = name or active_profile_name()
    profile = data["profiles"].get(name)
    if profile is None:
        raise ConfigurationError(f"Profile {name!r} does not exist.")
    return {str(k): str(v) for k, v in profile.items()}


def get_settings(**overrides: Any) -> Settings:
    """Settings from the environment over the active profile over the defaults."""
    values: dict[str, Any] = {}
    for key, value in profile_values().items():
        if key.startswith("FLOWYARD_") and key not in os.environ:
            values[key[len("FLOWYARD_") :].lower()] = value
    values.update(overrides)
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise ConfigurationError(f"Invalid setting: {exc.errors()[0]['msg']}") from exc


@lru_cache(maxsize=1)
def cached_settings() -> Settings:
    """Settings read once per process, for hot paths that cannot afford re-reading TOML."""
    return get_settings()
