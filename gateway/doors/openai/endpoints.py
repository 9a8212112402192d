"""The clients' door: the OpenAI-compatible endpoints.

These are plain ASGI endpoints rather than request/response functions, so the
forwarding path can stream upstream bytes straight into ``send``.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import AsyncIterable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.doors.openai import shapes
from gateway.doors.openai.checks import check_model_request
from gateway.doors.openai.people import serve_human, serve_hybrid
from gateway.errors import GatewayError, bad_request, model_not_found, not_found
from gateway.forward.owners import ForwardedResponses
from gateway.forward.upstream import UpstreamBroke, UpstreamFailure, open_chain, pass_on, relay
from gateway.http.asgi import Receive, Scope, Send, header, peer, send_whole
from gateway.http.body import parse_body, read_body
from gateway.http.call import Call, gateway_headers
from gateway.http.respond import send_error, send_upstream_error
from gateway.http.responses import error_response
from gateway.human.store import StoredResponse
from gateway.metrics import Metrics
from gateway.routing import ForwardRoute, HumanRoute, HybridRoute
from gateway.services import Services, services_of

FORWARD_HEADERS = tuple(gateway_headers("forward", "model"))  # the same on every forward
MODEL_CREATED = 1700000000
log = logging.getLogger("gateway")
_RESPONSE_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")


@dataclass(slots=True)
class Progress:
    """How far a request got: what its error reply and its metrics need."""

    model: str = ""
    route_kind: str = "none"
    call: Call | None = None


class ModelEndpoint:
    """A ``POST /v1/...`` endpoint routed by the JSON body's ``model``.

    ``people``: a person can answer it (chat completions, responses); on the
    other endpoints only forward routes serve. ``model_optional``: a body without
    ``model`` goes to ``[server] default_upstream`` (moderations, image generation).
    """

    def __init__(
        self,
        services: Services,
        api: str,
        path: str,
        people: bool = False,
        model_optional: bool = False,
    ) -> None:
        self.services = services
        self.api = api
        self.path = path
        self.people = people
        self.model_optional = model_optional
        self.limit = services.config.server.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read, route and answer the request, then count it.

        One coroutine, not a ``__call__`` awaiting a ``serve``: a client waiting on a
        person holds every frame on its path, and the second frame cost ~370 B
        (bench/human.py --trace).
        """
        started = time.perf_counter()
        services = self.services
        seen = Progress()
        try:
            client = services.client_auth.identify(header(scope, b"authorization"), peer(scope))
            body = await read_body(scope, receive, self.limit)
            if self.model_optional and services.router.default_upstream and _no_model(body):
                status = await self.to_default(scope, receive, send, body, seen)
            else:
                data, head = parse_body(body)
                seen.model = head.model
                route = self.route(head.model, seen)
                call = seen.call = Call(
                    self.api, self.path, scope, receive, send, body, data, head, client, started
                )
                del body, data, head  # the call holds them
                if isinstance(route, ForwardRoute):
                    status = await forward(call, route, services.metrics, services.forwarded)
                else:
                    check_model_request(self.api, call.data)  # it may become a task: read it all
                    if isinstance(route, HumanRoute):
                        status = await serve_human(call, route, services.human)
                    else:
                        hybrid = services.hybrid
                        status = await serve_hybrid(call, route, hybrid, services.forwarded)
        except Exception as failure:
            sent = await self.failed(failure, scope, receive, send, seen)
            if sent is None:
                return  # the client left before its body arrived
            status = sent
        services.metrics.request_done(seen.model, seen.route_kind, status, api=self.api)

    async def failed(
        self, failure: Exception, scope: Scope, receive: Receive, send: Send, seen: Progress
    ) -> int | None:
        """Answer a request that failed; the status sent, or None when the client left."""
        if isinstance(failure, GatewayError):
            if seen.call is not None:
                await send_error(seen.call, failure, gateway_headers(seen.route_kind))
            else:
                await error_response(failure)(scope, receive, send)
            return failure.status
        if isinstance(failure, UpstreamFailure):
            if seen.call is not None:
                await send_upstream_error(seen.call, failure.status, failure.headers, failure.body)
            else:
                await send_whole(send, failure.status, failure.headers, failure.body)
            return failure.status
        if isinstance(failure, UpstreamBroke):
            # Returning without the reply's end makes the server drop the connection.
            log.warning("%s model %r: %s", self.api, seen.model, failure)
            return 502
        if isinstance(failure, ConnectionResetError):
            return None
        # The app calls this endpoint without Starlette's error middleware, so
        # answer as it would: log the traceback, send a 500 if nothing was sent.
        log.error("%s model %r failed", self.api, seen.model, exc_info=failure)
        failed = GatewayError(500, "The gateway failed on this request.", type="api_error")
        with contextlib.suppress(RuntimeError):  # a reply had already begun
            await error_response(failed)(scope, receive, send)
        return 500

    def route(self, model: str, seen: Progress) -> ForwardRoute | HumanRoute | HybridRoute:
        """The model's route; 404 for an unknown model, 400 where people cannot answer."""
        route = self.services.router.resolve(model)
        if route is None:
            raise model_not_found(model)
        seen.route_kind = route.kind
        if not isinstance(route, HumanRoute) and route.chain[0].upstream.api != "openai":
            upstream = route.chain[0].upstream
            raise bad_request(
                f"Model '{model}' is served by upstream '{upstream.name}', which speaks the "
                f"{upstream.api} API: send it to that API's endpoint (/v1/messages).",
                param="model",
                code="wrong_api",
            )
        if not self.people and not isinstance(route, ForwardRoute):
            raise bad_request(
                f"A person cannot answer {self.api} requests, and model '{model}' "
                f"routes to people: use a model served by an upstream.",
                param="model",
                code="model_not_supported",
            )
        return route

    async def to_default(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        body: bytes | AsyncIterable[bytes],
        seen: Progress,
        length: int | None = None,
    ) -> int:
        """A request naming no model, relayed once to ``[server] default_upstream``."""
        upstream = self.services.router.default_upstream
        assert upstream is not None
        seen.route_kind = "forward"
        return await pass_on(
            upstream, "POST", self.path, body, scope, receive, send, FORWARD_HEADERS, length
        )


async def forward(
    call: Call, route: ForwardRoute, metrics: Metrics, forwarded: ForwardedResponses
) -> int:
    """Relay the call to its model's upstream, or the first fallback that answers.

    A Responses reply's id is recorded as this client's before the client sees it
    (with client keys), so only this client can read, cancel or delete it later.
    """
    # Each time is observed once the reply is out (or failed): off the request's
    # path, where three histogram observations cost about 3 us.
    sent = time.perf_counter()
    try:
        target, response = await open_chain(
            route.chain, call.path, call.body, call.head.model, call.scope["headers"]
        )
    except BaseException:
        metrics.forward_overhead.observe(sent - call.started)
        raise
    headers_at = time.perf_counter()
    reader = None
    if call.api == "responses" and response.status == 200:
        reader = forwarded.watcher(call.client, response.content_type == "text/event-stream")
    try:
        await relay(response, call.send, call.receive, FORWARD_HEADERS, reader)
    finally:
        metrics.forward_overhead.observe(sent - call.started)
        metrics.upstream_headers(target.upstream.name, headers_at - sent)
    metrics.upstream_finished(target.upstream.name, time.perf_counter() - sent)
    return response.status


def _model_object(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": MODEL_CREATED, "owned_by": "hitl-gateway"}


def _no_model(body: bytes) -> bool:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False  # parse_body gives the 400
    return isinstance(data, dict) and "model" not in data


def model_endpoints(services: Services) -> dict[str, ModelEndpoint]:
    """``POST`` path -> endpoint, for the app to call without Starlette's routing."""
    return {
        "/v1/chat/completions": ModelEndpoint(
            services, "chat.completions", "/chat/completions", people=True
        ),
        "/v1/responses": ModelEndpoint(services, "responses", "/responses", people=True),
        "/v1/embeddings": ModelEndpoint(services, "embeddings", "/embeddings"),
        "/v1/completions": ModelEndpoint(services, "completions", "/completions"),
        "/v1/moderations": ModelEndpoint(
            services, "moderations", "/moderations", model_optional=True
        ),
        "/v1/images/generations": ModelEndpoint(
            services, "images.generations", "/images/generations", model_optional=True
        ),
        "/v1/audio/speech": ModelEndpoint(services, "audio.speech", "/audio/speech"),
    }


def _client_of(request: Request) -> bytes:
    authorization = request.headers.get("authorization")
    return services_of(request).client_auth.identify(authorization, peer(request.scope))


def _json(data: Any) -> Response:
    return Response(orjson.dumps(data), media_type="application/json")


async def list_models(request: Request) -> Response:
    _client_of(request)
    names = services_of(request).router.names()
    return _json({"object": "list", "data": [_model_object(name) for name in names]})


async def get_model(request: Request) -> Response:
    _client_of(request)
    name = request.path_params["model"]
    if name not in services_of(request).router.names():
        raise model_not_found(name)
    return _json(_model_object(name))


async def _owned(request: Request) -> tuple[str, StoredResponse | None, bytes]:
    """The response id, the response if a person made it for this client, the client."""
    client = _client_of(request)
    response_id = request.path_params["response_id"]
    stored = await services_of(request).queue.store.get_response(response_id)
    if stored is None or stored.owner != client.hex():
        return response_id, None, client
    return response_id, stored, client


async def _ask_upstreams(
    request: Request, response_id: str, client: bytes, tail: str = ""
) -> Response:
    """Pass the request to each upstream in config order until one knows the id.

    With client keys, only for the client that made the id through this gateway:
    anyone else gets the 404 of an unknown id (see ``gateway/forward/owners.py``).
    """
    services = services_of(request)
    if not _RESPONSE_ID.fullmatch(response_id):
        # Only plain ids go into an upstream URL: no dot segments, no smuggled query.
        raise not_found(f"No response found with id '{response_id}'.")
    if not await services.forwarded.may_use(response_id, client):
        raise not_found(f"No response found with id '{response_id}'.")
    path = f"/responses/{response_id}{tail}"
    if request.url.query:
        path += "?" + request.url.query
    body = await request.body() if request.method == "POST" else None
    failure: GatewayError | None = None
    for upstream in services.upstreams.values():
        headers = upstream.headers_for(request.headers.raw)
        try:
            reply = await upstream.send(request.method, path, body, headers)
        except GatewayError as error:
            failure = error  # another upstream may still have it
            continue
        async with reply:
            if reply.status != 404:
                body = await reply.read()
                if request.method == "DELETE" and reply.status == 200:
                    await services.forwarded.forget(response_id)
                return Response(body, reply.status, media_type=reply.content_type)
    if failure is not None:
        raise failure  # an upstream that could have it did not answer
    raise not_found(f"No response found with id '{response_id}'.")


async def response(request: Request) -> Response:
    """``GET`` or ``DELETE /v1/responses/{id}``."""
    response_id, stored, client = await _owned(request)
    if stored is None:
        return await _ask_upstreams(request, response_id, client)
    if request.method == "GET":
        return Response(stored.body, media_type="application/json")
    await services_of(request).queue.store.delete_response(response_id)
    return _json({"id": response_id, "object": "response.deleted", "deleted": True})


async def input_items(request: Request) -> Response:
    response_id, stored, client = await _owned(request)
    if stored is None:
        return await _ask_upstreams(request, response_id, client, "/input_items")
    query = request.query_params
    try:
        limit = min(max(int(query.get("limit", 20)), 1), 100)
    except ValueError:
        raise bad_request("Invalid 'limit': must be an integer.", param="limit") from None
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise bad_request("Invalid 'order': must be 'asc' or 'desc'.", param="order")
    return _json(
        shapes.input_item_page(response_id, stored.input, limit, order, query.get("after"))
    )


async def cancel(request: Request) -> Response:
    response_id, stored, client = await _owned(request)
    if stored is None:
        return await _ask_upstreams(request, response_id, client, "/cancel")
    # A person's response exists only once it is complete: never in the background.
    raise bad_request("Only responses created with background=true can be cancelled.")


def routes(services: Services) -> list[BaseRoute]:
    """The OpenAI-compatible routes."""
    # The app calls these two directly; as routes they give other methods a 405.
    endpoints = model_endpoints(services)
    return [
        *(Route(path, endpoint, methods=["POST"]) for path, endpoint in endpoints.items()),
        Route("/v1/responses/{response_id}", response, methods=["GET", "DELETE"]),
        Route("/v1/responses/{response_id}/input_items", input_items, methods=["GET"]),
        Route("/v1/responses/{response_id}/cancel", cancel, methods=["POST"]),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{model:path}", get_model, methods=["GET"]),
    ]
