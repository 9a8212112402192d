"""The config's plain tables: [server], [auth], [human], [mcp], [store], [export], [notify].

Each is a strict, frozen pydantic model: an unknown key is an error naming it.
``Strict`` is their base, and the base of the model and rubric tables too.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

LOOPBACK_HOSTS = frozenset({"localhost", "::1"})


def is_loopback(host: str) -> bool:
    """Whether a host name or address can only mean this machine (``*.localhost`` too)."""
    host = host.lower().rstrip(".")
    if host in LOOPBACK_HOSTS or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Strict(BaseModel):
    """A table of the config: unknown keys are errors, values never change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerConfig(Strict):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    max_body_mb: float = Field(32, gt=0)
    max_api_body_mb: float = Field(1, gt=0)
    allowed_hosts: list[str] = []
    header_timeout_s: float = Field(10, gt=0)
    idle_timeout_s: float = Field(75, gt=0)
    max_connections: int = Field(16384, ge=1)
    allow_open: bool = False
    access_log: bool = False
    # Where requests that name no model go (/v1/files, /v1/batches, /v1/uploads).
    default_upstream: str | None = None

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)

    @property
    def max_api_body_bytes(self) -> int:
        return int(self.max_api_body_mb * 1024 * 1024)


class ReviewerToken(Strict):
    """A reviewer's token with the groups whose work they see (``reviewers`` on a model)."""

    token: str
    groups: list[str] = Field(min_length=1)

    @field_validator("token")
    @classmethod
    def _not_blank(cls, token: str) -> str:
        if not token.strip():
            raise ValueError("must not be blank")
        return token

    @field_validator("groups")
    @classmethod
    def _named(cls, groups: list[str]) -> list[str]:
        if any(not group.strip() for group in groups):
            raise ValueError("group names must not be blank")
        return groups


class AuthConfig(Strict):
    client_keys: list[str] = []
    # name -> token (sees every group's work) or {token, groups}
    reviewer_tokens: dict[str, str | ReviewerToken] = {}
    session_idle_minutes: float = Field(480, gt=0)
    metrics_token: str | None = None
    backoff_after_failures: int = Field(5, ge=1)
    secret_file: str | None = None  # default: beside the store, see Config.secret_path

    @field_validator("client_keys")
    @classmethod
    def _no_blank_keys(cls, keys: list[str]) -> list[str]:
        if any(not key.strip() for key in keys):
            raise ValueError("client keys must not be blank")
        return keys

    @property
    def reviewer_secrets(self) -> dict[str, str]:
        """Each reviewer's token, whichever form it was written in."""
        return {
            name: entry if isinstance(entry, str) else entry.token
            for name, entry in self.reviewer_tokens.items()
        }

    @property
    def reviewer_groups(self) -> dict[str, frozenset[str] | None]:
        """Each reviewer's groups; ``None`` for a plain token, which means every group."""
        return {
            name: None if isinstance(entry, str) else frozenset(entry.groups)
            for name, entry in self.reviewer_tokens.items()
        }

    @property
    def groups(self) -> frozenset[str]:
        """Every group some reviewer token names."""
        return frozenset(g for groups in self.reviewer_groups.values() for g in groups or ())


class HumanConfig(Strict):
    timeout_s: float = Field(1800, gt=0)
    keepalive_s: float = Field(15, gt=0)
    lease_s: float = Field(300, gt=0)
    reattach_grace_s: float = Field(10, ge=0)
    keep_undelivered_s: float = Field(1800, ge=0)


class McpConfig(Strict):
    """The MCP door (``/mcp``): tools that ask a person (gateway/doors/mcp)."""

    enabled: bool = True
    # How long a call waits for a person; without it, model ``human``'s timeout.
    timeout_s: float | None = Field(None, gt=0)
    # A client that sent a progressToken hears from the gateway this often while it
    # waits: clients with short idle timeouts (60 s and up) keep waiting.
    progress_s: float = Field(5, gt=0, le=60)


class StoreConfig(Strict):
    # ``postgresql://user:pass@host:5432/db`` (several processes and machines) or
    # ``sqlite:///path.db``; without a url, SQLite at ``path``.
    url: str | None = None
    path: str = "hitl-gateway.db"
    pool_size: int = Field(10, ge=1, le=1000)  # PostgreSQL connections per process
    sweep_s: float = Field(1.0, gt=0)  # how often a process looks for due deadlines
    retain_days: float | None = Field(None, gt=0)  # finished tasks older than this are deleted
    timeout_s: float = Field(5.0, gt=0)  # a store call waiting longer fails (503)
    dead_after_s: float = Field(5.0, gt=0)  # a process silent this long is taken as dead
    # Who made each forwarded Responses id is kept this long (OpenAI keeps a response 30 days).
    forwarded_response_days: float = Field(30, gt=0)

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("postgresql://", "postgres://", "sqlite:///")):
            raise ValueError("must start with postgresql:// or sqlite:///")
        return url

    @property
    def postgres(self) -> bool:
        return bool(self.url and not self.url.startswith("sqlite:"))

    @property
    def location(self) -> str:
        """Where tasks are written, for people: an absolute path, or the URL minus its password."""
        if not self.postgres:
            return str(Path(self.sqlite_path).resolve())
        parts = urlsplit(self.url or "")
        if parts.password is None:
            return parts.geturl()
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return parts._replace(netloc=netloc).geturl()

    @property
    def sqlite_path(self) -> str:
        """The SQLite file: ``sqlite:///rel.db`` is relative, ``sqlite:////abs.db`` absolute."""
        if self.url and self.url.startswith("sqlite:///"):
            return self.url.removeprefix("sqlite:///")
        return self.path


class ExportConfig(Strict):
    redact: list[str] = []  # regular expressions masked in every exported string

    @field_validator("redact")
    @classmethod
    def _patterns_compile(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from None
        return patterns


class WebhookConfig(Strict):
    url: str
    events: list[
        Literal[
            "task.created", "task.claimed", "task.released", "task.answered",
            "task.rejected", "task.expired", "task.cancelled", "task.escalated",
            "task.graded",
        ]
    ] = ["task.created"]  # fmt: skip
    secret: str | None = None  # signs the body: X-Signature: sha256=<HMAC-SHA256 hex>
    format: Literal["json", "slack"] = "json"  # slack: {"text": ...} for incoming webhooks
    timeout_s: float = Field(10, gt=0)
    retries: int = Field(3, ge=0, le=10)

    @field_validator("url")
    @classmethod
    def _http(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return url


class NotifyConfig(Strict):
    webhooks: list[WebhookConfig] = []
    # The dashboard's address as reviewers reach it, for the link in each message;
    # without it, the server's own host and port.
    dashboard_url: str | None = None
    max_pending: int = Field(1000, ge=1)  # deliveries waiting; beyond it the oldest go
