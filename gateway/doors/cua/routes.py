"""Cua's door: the human-tool protocol of cua-agent, under ``/cua``.

``HUMAN_BASE_URL=http://<gateway>/cua`` is the whole change for a Cua user:
``POST /queue``, ``GET /status/{id}`` (the adapter's side), ``GET /pending``,
``POST /complete/{id}`` and ``POST /fail/{id}`` (the reviewer's side, for Cua's
own UI; the dashboard and the reviewer API answer the same tasks). Errors carry
that protocol's ``{"detail": ...}`` (what Cua's adapter reads) and, beside it,
OpenAI's ``error`` envelope, like every other error the gateway makes.

Auth: ``Authorization: Bearer <token>`` (Cua sends ``CUA_HUMAN_TOOL_TOKEN``).
The adapter's side needs a client key when client keys are set; the reviewer's
side a reviewer token when reviewer tokens are set, else the same client-key rule.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.doors.cua import protocol as cua
from gateway.errors import GatewayError, not_found
from gateway.http.asgi import peer
from gateway.http.body import read_body
from gateway.human.images import check_image_sizes
from gateway.human.outcome import HUMAN_ROUTE
from gateway.human.queue import TaskQueue
from gateway.human.task import OPEN, Task
from gateway.routes.reviewer import SESSION_COOKIE
from gateway.routing import HumanRoute
from gateway.services import services_of

PREFIX = "/cua"
Model = TypeVar("Model", bound=BaseModel)


Handler = Callable[[Request], Awaitable[Any]]


def detail(error: GatewayError) -> Response:
    """A gateway error as that protocol words it (FastAPI's ``{"detail": ...}``), enveloped."""
    headers = {"www-authenticate": "Bearer"} if error.status == 401 else None
    body = orjson.dumps({"detail": error.message, **error.envelope()})
    return Response(body, error.status, headers, media_type="application/json")


def protocol(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Answer with the handler's JSON, or a gateway error as ``{"detail": ...}``."""

    async def endpoint(request: Request) -> Response:
        try:
            return Response(orjson.dumps(await handler(request)), media_type="application/json")
        except GatewayError as error:
            return detail(error)

    return endpoint


def _client_of(request: Request) -> bytes:
    authorization = request.headers.get("authorization")
    return services_of(request).client_auth.identify(authorization, peer(request.scope))


async def _reviewer_of(request: Request) -> str:
    """The reviewer's side: a reviewer token when there are any, else the client-key rule."""
    auth = services_of(request).reviewer_auth
    credentials = request.headers.get("authorization")
    if not auth.enabled:
        _client_of(request)
        credentials = None
    return await auth.reviewer(
        credentials,
        request.cookies.get(SESSION_COOKIE),
        request.headers.get("x-reviewer"),
        peer(request.scope),
    )


async def _read(request: Request) -> bytes:
    limit = services_of(request).config.server.max_body_bytes
    return await read_body(request.scope, request.receive, limit)


async def _body_of(request: Request, model: type[Model]) -> Model:
    try:
        parsed = model.model_validate_json(await _read(request))
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "body"
        raise GatewayError(422, f"{where}: {error['msg']}", param=where) from None
    oversized = cua.oversized_integer(parsed.model_dump())
    if oversized is not None:
        raise GatewayError(
            422, f"{oversized}: integers beyond 64 bits are refused", param=oversized
        )
    return parsed


async def _polled_task(queue: TaskQueue, task_id: str) -> Task:
    task = await queue.get(task_id)
    if not task.polled:
        raise not_found("Completion call not found")
    return task


async def _messages(queue: TaskQueue, task: Task) -> list[Any]:
    request = orjson.loads(await queue.store.request(task.id) or b"{}")
    return request.get("messages") or []


async def root(request: Request) -> dict[str, str]:
    return {"message": "Human Completion Server is running (hitl-gateway)"}


async def queue_call(request: Request) -> dict[str, str]:
    services = services_of(request)
    client = _client_of(request)
    body = await _body_of(request, cua.QueueBody)
    check_image_sizes({"messages": body.messages})
    route = services.router.resolve(body.model)
    timeout = route.timeout_s if isinstance(route, HumanRoute) else None
    timeout = timeout or services.config.human.timeout_s
    task, stored = cua.new_task(body, client, timeout, services.human.steps)
    await services.queue.create(task, stored)
    services.metrics.escalated(body.model, HUMAN_ROUTE.reason)
    # Counted when queued: the call is answered later, through /status polls.
    services.metrics.request_done(body.model, "human", 200, api="cua")
    return {"id": task.id, "status": "queued"}


async def status(request: Request) -> dict[str, Any]:
    queue = services_of(request).queue
    client = _client_of(request)
    try:
        task = await _polled_task(queue, request.path_params["call_id"])
    except GatewayError:
        raise not_found("Completion call not found") from None
    if task.owner != client.hex():
        raise not_found("Completion call not found")
    body = cua.status_body(task, await _messages(queue, task))
    if not task.is_open:
        await queue.delivered(task)
    return body


async def pending(request: Request) -> dict[str, Any]:
    queue = services_of(request).queue
    await _reviewer_of(request)
    tasks = [task for task in await queue.store.list(OPEN, limit=5000) if task.polled]
    return {
        "pending_calls": [
            cua.pending_entry(queue.current(task), await _messages(queue, task)) for task in tasks
        ]
    }


async def complete(request: Request) -> dict[str, str]:
    services = services_of(request)
    name = await _reviewer_of(request)
    body = await _body_of(request, cua.CompleteBody)
    task = await _polled_task(services.queue, request.path_params["call_id"])
    await services.human.answer(task.id, name, body.answer())
    return {"status": "success", "message": "Call completed"}


async def fail(request: Request) -> dict[str, str]:
    queue = services_of(request).queue
    name = await _reviewer_of(request)
    try:
        body = orjson.loads(await _read(request) or b"{}")
    except orjson.JSONDecodeError:
        raise GatewayError(422, "body: Invalid JSON", param="body") from None
    error = body.get("error") if isinstance(body, dict) else None
    reason = error.strip() if isinstance(error, str) and error.strip() else "Unknown error"
    task = await _polled_task(queue, request.path_params["call_id"])
    await queue.reject(task.id, name, reason)
    return {"status": "failed"}


def routes() -> list[BaseRoute]:
    return [
        Route(PREFIX + "/", protocol(root), methods=["GET"]),
        Route(PREFIX + "/queue", protocol(queue_call), methods=["POST"]),
        Route(PREFIX + "/status/{call_id}", protocol(status), methods=["GET"]),
        Route(PREFIX + "/pending", protocol(pending), methods=["GET"]),
        Route(PREFIX + "/complete/{call_id}", protocol(complete), methods=["POST"]),
        Route(PREFIX + "/fail/{call_id}", protocol(fail), methods=["POST"]),
    ]
