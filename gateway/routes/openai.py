"""The clients' door: the OpenAI-compatible endpoints.

These are plain ASGI endpoints rather than request/response functions, so the
forwarding path can stream upstream bytes straight into ``send``.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.asgi import header, send_whole
from gateway.body import RequestHead, parse_body, read_body
from gateway.errors import GatewayError, model_not_found, not_found
from gateway.metrics import Metrics
from gateway.routing import ForwardRoute, HumanRoute
from gateway.services import Services
from gateway.streams import send_error, send_upstream_error
from gateway.upstream import UpstreamBroke, UpstreamFailure, open_chain, relay

FORWARD_HEADERS = ((b"x-gateway-route", b"forward"), (b"x-gateway-answered-by", b"model"))
MODEL_CREATED = 1700000000
log = logging.getLogger("gateway")
_RESPONSE_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")


@dataclass(slots=True)
class Call:
    """One client request to a model endpoint, read and parsed."""

    api: str  # "chat.completions" or "responses"
    path: str  # the path below the upstream's base URL
    scope: dict
    receive: Any
    send: Any
    body: bytes
    data: dict[str, Any]
    head: RequestHead
    client: bytes  # the digest of the client's key, b"" without one
    started: float  # perf_counter() when the request arrived
    response_started: bool = False  # the status line has gone out (a stream began)

    def header(self, name: bytes) -> str | None:
        return header(self.scope, name)


class ModelEndpoint:
    """``POST /v1/chat/completions`` and ``POST /v1/responses``."""

    def __init__(self, services: Services, api: str, path: str) -> None:
        self.services = services
        self.api = api
        self.path = path
        self.limit = services.config.server.max_body_bytes

    async def __call__(self, scope, receive, send) -> None:
        started = time.perf_counter()
        services = self.services
        model, route_kind = "", "none"
        call: Call | None = None
        try:
            client = services.client_auth.identify(header(scope, b"authorization"))
            body = await read_body(scope, receive, self.limit)
            data, head = parse_body(body)
            model = head.model
            route = services.router.resolve(model)
            if route is None:
                raise model_not_found(model)
            route_kind = route.kind
            call = Call(
                self.api, self.path, scope, receive, send, body, data, head, client, started
            )
            if isinstance(route, ForwardRoute):
                status = await forward(call, route, services.metrics)
            elif isinstance(route, HumanRoute):
                status = await services.human.serve(call, route)
            else:
                status = await services.hybrid.serve(call, route)
        except GatewayError as error:
            if call is not None:
                await send_error(call, error, [(b"x-gateway-route", route_kind.encode())])
            else:
                await error.response()(scope, receive, send)
            status = error.status
        except UpstreamFailure as failure:
            if call is not None:
                await send_upstream_error(call, failure.status, failure.headers, failure.body)
            else:
                await send_whole(send, failure.status, failure.headers, failure.body)
            status = failure.status
        except UpstreamBroke as broke:
            # Returning without the reply's end makes the server drop the connection.
            log.warning("%s model %r: %s", self.api, model, broke)
            status = 502
        except ConnectionResetError:
            return  # the client left before its body arrived
        except Exception:
            # The app calls this endpoint without Starlette's error middleware, so
            # answer as it would: log the traceback, send a 500 if nothing was sent.
            log.exception("%s model %r failed", self.api, model)
            failed = GatewayError(500, "The gateway failed on this request.", type="api_error")
            with contextlib.suppress(RuntimeError):  # a reply had already begun
                await failed.response()(scope, receive, send)
            status = 500
        services.metrics.request_done(model, route_kind, status)


async def forward(call: Call, route: ForwardRoute, metrics: Metrics) -> int:
    """Relay the call to its model's upstream, or the first fallback that answers."""
    sent = time.perf_counter()
    metrics.forward_overhead.observe(sent - call.started)
    target, response = await open_chain(
        route.chain, call.path, call.body, call.head.model, call.scope["headers"]
    )
    name = target.upstream.name
    metrics.upstream_headers(name, time.perf_counter() - sent)
    await relay(response, call.send, call.receive, FORWARD_HEADERS)
    metrics.upstream_finished(name, time.perf_counter() - sent)
    return response.status


def _model_object(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": MODEL_CREATED, "owned_by": "hitl-gateway"}


def model_endpoints(services: Services) -> dict[str, ModelEndpoint]:
    """``POST`` path -> endpoint, for the app to call without Starlette's routing."""
    return {
        "/v1/chat/completions": ModelEndpoint(services, "chat.completions", "/chat/completions"),
        "/v1/responses": ModelEndpoint(services, "responses", "/responses"),
    }


def routes(services: Services) -> list[BaseRoute]:
    """The OpenAI-compatible routes, bound to the shared services."""

    async def list_models(request: Request) -> Response:
        services.client_auth.identify(request.headers.get("authorization"))
        data = [_model_object(name) for name in services.router.names()]
        return Response(
            orjson.dumps({"object": "list", "data": data}), media_type="application/json"
        )

    async def get_model(request: Request) -> Response:
        services.client_auth.identify(request.headers.get("authorization"))
        name = request.path_params["model"]
        if name not in services.router.names():
            raise model_not_found(name)
        return Response(orjson.dumps(_model_object(name)), media_type="application/json")

    async def get_response(request: Request) -> Response:
        client = services.client_auth.identify(request.headers.get("authorization"))
        response_id = request.path_params["response_id"]
        stored = await services.human.stored_response(response_id, client)
        if stored is not None:
            return Response(stored, media_type="application/json")
        if not _RESPONSE_ID.fullmatch(response_id):
            # Only plain ids go into an upstream URL: no dot segments, no smuggled query.
            raise not_found(f"No response found with id '{response_id}'.")
        path = f"/responses/{response_id}"
        if request.url.query:
            path += "?" + request.url.query
        failure: GatewayError | None = None
        for upstream in services.upstreams.values():
            headers = upstream.headers_for(request.headers.raw)
            try:
                reply = await upstream.send("GET", path, None, headers)
            except GatewayError as error:
                failure = error  # another upstream may still have it
                continue
            async with reply:
                if reply.status != 404:
                    body = await reply.read()
                    return Response(body, reply.status, media_type=reply.content_type)
        if failure is not None:
            raise failure  # an upstream that could have it did not answer
        raise not_found(f"No response found with id '{response_id}'.")

    # The app calls these two directly; as routes they give other methods a 405.
    endpoints = model_endpoints(services)
    return [
        *(Route(path, endpoint, methods=["POST"]) for path, endpoint in endpoints.items()),
        Route("/v1/responses/{response_id}", get_response, methods=["GET"]),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{model:path}", get_model, methods=["GET"]),
    ]
