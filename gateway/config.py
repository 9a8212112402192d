"""Configuration: one TOML file, validated by pydantic, with ``${VAR}`` expansion.

Every key is documented in ``config/gateway.example.toml`` and the README.
A bad file stops start-up with one line naming the file and the key.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

HUMAN_MODEL = "human"
HYBRID_SUFFIX = "+human"
LOOPBACK_HOSTS = frozenset({"localhost", "::1"})

log = logging.getLogger("gateway.config")
# Words a config may still use, and the word that replaced each: (key, old) -> new.
# "fallback" for a hybrid model meant "a person only when the model fails", easily
# read as the upstream "fallbacks" chain.
_RENAMED_MODES = {"fallback": "rescue"}
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def is_loopback(host: str) -> bool:
    """Whether a host name or address can only mean this machine (``*.localhost`` too)."""
    host = host.lower().rstrip(".")
    if host in LOOPBACK_HOSTS or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ConfigError(Exception):
    """A configuration problem, worded as the single line start-up prints."""

    def line(self, source: str | None) -> str:
        """The message, naming the file (``source``) when it does not already."""
        message = str(self)
        if message.startswith("config error"):
            return message
        return f"config error in {source or 'the built-in config'}: {message}"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerConfig(_Strict):
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


class ReviewerToken(_Strict):
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


class AuthConfig(_Strict):
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


UpstreamApi = Literal["openai", "anthropic"]


class UpstreamConfig(_Strict):
    base_url: str
    # The wire format the upstream speaks: OpenAI's (/v1/chat/completions ...) or
    # Anthropic's Messages API (/v1/messages, its key sent as x-api-key).
    api: UpstreamApi = "openai"
    api_key: str | None = None
    timeout_s: float = Field(120, gt=0)
    connect_timeout_s: float = Field(10, gt=0)
    retries: int = Field(2, ge=0, le=10)
    max_retry_wait_s: float = Field(30, ge=0)
    max_connections: int = Field(256, ge=1)
    headers: dict[str, str] = {}

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return url.rstrip("/")

    @property
    def root_url(self) -> str:
        """An Anthropic upstream's URL without a trailing ``/v1``: the anthropic SDK
        takes its base URL either way, and the door asks for ``/v1/messages``."""
        return self.base_url.removesuffix("/v1")


HumanMode = Literal["review", "escalate", "rescue", "shadow"]
EscalationTrigger = Literal["upstream_error", "length", "content_filter", "refusal"]


class ModelConfig(_Strict):
    route: Literal["forward", "human", "hybrid"] | None = None
    upstream: str | None = None
    upstream_model: str | None = None
    fallbacks: list[str] = []
    # Human and hybrid routes.
    timeout_s: float | None = Field(None, gt=0)
    keepalive_s: float | None = Field(None, gt=0)
    # Hybrid routes.
    human: HumanMode | None = None
    min_confidence: float | None = Field(None, ge=0, le=1)
    confidence: str = "mean"
    on_unknown_confidence: Literal["pass", "escalate"] = "pass"
    escalate_on: list[EscalationTrigger] = ["upstream_error", "length", "content_filter", "refusal"]
    review_tools: list[str] = []
    audit_sample_rate: float = Field(0, ge=0, le=1)
    on_timeout: Literal["error", "draft"] = "error"
    # Shadow review (hybrid): the share of answers that reached the client without a
    # person which a reviewer grades afterwards, and how they grade it.
    shadow_sample: float | None = Field(None, ge=0, le=1)
    rubric: str | None = None  # a name in [rubrics]
    reviews: int = Field(1, ge=1, le=20)  # different reviewers who grade each sampled answer
    # Who sees this model's tasks (human and hybrid): reviewer groups; empty = everyone.
    reviewers: list[str] = []
    # A task nobody claimed within escalate_after_s becomes visible to escalate_to as well.
    escalate_after_s: float | None = Field(None, gt=0)
    escalate_to: list[str] = []

    @model_validator(mode="after")
    def _route_is_clear(self) -> ModelConfig:
        route = self.kind
        if route in ("forward", "hybrid") and not self.upstream:
            raise ValueError(f"a {route} model needs 'upstream'")
        if self.human == "shadow" and self.shadow_sample is None:
            raise _FieldError("shadow_sample", "a shadow model needs it (0.0 to 1.0)")
        if self.human == "shadow" and "on_timeout" in self.model_fields_set:
            raise _FieldError("on_timeout", "does not apply to a shadow model: no client waits")
        for key in ("rubric", "reviews"):
            if key in self.model_fields_set and self.shadow_sample is None:
                raise _FieldError(key, "grades shadow samples: set 'shadow_sample' too")
        if bool(self.escalate_after_s) != bool(self.escalate_to):
            key = "escalate_to" if self.escalate_after_s else "escalate_after_s"
            raise _FieldError(key, "escalate_after_s and escalate_to go together")
        if self.escalate_to and not self.reviewers:
            raise _FieldError(
                "escalate_to", "widens 'reviewers': without it every group sees the task already"
            )
        if route == "human" and (self.upstream or self.fallbacks):
            raise ValueError("a human model takes no 'upstream' or 'fallbacks'")
        # A key that does nothing on this route is a mistake worth stopping for.
        allowed = _ROUTE_KEYS[route]
        for key in sorted(self.model_fields_set - allowed - {"route"}):
            raise _FieldError(key, f"does not apply to a {route} model")
        return self

    @property
    def kind(self) -> str:
        """The route, derived when not given: human settings make a hybrid."""
        if self.route:
            return self.route
        if self.human:
            return "hybrid"
        return "forward" if self.upstream else "human"


_FORWARD_KEYS = frozenset({"upstream", "upstream_model", "fallbacks"})
_HUMAN_KEYS = frozenset(
    {"timeout_s", "keepalive_s", "reviewers", "escalate_after_s", "escalate_to"}
)
_HYBRID_KEYS = frozenset(
    {
        "human", "min_confidence", "confidence", "on_unknown_confidence", "escalate_on",
        "review_tools", "audit_sample_rate", "on_timeout", "shadow_sample", "rubric", "reviews",
    }
)  # fmt: skip
_ROUTE_KEYS = {
    "forward": _FORWARD_KEYS,
    "human": _HUMAN_KEYS,
    "hybrid": _FORWARD_KEYS | _HUMAN_KEYS | _HYBRID_KEYS,
}


class RubricItem(_Strict):
    """One thing a grader scores: yes/no, a number on a scale, one of some options, or words."""

    name: str = Field(min_length=1, max_length=64)
    type: Literal["bool", "scale", "choice", "text"]
    min: int | None = None
    max: int | None = None
    options: list[str] = []
    required: bool | None = None  # default: text items may be left empty, others not

    @property
    def needed(self) -> bool:
        return self.type != "text" if self.required is None else self.required

    @model_validator(mode="after")
    def _fits_type(self) -> RubricItem:
        if self.type == "scale":
            if self.min is None or self.max is None:
                raise _FieldError("max" if self.min is not None else "min", "a scale needs it")
            if self.min >= self.max:
                raise _FieldError("max", f"must be greater than min ({self.min})")
        elif self.min is not None or self.max is not None:
            key = "min" if self.min is not None else "max"
            raise _FieldError(key, f"does not apply to a {self.type} item")
        if self.type == "choice":
            if len(self.options) < 2:
                raise _FieldError("options", "a choice needs at least two options")
            if len(set(self.options)) != len(self.options):
                raise _FieldError("options", "options must differ")
        elif self.options:
            raise _FieldError("options", f"does not apply to a {self.type} item")
        return self


class RubricConfig(_Strict):
    items: list[RubricItem] = Field(min_length=1)

    @field_validator("items")
    @classmethod
    def _unique_names(cls, items: list[RubricItem]) -> list[RubricItem]:
        names = [item.name for item in items]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"item name '{name}' is used twice")
        return items


class HumanConfig(_Strict):
    timeout_s: float = Field(1800, gt=0)
    keepalive_s: float = Field(15, gt=0)
    lease_s: float = Field(300, gt=0)
    reattach_grace_s: float = Field(10, ge=0)
    keep_undelivered_s: float = Field(1800, ge=0)


class McpConfig(_Strict):
    """The MCP door (``/mcp``): tools that ask a person (gateway/doors/mcp)."""

    enabled: bool = True
    # How long a call waits for a person; without it, model ``human``'s timeout.
    timeout_s: float | None = Field(None, gt=0)
    # A client that sent a progressToken hears from the gateway this often while it
    # waits: clients with short idle timeouts (60 s and up) keep waiting.
    progress_s: float = Field(5, gt=0, le=60)


class StoreConfig(_Strict):
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


class ExportConfig(_Strict):
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


class WebhookConfig(_Strict):
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


class NotifyConfig(_Strict):
    webhooks: list[WebhookConfig] = []
    # The dashboard's address as reviewers reach it, for the link in each message;
    # without it, the server's own host and port.
    dashboard_url: str | None = None
    max_pending: int = Field(1000, ge=1)  # deliveries waiting; beyond it the oldest go


class Config(_Strict):
    server: ServerConfig = ServerConfig()
    auth: AuthConfig = AuthConfig()
    upstreams: dict[str, UpstreamConfig] = {}
    models: dict[str, ModelConfig] = {}
    human: HumanConfig = HumanConfig()
    mcp: McpConfig = McpConfig()
    store: StoreConfig = StoreConfig()
    export: ExportConfig = ExportConfig()
    notify: NotifyConfig = NotifyConfig()
    rubrics: dict[str, RubricConfig] = {}

    @model_validator(mode="before")
    @classmethod
    def _old_words(cls, data: Any) -> Any:
        """``human = "fallback"`` still works, as ``"rescue"``, with a warning in the log."""
        models = data.get("models") if isinstance(data, dict) else None
        if not isinstance(models, dict):
            return data
        renamed = {}
        for name, model in models.items():
            old = model.get("human") if isinstance(model, dict) else None
            if isinstance(old, str) and old in _RENAMED_MODES:
                new = _RENAMED_MODES[old]
                log.warning(
                    'config: models.%s.human = "%s" is deprecated: write "%s" (same meaning: '
                    "a person answers only when the model fails)",
                    name,
                    old,
                    new,
                )
                model = {**model, "human": new}
            renamed[name] = model
        return {**data, "models": renamed}

    @model_validator(mode="after")
    def _references_resolve(self) -> Config:
        default = self.server.default_upstream
        if default is not None and default not in self.upstreams:
            raise _KeyedError(
                "server.default_upstream", f"upstream '{default}' is not defined in [upstreams]"
            )
        for name, model in self.models.items():
            if model.upstream and model.upstream not in self.upstreams:
                raise _KeyedError(
                    f"models.{name}.upstream",
                    f"upstream '{model.upstream}' is not defined in [upstreams]",
                )
            for fallback in model.fallbacks:
                target = self.models.get(fallback)
                if target is None or target.kind != "forward":
                    raise _KeyedError(
                        f"models.{name}.fallbacks",
                        f"'{fallback}' is not a configured forward model",
                    )
                own = self.upstreams.get(model.upstream or "")
                theirs = self.upstreams.get(target.upstream or "")
                if own is not None and theirs is not None and own.api != theirs.api:
                    raise _KeyedError(
                        f"models.{name}.fallbacks",
                        f"'{fallback}' is served by an upstream that does not speak "
                        f"the '{own.api}' API of this model's upstream",
                    )
            if model.rubric is not None and model.rubric not in self.rubrics:
                raise _KeyedError(
                    f"models.{name}.rubric", f"rubric '{model.rubric}' is not defined in [rubrics]"
                )
            known = self.auth.groups
            for key in ("reviewers", "escalate_to"):
                for group in getattr(model, key):
                    # Only a token with groups names them; a group nobody is in would
                    # leave the model's tasks to plain (every-group) tokens alone.
                    if group not in known:
                        raise _KeyedError(
                            f"models.{name}.{key}",
                            f"no reviewer token in auth.reviewer_tokens has group '{group}'",
                        )
        return self

    @property
    def secret_path(self) -> Path:
        """The installation's secret (keys are kept as HMACs under it): beside the store.

        A PostgreSQL store has no file to sit beside: the secret is then
        ``hitl-gateway.secret`` in the working directory, and every process that
        shares the database must be given the same file (``auth.secret_file``).
        """
        if self.auth.secret_file:
            return Path(self.auth.secret_file)
        url = self.store.url
        if url and not url.startswith("sqlite:///"):
            return Path("hitl-gateway.secret")
        store = Path(url[len("sqlite:///") :] if url else self.store.path)
        return store.with_name(store.name + ".secret")

    def check_exposure(self) -> None:
        """Refuse an open door on a non-loopback address unless asked for.

        Both doors count: without reviewer tokens anyone on the network could
        read every task and answer it.
        """
        if self.server.allow_open or is_loopback(self.server.host):
            return
        missing = [
            name
            for name, value in (
                ("auth.client_keys", self.auth.client_keys),
                ("auth.reviewer_tokens", self.auth.reviewer_tokens),
            )
            if not value
        ]
        if missing:
            raise ConfigError(
                f"server.host is {self.server.host!r} but {' and '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} empty: set them, "
                "or server.allow_open = true to serve without them"
            )


class _FieldError(ValueError):
    """A problem with one field of a table, named relative to that table."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class _KeyedError(ValueError):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


def default_config() -> Config:
    """The built-in configuration: no upstreams, model ``human`` served by people."""
    return Config(models={HUMAN_MODEL: ModelConfig(route="human")})


def load_config(
    path: str | os.PathLike[str] | None, env: Mapping[str, str] | None = None
) -> Config:
    """Read, expand and validate a TOML config file; ``None`` gives the default."""
    if path is None:
        return default_config()
    environ = os.environ if env is None else env
    file = Path(path)
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config error in {file}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config error in {file}: not valid TOML: {exc}") from None
    try:
        expanded = _expand(raw, environ, "")
        return Config.model_validate(expanded)
    except _KeyedError as exc:
        raise ConfigError(f"config error in {file}: {exc.key}: {exc.message}") from None
    except ValidationError as exc:
        raise ConfigError(f"config error in {file}: {_describe(exc)}") from None


def _expand(value: Any, env: Mapping[str, str], key: str) -> Any:
    if isinstance(value, str):

        def lookup(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in env:
                raise _KeyedError(key, f"environment variable {name} is not set")
            return env[name]

        return _ENV_REF.sub(lookup, value)
    if isinstance(value, dict):
        return {k: _expand(v, env, f"{key}.{k}" if key else k) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, env, f"{key}[{i}]") for i, v in enumerate(value)]
    return value


def _describe(exc: ValidationError) -> str:
    """Word the first validation error as 'dotted.key: problem'."""
    error = exc.errors()[0]
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, _KeyedError):
        return f"{cause.key}: {cause.message}"
    key = ".".join(str(part) for part in error["loc"])
    if isinstance(cause, _FieldError):
        return f"{key}.{cause.field}: {cause.message}"
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key"
    message = str(cause) if cause else error["msg"]
    return f"{key}: {message}" if key else message
