"""Endpoints that name no model: ``/v1/files``, ``/v1/batches``, ``/v1/uploads``.

They go to ``[server] default_upstream``, bodies and replies streamed both ways
unread (file uploads and downloads may be large); without one they are 404.
"""

from __future__ import annotations

import re

from starlette.routing import BaseRoute, Route

from gateway.doors.openai.endpoints import FORWARD_HEADERS
from gateway.errors import GatewayError, not_found
from gateway.forward.upstream import UpstreamBroke, pass_on
from gateway.http.asgi import Receive, Scope, Send, header, peer
from gateway.http.body import BodyStream, body_chunks, declared_length
from gateway.http.responses import error_response
from gateway.services import Services

PREFIXES = ("/v1/files", "/v1/batches", "/v1/uploads")
METHODS = ["GET", "POST", "DELETE"]
# A path segment that may go into an upstream URL: ids and names, no dot segments.
_SEGMENT = re.compile(r"[A-Za-z0-9_~-][A-Za-z0-9_.~-]*")


class ModelLess:
    """One ASGI endpoint for every path under the model-less prefixes."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.limit = services.config.server.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.serve(scope, receive, send)
        except GatewayError as error:
            await error_response(error)(scope, receive, send)
        except (UpstreamBroke, ConnectionResetError):
            return  # the reply broke off (the connection drops), or the client left

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        services = self.services
        services.client_auth.identify(header(scope, b"authorization"), peer(scope))
        path = scope["path"].removeprefix("/v1")
        upstream = services.router.default_upstream
        segments = path.strip("/").split("/")
        if upstream is None or not all(_SEGMENT.fullmatch(part) for part in segments):
            raise not_found(
                f"No upstream serves {scope['path']}: set [server] default_upstream.",
            )
        if scope["query_string"]:
            path += "?" + scope["query_string"].decode("latin-1")
        method = scope["method"]
        length = declared_length(scope, self.limit)
        body = None
        if method == "POST":
            body = BodyStream((), body_chunks(scope, receive, self.limit))
        try:
            await pass_on(
                upstream, method, path, body, scope, receive, send, FORWARD_HEADERS, length
            )
        except GatewayError:
            if body is not None and body.error is not None:
                raise body.error from None
            raise


def routes(services: Services) -> list[BaseRoute]:
    endpoint = ModelLess(services)
    return [
        route
        for prefix in PREFIXES
        for route in (
            Route(prefix, endpoint, methods=METHODS),
            Route(prefix + "/{rest:path}", endpoint, methods=METHODS),
        )
    ]
