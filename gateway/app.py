"""Builds the app and its shared objects, once."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.auth import ClientAuth, ReviewerAuth, load_secret
from gateway.config.errors import ConfigError
from gateway.config.root import Config
from gateway.doors.anthropic import endpoint as anthropic
from gateway.doors.anthropic import shaper as anthropic_shaper
from gateway.doors.cua import routes as cua
from gateway.doors.mcp import server as mcp
from gateway.doors.openai import endpoints as openai
from gateway.doors.openai import passthrough, uploads
from gateway.doors.openai.shaper import OpenAIShaper
from gateway.errors import GatewayError, error_body
from gateway.events.fanout import Events
from gateway.events.webhooks import Webhooks
from gateway.export.retention import Retention
from gateway.forward.owners import ForwardedResponses
from gateway.forward.upstream import Upstream
from gateway.http.guard import RequestGuard
from gateway.http.responses import error_response
from gateway.human.queue import TaskQueue
from gateway.human.service import HumanService
from gateway.human.stats import Stats
from gateway.human.work import Shaper
from gateway.hybrid.service import HybridService
from gateway.metrics import Metrics
from gateway.routes import dashboard, data, ops, reviewer
from gateway.routing import Router
from gateway.services import Services
from gateway.store.backends import store_for

# Each door's shaper, by the dialect a task records: how a person's answer becomes
# the body its client receives.
SHAPERS: dict[str, Shaper] = {
    "openai": OpenAIShaper(),
    anthropic_shaper.DIALECT: anthropic_shaper.AnthropicShaper(),
    mcp.DIALECT: mcp.McpShaper(),
}


def build_services(config: Config) -> Services:
    upstreams = {name: Upstream(name, cfg) for name, cfg in config.upstreams.items()}
    router = Router(config, upstreams)
    events = Events()
    metrics = Metrics([*router.routed_names(), mcp.MODEL], upstreams)
    store = store_for(config.store)
    queue = TaskQueue(
        store, events, metrics, config.human, config.store.sweep_s, config.store.dead_after_s
    )
    human = HumanService(queue, metrics, config.human, SHAPERS, config.rubrics)
    stats = Stats(queue, config.rubrics)
    try:
        secret = load_secret(config.secret_path)
    except (OSError, ValueError) as error:
        raise ConfigError(f"auth.secret_file: cannot use {config.secret_path}: {error}") from None
    forwarded = ForwardedResponses(
        store, bool(config.auth.client_keys), config.store.forwarded_response_days
    )
    return Services(
        config=config,
        upstreams=upstreams,
        router=router,
        client_auth=ClientAuth(config.auth.client_keys, secret, config.auth.backoff_after_failures),
        reviewer_auth=ReviewerAuth(
            config.auth.reviewer_secrets,
            config.auth.session_idle_minutes * 60,
            secret,
            store,
            config.auth.backoff_after_failures,
            config.auth.reviewer_groups,
        ),
        events=events,
        metrics=metrics,
        queue=queue,
        human=human,
        hybrid=HybridService(human, metrics, stats),
        stats=stats,
        forwarded=forwarded,
    )


async def _gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    return error_response(exc)


async def _server_error(request: Request, exc: Exception) -> Response:
    # Starlette logs the traceback; the client gets the envelope, not plain text.
    return error_response(
        GatewayError(500, "The gateway failed on this request.", type="api_error")
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = "not_found" if exc.status_code == 404 else None
    return Response(
        error_body(str(exc.detail), "invalid_request_error", code),
        exc.status_code,
        media_type="application/json",
        headers=exc.headers,
    )


class GatewayApp:
    """The ASGI entry point: the two model endpoints go straight to their handlers.

    Skipping Starlette's middleware and router there saves time on every
    forwarded request, and memory on every request held open for a person
    (their coroutine frames stay alive for as long as the person takes).
    Everything else, lifespan included, goes through Starlette.
    """

    def __init__(self, starlette: Starlette, services: Services) -> None:
        self.starlette = starlette
        self.services = services
        self.guard = RequestGuard(services.config.server)
        self._direct: dict[str, ASGIApp] = {
            **openai.model_endpoints(services),
            **uploads.upload_endpoints(services),
            **anthropic.endpoints(services),
        }

    def let_clients_go(self) -> None:
        """The server is stopping: clients waiting on people get a retryable 503."""
        self.services.human.let_clients_go()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refused = self.guard.refuse(scope)
            if refused is not None:
                if scope["path"].startswith(mcp.PATH):  # the MCP door's own envelope
                    await mcp.send_error(send, refused)
                elif scope["path"] in anthropic.PATHS:  # that door answers in its own envelope
                    await anthropic.refuse(refused, send, receive)
                else:
                    await error_response(refused)(scope, receive, send)
                return
            if scope["method"] == "POST":
                endpoint = self._direct.get(scope["path"])
                if endpoint is not None:
                    await endpoint(scope, receive, send)  # counts its own body
                    return
            receive = self.guard.limited(scope, receive)
        await self.starlette(scope, receive, send)


def create_app(config: Config) -> GatewayApp:
    """The gateway as an ASGI app; upstream pools and the store open in its lifespan."""
    services = build_services(config)
    door = mcp.mcp_door(services) if config.mcp.enabled else None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for upstream in services.upstreams.values():
            await upstream.start()
        await services.queue.store.open()
        await services.queue.start()
        await services.human.steps.rebuild(services.queue.store)
        retention = None
        if config.store.retain_days:
            retention = Retention(services.queue.store, config.store.retain_days)
            retention.start()
        webhooks = Webhooks(config, services.events)  # off the request path
        await webhooks.start()
        try:
            async with door.run() if door else contextlib.nullcontext():
                yield
        finally:
            await webhooks.stop()
            if retention is not None:
                await retention.stop()
            await services.queue.stop()
            await services.stats.flush()
            for upstream in services.upstreams.values():
                await upstream.close()
            await services.queue.store.close()

    routes: list[BaseRoute] = [
        *openai.routes(services),
        *anthropic.routes(services),
        *uploads.routes(services),
        *passthrough.routes(services),
        *cua.routes(),
        *reviewer.routes(),
        *data.routes(),
        *ops.routes(),
        *dashboard.routes(),
    ]
    if door is not None:
        routes.append(Route(mcp.PATH, door, methods=["GET", "POST", "DELETE"]))
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            GatewayError: _gateway_error,
            HTTPException: _http_error,
            Exception: _server_error,
        },
    )
    app.state.services = services  # handlers find them here (gateway.services.services_of)
    return GatewayApp(app, services)
