"""Configuration: one TOML file, validated by pydantic, with ``${VAR}`` expansion.

Every key is documented in ``config/gateway.example.toml`` and the README.
A bad file stops start-up with one line naming the file and the key.

``sections`` holds the plain tables ([server], [auth], [store] ...), ``models``
the [upstreams] and [models] tables, ``rubrics`` the [rubrics] table, ``root``
the whole file (``Config``) and its checks across tables, ``loading`` the
reading of a file, ``errors`` the errors. The names below are the package's
public face; code inside the gateway imports from the module that owns a name.
"""

from gateway.config.errors import ConfigError
from gateway.config.loading import load_config
from gateway.config.models import ModelConfig, UpstreamConfig
from gateway.config.root import Config, default_config
from gateway.config.rubrics import RubricConfig, RubricItem
from gateway.config.sections import StoreConfig, WebhookConfig

__all__ = [
    "Config",
    "ConfigError",
    "ModelConfig",
    "RubricConfig",
    "RubricItem",
    "StoreConfig",
    "UpstreamConfig",
    "WebhookConfig",
    "default_config",
    "load_config",
]
