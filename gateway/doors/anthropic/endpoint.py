"""``POST /v1/messages`` and ``POST /v1/messages/count_tokens``: the Anthropic door.

Plain ASGI endpoints (like the OpenAI door's), so a forwarded reply streams
straight from the upstream into ``send``. The client's key comes from
``x-api-key`` or ``Authorization: Bearer``; every error this door answers is in
Anthropic's envelope (``errors.py``); an upstream's own error reply is relayed
as it came.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.doors.anthropic import errors
from gateway.doors.anthropic.convert import conversation, session_hint
from gateway.doors.anthropic.models import CountTokensRequest, MessagesRequest, parsed
from gateway.doors.anthropic.people import serve_human, serve_hybrid, upstream_path
from gateway.doors.anthropic.replies import Client
from gateway.doors.openai.checks import check_model_request
from gateway.errors import GatewayError, bad_request, not_found
from gateway.forward.upstream import UpstreamBroke, UpstreamFailure, open_chain, relay
from gateway.http.asgi import header, peer
from gateway.http.body import RequestHead, parse_body, read_body
from gateway.http.call import Call, gateway_headers
from gateway.human.request import prompt_tokens
from gateway.routing import ForwardRoute, HumanRoute, HybridRoute
from gateway.services import Services

API = "messages"
API_FORM = "chat.completions"  # the conversation form a request is translated into
UPSTREAM_API = "anthropic"
FORWARD_HEADERS = tuple(gateway_headers("forward", "model"))
log = logging.getLogger("gateway")

ModelRoute = ForwardRoute | HumanRoute | HybridRoute


@dataclass(slots=True)
class Progress:
    """How far a request got: what its error reply and its metrics need."""

    model: str = ""
    route_kind: str = "none"


class MessagesEndpoint:
    """``POST /v1/messages`` (``count=False``) or ``/v1/messages/count_tokens``."""

    def __init__(self, services: Services, count: bool = False) -> None:
        self.services = services
        self.count = count
        self.path = "/v1/messages/count_tokens" if count else "/v1/messages"
        self.limit = services.config.server.max_body_bytes

    async def __call__(self, scope, receive, send) -> None:
        started = time.perf_counter()
        seen = Progress()
        client = Client(send, receive)
        try:
            status = await self.serve(scope, client, started, seen)
        except GatewayError as error:
            status = await client.error(error, gateway_headers(seen.route_kind))
        except UpstreamFailure as failure:
            await client.raw(failure.status, failure.headers, failure.body)
            status = failure.status
        except UpstreamBroke as broke:
            # Returning without the reply's end makes the server drop the connection.
            log.warning("%s model %r: %s", API, seen.model, broke)
            status = 502
        except ConnectionResetError:
            return  # the client left before its body arrived
        except Exception:
            log.exception("%s model %r failed", API, seen.model)
            failed = GatewayError(500, "The gateway failed on this request.", type="api_error")
            with contextlib.suppress(RuntimeError):  # a reply had already begun
                status = await client.error(failed)
            status = 500
        self.services.metrics.request_done(seen.model, seen.route_kind, status, api=API)

    async def serve(self, scope, client: Client, started: float, seen: Progress) -> int:
        services = self.services
        owner = services.client_auth.identify(_authorization(scope), peer(scope))
        body = await read_body(scope, client.receive, self.limit)
        data, head = parse_body(body)
        seen.model = head.model
        route = self.route(head.model, seen)
        if isinstance(route, ForwardRoute):
            return await self.forward(scope, client, route, body, head.model, started)
        if self.count:
            return await self.count_tokens(client, data)
        call = self.call(scope, client, body, data, owner, started)
        if isinstance(route, HumanRoute):
            return await serve_human(client, call, route, self.services.human, body)
        return await serve_hybrid(client, call, route, self.services.hybrid, body)

    def call(
        self, scope, client: Client, body: bytes, data: dict, owner: bytes, started: float
    ) -> Call:
        """The request in conversation form, as the human service takes it.

        Claude Code's ``metadata.user_id`` names its session: that becomes the form's
        ``user``, which the human service reads as the session (``x-session-id`` wins).
        """
        request = parsed(MessagesRequest, data)
        form = conversation(request)
        session = session_hint(request.metadata)
        if session is not None:
            form["user"] = session
        check_model_request(API_FORM, form)  # it may become a task: read it all
        head = RequestHead(model=request.model, stream=request.stream)
        form_body = orjson.dumps(form)
        return Call(
            API_FORM,
            self.path,
            scope,
            client.receive,
            client.send,
            form_body,
            form,
            head,
            owner,
            started,
        )

    def route(self, model: str, seen: Progress) -> ModelRoute:
        """The model's route; 404 for an unknown model, 400 for one an OpenAI upstream serves."""
        route = self.services.router.resolve(model)
        if route is None:
            raise not_found(
                f"model: {model} (no model of that name is configured)", code="model_not_found"
            )
        seen.route_kind = route.kind
        if isinstance(route, ForwardRoute | HybridRoute):
            upstream = route.chain[0].upstream
            if upstream.api != UPSTREAM_API:
                raise bad_request(
                    f"model: '{model}' is served by upstream '{upstream.name}', which speaks "
                    f"the {upstream.api} API: send it to /v1/chat/completions, or configure "
                    f'an upstream with api = "{UPSTREAM_API}"',
                    param="model",
                    code="wrong_api",
                )
        return route

    async def forward(
        self, scope, client: Client, route: ForwardRoute, body: bytes, model: str, started: float
    ) -> int:
        """Relay to the model's upstream (or the first fallback that answers), unbuffered."""
        metrics = self.services.metrics
        sent = time.perf_counter()
        metrics.forward_overhead.observe(sent - started)
        path = upstream_path(self.path, scope)
        target, response = await open_chain(route.chain, path, body, model, scope["headers"])
        name = target.upstream.name
        metrics.upstream_headers(name, time.perf_counter() - sent)
        await relay(response, client.send, client.receive, FORWARD_HEADERS)
        metrics.upstream_finished(name, time.perf_counter() - sent)
        return response.status

    async def count_tokens(self, client: Client, data: dict) -> int:
        """``{"input_tokens": N}``: the estimate every door gives for a person's task."""
        request = parsed(CountTokensRequest, data)
        tokens = prompt_tokens(API_FORM, conversation(request))
        await client.json(200, [], orjson.dumps({"input_tokens": tokens}))
        return 200


def _authorization(scope: dict) -> str | None:
    """The client's key as an ``Authorization`` value: ``x-api-key`` (the anthropic SDK's)
    or ``Authorization: Bearer`` (``ANTHROPIC_AUTH_TOKEN``)."""
    key = header(scope, b"x-api-key")
    if key:
        return f"Bearer {key}"
    return header(scope, b"authorization")


PATHS = frozenset({"/v1/messages", "/v1/messages/count_tokens"})


async def refuse(error: GatewayError, send, receive) -> None:
    """The app's guard refused a request to this door (a body too large, a bad host)."""
    await Client(send, receive).error(error)


def endpoints(services: Services) -> dict[str, MessagesEndpoint]:
    """``POST`` path -> endpoint, for the app to call without Starlette's routing."""
    return {
        "/v1/messages": MessagesEndpoint(services),
        "/v1/messages/count_tokens": MessagesEndpoint(services, count=True),
    }


OTHER_METHODS = ["GET", "PUT", "PATCH", "DELETE"]  # HEAD comes with GET


async def method_not_allowed(request: Request) -> Response:
    """Any method but ``POST``: a 405 in this door's envelope."""
    error = GatewayError(405, "Use POST on this endpoint.", code="method_not_allowed")
    return Response(errors.body(error), 405, {"allow": "POST"}, "application/json")


def routes(services: Services) -> list[BaseRoute]:
    """The door's paths for Starlette's router: the app calls the ``POST`` endpoints
    directly, so these answer the other methods (405, in Anthropic's envelope)."""
    return [Route(path, method_not_allowed, methods=OTHER_METHODS) for path in PATHS]
