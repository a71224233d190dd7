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
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from flowyard.exceptions import ConfigurationError
from flowyard.private_files import open_private, private_home

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
    # SQLite's PRAGMA synchronous (WAL mode): NORMAL survives a killed process; FULL also a
    # power cut or OS crash, at the cost of a disk sync per commit (README, "Durability").
    database_sqlite_synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    # How long a write waits for the database writer before it answers 503 with Retry-After
    # (SQLite: this process's one writer; PostgreSQL: a pooled connection, each row lock).
    database_write_wait_seconds: float = Field(default=10.0, gt=0)
    api_default_limit: int = 200
    logging_level: str = "INFO"
    # Fernet key for block secrets at rest; unset means $FLOWYARD_HOME/encryption.key.
    # A SecretStr so that repr(settings), a traceback's locals or a log line never show it.
    server_encryption_key: SecretStr | None = None
    # Securing the server (README "Securing the server", server/auth/guard.py). With a key,
    # every request under /api and every websocket must carry it; `server start` on an
    # address other than loopback refuses to start without one.
    server_api_key: SecretStr | None = None
    # Host names a request's Host header (and a websocket's Origin) may name besides
    # loopback and the address the server listens on: the DNS-rebinding defence.
    # Comma-separated in the environment; "*" allows any.
    server_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # The largest request body accepted, in bytes (413 beyond it), counted as it arrives.
    server_max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=0)

    # Run monitoring (issue 4): late runs, leases held by running flows, cancellation.
    server_services_late_runs_after_seconds: float = 15.0
    server_services_late_runs_loop_seconds: float = 5.0
    server_services_run_leases_loop_seconds: float = 2.0
    # How long a prefect.flow-run.heartbeat event (official client) keeps a run's lease.
    server_services_run_leases_heartbeat_event_seconds: float = 600.0
    server_services_cancellation_loop_seconds: float = 5.0
    # A run Cancelling this long with nothing finishing it is marked Cancelled.
    server_services_cancellation_timeout_seconds: float = 300.0
    # Every flow run an SDK process executes holds a lease while Running, renewed every
    # third of this period; a killed process's runs are Crashed within about one period
    # (sdk/engine/heartbeat.py). runner_leases=false turns that off, except in processes a
    # worker or serve() started (FLOWYARD_FLOW_RUN_ID set), which always hold leases.
    runner_lease_seconds: float = Field(default=30.0, gt=0, le=86_400)
    runner_leases: bool = True
    # Concurrency leases: the shortest lease the API grants (the contract's 60 s; tests
    # lower it) and how often the reaper frees the slots of expired leases.
    server_concurrency_min_lease_seconds: float = 60.0
    server_services_concurrency_leases_loop_seconds: float = 15.0
    # Deployment concurrency limits: how long the slot a run takes when it becomes Pending
    # is held before the process running it must renew it (a deployment's
    # ``grace_period_seconds`` overrides it), and how long a run that found the limit full
    # waits (AwaitingConcurrencySlot) before it is due again.
    server_deployment_concurrency_lease_seconds: float = 300.0
    server_deployment_concurrency_slot_wait_seconds: float = 30.0

    # Automations (issue 12): an automation firing more often than this per minute has its
    # actions held back (a prefect.automation.throttled event says so), and how often the
    # deadlines of proactive triggers are checked.
    server_automations_max_firings_per_minute: int = Field(default=60, ge=1)
    server_services_automations_loop_seconds: float = Field(default=5.0, gt=0)

    # Outbound requests a deployment's code makes on our behalf (the git_clone pull step)
    # refuse loopback, private and link-local hosts unless this is on (a git server on the
    # LAN, tests on 127.0.0.1). Local paths and file:// are not network requests.
    allow_private_addresses: bool = False

    @field_validator("server_api_key", mode="before")
    @classmethod
    def _empty_key_is_no_key(cls, value: Any) -> Any:
        # FLOWYARD_SERVER_API_KEY= (set but empty) means no key, not a key of "" that an
        # empty credential would match; off loopback, `server start` then refuses to run.
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("database_sqlite_synchronous", mode="before")
    @classmethod
    def _upper_synchronous(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("server_allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list | tuple):
            return [str(host).strip().lower() for host in value if str(host).strip()]
        return value

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
    private_home(path.parent)
    # 0600 (profiles hold API keys), and atomic: a crash never leaves half a profiles file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with os.fdopen(open_private(tmp), "w") as handle:
            handle.write(tomli_w.dumps(data))
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
