"""Command line: ``python -m gateway`` or ``hitl-gateway``."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from gateway import cli
from gateway.app import create_app
from gateway.auth import load_secret
from gateway.cli import COMMANDS
from gateway.config.errors import ConfigError
from gateway.config.loading import load_config
from gateway.config.root import Config
from gateway.http.server import serve, serve_workers
from gateway.human.store import StoreUnavailable
from gateway.store.installation import check_secret


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="hitl-gateway",
        description="An OpenAI-compatible gateway that routes requests to models, people, or both.",
    )
    parser.add_argument(
        "--config",
        default=os.environ.get("GATEWAY_CONFIG") or None,  # set but empty: no file
        help="TOML config file (default: $GATEWAY_CONFIG, else the built-in config)",
    )
    parser.add_argument("--host", help="address to listen on (overrides [server] host)")
    parser.add_argument("--port", type=int, help="port to listen on (overrides [server] port)")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="gateway processes sharing the port (more than one needs a PostgreSQL store)",
    )
    return parser.parse_args(argv)


def resolve(args: argparse.Namespace) -> Config:
    """Load the config and apply the command-line overrides; raise ConfigError."""
    config = load_config(args.config)
    server = config.server.model_copy(
        update={k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    )
    config = config.model_copy(update={"server": server})
    try:
        config.check_exposure()
    except ConfigError as error:
        # Name the file, as every other config error does.
        source = args.config or "the built-in config"
        raise ConfigError(f"config error in {source}: {error}") from None
    return config


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in COMMANDS:  # export, report, purge: data commands
        cli.main(argv)
        return
    args = parse_args(argv)
    try:
        config = resolve(args)
        app = create_app(config)  # every config error surfaces here, before a worker starts
        # The store must know this secret (made by create_app if it was missing).
        asyncio.run(check_secret(config, load_secret(config.secret_path)))
    except ConfigError as error:
        print(f"hitl-gateway: {error.line(args.config)}", file=sys.stderr)
        raise SystemExit(2) from None
    except StoreUnavailable as error:
        print(
            f"hitl-gateway: the task store {config.store.location} cannot be used: {error.cause}",
            file=sys.stderr,
        )
        raise SystemExit(1) from None
    if args.workers != 1 and (args.workers < 1 or not config.store.postgres):
        print(
            f"hitl-gateway: --workers {args.workers}: several workers need a PostgreSQL store "
            '([store] url = "postgresql://..."); an SQLite file serves one process',
            file=sys.stderr,
        )
        raise SystemExit(2)
    host, port = config.server.host, config.server.port
    shown = f"[{host}]" if ":" in host else host
    print(f"hitl-gateway: OpenAI API base URL  http://{shown}:{port}/v1", flush=True)
    print(f"hitl-gateway: Anthropic base URL   http://{shown}:{port}", flush=True)
    print(f"hitl-gateway: reviewer dashboard   http://{shown}:{port}/", flush=True)
    # Both are relative to the working directory by default: say where they went.
    print(f"hitl-gateway: task store           {config.store.location}", flush=True)
    print(f"hitl-gateway: secret (keep it)     {config.secret_path.resolve()}", flush=True)
    if args.workers > 1:
        serve_workers(config, create_app, args.workers)
    else:
        serve(config, app)


if __name__ == "__main__":
    main()
