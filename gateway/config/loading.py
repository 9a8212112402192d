"""Loading the config: TOML read, ``${VAR}`` expanded, validated, errors worded.

A bad file stops start-up with one line naming the file and the dotted key.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gateway.config.errors import ConfigError, FieldError, KeyedError
from gateway.config.root import Config, default_config

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


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
    except KeyedError as exc:
        raise ConfigError(f"config error in {file}: {exc.key}: {exc.message}") from None
    except ValidationError as exc:
        raise ConfigError(f"config error in {file}: {_describe(exc)}") from None


def _expand(value: Any, env: Mapping[str, str], key: str) -> Any:
    if isinstance(value, str):

        def lookup(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in env:
                raise KeyedError(key, f"environment variable {name} is not set")
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
    if isinstance(cause, KeyedError):
        return f"{cause.key}: {cause.message}"
    key = ".".join(str(part) for part in error["loc"])
    if isinstance(cause, FieldError):
        return f"{key}.{cause.field}: {cause.message}"
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key"
    message = str(cause) if cause else error["msg"]
    return f"{key}: {message}" if key else message
