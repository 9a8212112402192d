"""Operations: liveness, readiness and metrics."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.auth import bearer_token
from gateway.errors import unauthorized
from gateway.metrics import CONTENT_TYPE
from gateway.services import services_of


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def readyz(request: Request) -> Response:
    checks = {"store": await services_of(request).queue.ready()}
    ready = all(checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


async def metrics(request: Request) -> Response:
    services = services_of(request)
    token = services.config.auth.metrics_token
    if token is not None:
        given = bearer_token(request.headers.get("authorization")) or ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise unauthorized("Metrics need 'Authorization: Bearer <auth.metrics_token>'.")
    await services.queue.refresh_gauges()
    return Response(services.metrics.render(), media_type=CONTENT_TYPE)


def routes() -> list[BaseRoute]:
    return [
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
