"""The whole file: ``Config``, its tables, and the checks that span tables.

References between tables (an upstream, a fallback, a rubric, a reviewer group
named somewhere else) resolve here, deprecated words are read with a warning,
and an open door on a non-loopback address is refused.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import model_validator

from gateway.config.errors import ConfigError, KeyedError
from gateway.config.models import HUMAN_MODEL, ModelConfig, UpstreamConfig
from gateway.config.rubrics import RubricConfig
from gateway.config.sections import (
    AuthConfig,
    ExportConfig,
    HumanConfig,
    McpConfig,
    NotifyConfig,
    ServerConfig,
    StoreConfig,
    Strict,
    is_loopback,
)

log = logging.getLogger("gateway.config")
# Words a config may still use, and the word that replaced each: (key, old) -> new.
# "fallback" for a hybrid model meant "a person only when the model fails", easily
# read as the upstream "fallbacks" chain.
_RENAMED_MODES = {"fallback": "rescue"}


class Config(Strict):
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
            raise KeyedError(
                "server.default_upstream", f"upstream '{default}' is not defined in [upstreams]"
            )
        for name, model in self.models.items():
            if model.upstream and model.upstream not in self.upstreams:
                raise KeyedError(
                    f"models.{name}.upstream",
                    f"upstream '{model.upstream}' is not defined in [upstreams]",
                )
            for fallback in model.fallbacks:
                target = self.models.get(fallback)
                if target is None or target.kind != "forward":
                    raise KeyedError(
                        f"models.{name}.fallbacks",
                        f"'{fallback}' is not a configured forward model",
                    )
                own = self.upstreams.get(model.upstream or "")
                theirs = self.upstreams.get(target.upstream or "")
                if own is not None and theirs is not None and own.api != theirs.api:
                    raise KeyedError(
                        f"models.{name}.fallbacks",
                        f"'{fallback}' is served by an upstream that does not speak "
                        f"the '{own.api}' API of this model's upstream",
                    )
            if model.rubric is not None and model.rubric not in self.rubrics:
                raise KeyedError(
                    f"models.{name}.rubric", f"rubric '{model.rubric}' is not defined in [rubrics]"
                )
            known = self.auth.groups
            for key in ("reviewers", "escalate_to"):
                for group in getattr(model, key):
                    # Only a token with groups names them; a group nobody is in would
                    # leave the model's tasks to plain (every-group) tokens alone.
                    if group not in known:
                        raise KeyedError(
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


def default_config() -> Config:
    """The built-in configuration: no upstreams, model ``human`` served by people."""
    return Config(models={HUMAN_MODEL: ModelConfig(route="human")})
