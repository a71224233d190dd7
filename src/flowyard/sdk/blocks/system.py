"""The built-in block types, registered by every server (protected: they cannot be
deleted): Secret, JSON, String, DateTime, LocalFileSystem, Webhook, EmailServerCredentials."""

from __future__ import annotations

import datetime as dt
import smtplib
import ssl
import urllib.parse
from typing import Any, ClassVar, Literal

from pydantic import Field, JsonValue, SecretStr
from pydantic import Secret as PydanticSecret

from flowyard import __version__
from flowyard.sdk._addresses import IPAddress, PrivateAddressError, resolve_public
from flowyard.sdk.blocks.core import Block
from flowyard.sdk.blocks.fields import SecretDict
from flowyard.sdk.storage import LocalFileSystem as _LocalStorage
from flowyard.sdk.storage import ResultStorage


class _BuiltIn(Block):
    _block_schema_version = __version__


class Secret(_BuiltIn):
    """A secret value (a string, or any JSON value), encrypted at rest and shown masked.

    ``Secret(value="s3cr3t").save("api-key")``, then ``Secret.load("api-key").get()``.
    """

    _block_type_name = "Secret"
    value: SecretStr | PydanticSecret[JsonValue] = Field(description="The value to keep secret.")

    def get(self) -> Any:
        """The secret value in clear (a string, or the JSON value it was saved with)."""
        return self.value.get_secret_value()


class JSON(_BuiltIn):
    """Any JSON value (object, list, string, number, boolean or null)."""

    _block_type_name = "JSON"
    value: Any = Field(description="A JSON-compatible value.")


class String(_BuiltIn):
    """A string value."""

    _block_type_name = "String"
    value: str = Field(description="A string value.")


class DateTime(_BuiltIn):
    """A date and time (ISO 8601)."""

    _block_type_name = "Date Time"
    _block_type_slug = "date-time"
    value: dt.datetime = Field(description="An ISO 8601-compatible datetime value.")


class LocalFileSystem(_BuiltIn, ResultStorage):
    """Files in a local folder; usable as the result storage of flows and tasks."""

    _block_type_name = "Local File System"
    _block_schema_capabilities: ClassVar[list[str]] = [
        "get-directory",
        "put-directory",
        "read-path",
        "write-path",
    ]
    basepath: str | None = Field(
        default=None, description="The folder; default $FLOWYARD_HOME/storage."
    )

    def _storage(self) -> _LocalStorage:
        return _LocalStorage(self.basepath)

    def read_path(self, path: str) -> bytes:
        """The bytes stored at ``path`` (inside the folder)."""
        return self._storage().read_path(path)

    def write_path(self, path: str, content: bytes) -> str:
        """Write ``content`` at ``path`` atomically; returns the full path."""
        return self._storage().write_path(path, content)

    def exists(self, path: str) -> bool:
        """Whether a file exists at ``path``."""
        return self._storage().exists(path)

    def key_for(self, path: str) -> str:
        """The absolute path of ``path`` in the folder."""
        return self._storage().key_for(path)


class Webhook(_BuiltIn):
    """An HTTP endpoint to call; its URL and headers are secret.

    Private, loopback and link-local addresses are refused unless ``allow_private_urls``.
    """

    _block_type_name = "Webhook"
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = Field(
        default="POST", description="The HTTP method."
    )
    url: SecretStr = Field(description="The webhook URL.")
    headers: SecretDict = Field(default_factory=lambda: SecretDict({}))
    allow_private_urls: bool = Field(
        default=False, description="Allow calls to private, loopback and link-local hosts."
    )
    verify: bool = Field(default=True, description="Verify the server's TLS certificate.")

    def call(self, payload: dict[str, Any] | str | None = None) -> Any:
        """Call the webhook with ``payload`` (JSON for a dict); returns the httpx response.

        Raises:
            ValueError: the URL is not http(s), or resolves to a refused address.
        """
        import httpx

        url = self.url.get_secret_value()
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError("A webhook URL must be http(s)://host/...")
        kwargs: dict[str, Any] = {"json": payload} if isinstance(payload, dict) else {}
        if isinstance(payload, str):
            kwargs["content"] = payload
        headers = httpx.Headers(self.headers.get_secret_value())
        target = httpx.URL(url)
        if not self.allow_private_urls:
            # Connect to the address checked, not to the name resolved a second time (a
            # rebinding DNS answer could turn it private in between). The name still goes
            # in the Host header and, for https, in SNI and the certificate check.
            port = parsed.port or (443 if parsed.scheme == "https" else 80)
            address = self._check_address(parsed.hostname, port)
            headers["Host"] = target.netloc.decode("ascii")
            target = target.copy_with(host=str(address))
            kwargs["extensions"] = {"sni_hostname": parsed.hostname}
        # trust_env off: a proxy from the environment would resolve the name itself.
        with httpx.Client(
            verify=self.verify, follow_redirects=False, timeout=30.0, trust_env=False
        ) as client:
            return client.request(self.method, target, headers=headers, **kwargs)

    @staticmethod
    def _check_address(host: str, port: int) -> IPAddress:
        try:
            return resolve_public(host, port)[0]
        except PrivateAddressError as exc:
            raise ValueError(
                f"The webhook host resolves to a non-public address ({exc.address}); set "
                "allow_private_urls=True to call it."
            ) from None


class EmailServerCredentials(_BuiltIn):
    """SMTP server credentials; the password is secret."""

    _block_type_name = "Email Server Credentials"
    username: str | None = Field(default=None, description="The SMTP user name.")
    password: SecretStr | None = Field(default=None, description="The SMTP password.")
    smtp_server: str = Field(default="smtp.gmail.com", description="The SMTP host.")
    smtp_type: Literal["SSL", "STARTTLS", "INSECURE"] = Field(
        default="SSL", description="How to secure the connection."
    )
    smtp_port: int | None = Field(
        default=None, description="The port; default 465 (SSL), 587 (STARTTLS) or 25."
    )

    def get_server(self) -> smtplib.SMTP:
        """A connected (and logged in, with a username) SMTP client."""
        port = self.smtp_port or {"SSL": 465, "STARTTLS": 587, "INSECURE": 25}[self.smtp_type]
        server: smtplib.SMTP
        if self.smtp_type == "SSL":
            server = smtplib.SMTP_SSL(self.smtp_server, port, context=ssl.create_default_context())
        else:
            server = smtplib.SMTP(self.smtp_server, port)
            if self.smtp_type == "STARTTLS":
                server.starttls(context=ssl.create_default_context())
        if self.username is not None:
            password = self.password.get_secret_value() if self.password else ""
            server.login(self.username, password)
        return server


BUILT_INS: list[type[Block]] = [
    Secret,
    JSON,
    String,
    DateTime,
    LocalFileSystem,
    Webhook,
    EmailServerCredentials,
]
