"""The reviewers' door: the JSON API the dashboard (and integrations) use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.auth import bearer_token
from gateway.errors import GatewayError, bad_request, not_found, unauthorized
from gateway.http.asgi import peer
from gateway.http.responses import error_response
from gateway.human.grades import describe
from gateway.human.groups import Groups, sees
from gateway.human.request import decode_image, image_urls, link_images, raster_type
from gateway.human.task import GRADE, OPEN, STATUSES, Task
from gateway.services import Services, services_of

SESSION_COOKIE = "hitl_session"
# On every image reply: the browser must not guess another type, and a document
# opened from it (a new tab, say) gets a sandbox with no script and no requests.
IMAGE_HEADERS = {
    "x-content-type-options": "nosniff",
    "content-security-policy": "sandbox; default-src 'none'",
}


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status, headers, media_type="application/json")


def task_view(
    task: Task,
    request: dict[str, Any],
    history: list[Any],
    sizes: list[tuple[int, int] | None] | None = None,
) -> dict[str, Any]:
    """The full task a reviewer works from; images are links, fetched when shown."""
    link = f"/api/tasks/{task.id}/images/"
    return {
        **task.summary(),
        "request": link_images(request, link),
        "images": sum(1 for _ in image_urls(request)),
        "image_sizes": sizes or [],
        "tools": task.tools,
        "tool_choice": task.tool_choice,
        "output_format": task.output_format,
        "lease_until": task.lease_until,
        "answer": task.answer,
        "result": task.result,
        "draft": task.draft,
        "reject_reason": task.reject_reason,
        "history": [
            {"at": entry.at, "event": entry.event, "actor": entry.actor, "detail": entry.detail}
            for entry in history
        ],
    }


async def reviewer_of(request: Request) -> str:
    """The reviewer making a request (token, session cookie or ``X-Reviewer``); else 401."""
    return await services_of(request).reviewer_auth.reviewer(
        request.headers.get("authorization"),
        request.cookies.get(SESSION_COOKIE),
        request.headers.get("x-reviewer"),
        peer(request.scope),
    )


async def groups_of(request: Request) -> Groups:
    """The groups whose work the reviewer making the request sees (401 for no reviewer)."""
    return services_of(request).reviewer_auth.groups_of(await reviewer_of(request))


async def _acting(request: Request) -> tuple[str, Task]:
    """The reviewer, and the task of the path, which they must see (else the 404 of a
    missing task)."""
    services = services_of(request)
    name = await reviewer_of(request)
    task_id = request.path_params["task_id"]
    task = await services.queue.get(task_id)
    if not sees(services.reviewer_auth.groups_of(name), task.groups):
        raise not_found(f"No task with id '{task_id}'.", code="task_not_found")
    return name, task


def _list_query(request: Request) -> tuple[tuple[str, ...], int]:
    """``?status=`` (comma-separated, default the open ones) and ``?limit=`` (at most 5000)."""
    wanted = request.query_params.get("status")
    statuses = tuple(s for s in wanted.split(",") if s) if wanted else OPEN
    unknown = [s for s in statuses if s not in STATUSES]
    if unknown:
        raise bad_request(f"Unknown status '{unknown[0]}'.", param="status")
    try:
        limit = min(int(request.query_params.get("limit", 500)), 5000)
    except ValueError:
        raise bad_request("limit must be a whole number.", param="limit") from None
    return statuses, limit


async def list_tasks(request: Request) -> Response:
    queue = services_of(request).queue
    name = await reviewer_of(request)
    statuses, limit = _list_query(request)
    params = request.query_params
    tasks = await queue.store.list(
        statuses,
        model=params.get("model"),
        session=params.get("session"),
        newest_first=params.get("order") == "newest",
        limit=limit,
        groups=services_of(request).reviewer_auth.groups_of(name),
        kind=params.get("kind") or None,
    )
    data = [queue.current(task).summary() for task in tasks]
    graded = [row["id"] for row in data if row["kind"] == GRADE and row["status"] in OPEN]
    if graded:  # so a queue can leave out what this reviewer graded already
        grades = await queue.store.grades(graded)
        for row in data:
            if row["kind"] == GRADE:
                row["graded_by_me"] = any(g.reviewer == name for g in grades.get(row["id"], []))
    return json_response({"object": "list", "data": data})


async def get_task(request: Request) -> Response:
    services = services_of(request)
    queue = services.queue
    name, task = await _acting(request)
    await queue.renew(task.id, name)
    body = await queue.store.request(task.id)
    history = await queue.store.audit(task.id)
    request_data = orjson.loads(body or b"{}")
    decoded = [decode_image(url) for url in image_urls(request_data)]
    sizes = await services.thumbnails.sizes([d[1] if d else b"" for d in decoded])
    view = task_view(task, request_data, history, sizes)
    # A draft's confidence means something next to the model's threshold.
    policy = getattr(services.router.resolve(task.model), "policy", None)
    view["threshold"] = getattr(policy, "min_confidence", None)
    if task.kind == GRADE:
        view.update(await _grading_view(services, task, name))
    return json_response(view)


async def _grading_view(services: Services, task: Task, name: str) -> dict[str, Any]:
    """The rubric, and the grades: blind (only this reviewer's) until the task is done."""
    grades = (await services.queue.store.grades([task.id])).get(task.id, [])
    shown = grades if not task.is_open else [g for g in grades if g.reviewer == name]
    rubric = services.human.grading.rubrics.get(task.rubric or "")
    items = [
        {**item.model_dump(exclude_none=True), "takes": describe(item), "required": item.needed}
        for item in (rubric.items if rubric else [])
    ]
    return {
        "rubric_items": items,
        "grades": [grade.view() for grade in shown],
        "graded_by_me": any(grade.reviewer == name for grade in grades),
    }


async def grade(request: Request) -> Response:
    name, task = await _acting(request)
    grading = services_of(request).human.grading
    task = await grading.grade(task, name, await request.body())
    return json_response(task.summary())


async def claim(request: Request) -> Response:
    name, task = await _acting(request)
    task = await services_of(request).queue.claim(task.id, name)
    return json_response(task.summary())


async def release(request: Request) -> Response:
    name, task = await _acting(request)
    task = await services_of(request).queue.release(task.id, name)
    return json_response(task.summary())


async def answer(request: Request) -> Response:
    services = services_of(request)
    name, task = await _acting(request)  # 404 for unknown ids and other groups' tasks
    if task.kind == GRADE:
        raise GatewayError(
            409, f"Task {task.id} is a grade task: grade it instead.", code="grade_task"
        )
    task = await services.human.answer(task.id, name, await request.body())
    return json_response(task.summary())


async def reject(request: Request) -> Response:
    name, task = await _acting(request)
    try:
        data = orjson.loads(await request.body() or b"{}")
    except orjson.JSONDecodeError:
        raise bad_request("The body is not valid JSON.") from None
    reason = data.get("reason") if isinstance(data, dict) else None
    if not isinstance(reason, str) or not reason.strip():
        raise GatewayError(422, "reason: a rejection needs a reason", param="reason")
    task = await services_of(request).queue.reject(task.id, name, reason.strip())
    return json_response(task.summary())


async def image(request: Request) -> Response:
    """The n-th image of a task's request; ``?w=`` for a reduced JPEG of that width."""
    services = services_of(request)
    _, task = await _acting(request)
    task_id = task.id
    body = await services.queue.store.request(task_id)
    index = request.path_params.get("index")
    urls = list(image_urls(orjson.loads(body))) if body else []
    if index is None:  # the latest: what the agent sees now
        index = len(urls) - 1
    decoded = decode_image(urls[index]) if 0 <= index < len(urls) else None
    if decoded is None:
        missing = not_found(f"Task {task_id} has no image {index}.")
        missing.headers.update(IMAGE_HEADERS)
        raise missing
    media_type, data = raster_type(decoded[1]), decoded[1]
    if media_type is None:
        # Decided by the bytes, not the declared type: an SVG (or HTML) served
        # from this origin could run the client's script with a reviewer's session.
        raise GatewayError(
            415,
            f"Task {task_id}'s image {index} is not a PNG, JPEG, GIF or WebP image; "
            "it is not served.",
            code="unsupported_image",
            headers=IMAGE_HEADERS,
        )
    if "w" in request.query_params:
        width = services.thumbnails.width(request.query_params["w"])
        thumb = await services.thumbnails.get(task_id, index, width, data)
        if thumb is None:
            missing = not_found(f"Image {index} of task {task_id} cannot be read.")
            missing.headers.update(IMAGE_HEADERS)
            raise missing
        media_type, data = "image/jpeg", thumb
    headers = {**IMAGE_HEADERS, "cache-control": "private, max-age=3600"}
    return Response(data, media_type=media_type, headers=headers)


async def events(request: Request) -> Response:
    groups = await groups_of(request)
    fanout = services_of(request).events

    async def stream() -> AsyncIterator[ServerSentEvent]:
        async with fanout.subscribe() as inbox:
            yield ServerSentEvent(comment="connected")
            while (event := await inbox.get()) is not None:
                if groups is not None and not sees(groups, _groups_of(event.data)):
                    continue  # another group's task: absent for this reviewer
                yield ServerSentEvent(event.data, event=event.name)

    return EventSourceResponse(
        stream(),
        ping=15,
        ping_message_factory=lambda: ServerSentEvent(comment="keep-alive"),
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )


async def stats(request: Request) -> Response:
    await reviewer_of(request)
    return json_response(await services_of(request).stats.summary())


async def me(request: Request) -> Response:
    enabled = services_of(request).reviewer_auth.enabled
    return json_response({"reviewer": await reviewer_of(request), "auth": enabled})


async def login(request: Request) -> Response:
    auth = services_of(request).reviewer_auth
    try:
        data = orjson.loads(await request.body() or b"{}")
    except orjson.JSONDecodeError:
        raise bad_request("The body is not valid JSON.") from None
    token = data.get("token") if isinstance(data, dict) else None
    if auth.enabled:  # a login without a token is a failed login too
        name = auth.name_for_token(token if isinstance(token, str) else "", peer(request.scope))
    else:
        name = await reviewer_of(request)
    if name is None:
        raise unauthorized("Unknown reviewer token.")
    response = json_response({"reviewer": name, "auth": auth.enabled})
    if auth.enabled:
        response.set_cookie(
            SESSION_COOKIE,
            await auth.open_session(name),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
    return response


async def logout(request: Request) -> Response:
    # Like every /api/ path but login, this needs a live session or token; a
    # stale cookie is still cleared, so the browser forgets it either way.
    auth = services_of(request).reviewer_auth
    cookie = request.cookies.get(SESSION_COOKIE)
    known = not auth.enabled or await auth.name_for_session(cookie) is not None
    token = bearer_token(request.headers.get("authorization"))
    known = known or auth.name_for_token(token, peer(request.scope)) is not None
    await auth.close_session(cookie)
    if known:
        response = json_response({"ok": True})
    else:
        response = error_response(unauthorized("Reviewer login required."))
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def routes() -> list[BaseRoute]:
    return [
        Route("/api/tasks", list_tasks, methods=["GET"]),
        Route("/api/tasks/{task_id}", get_task, methods=["GET"]),
        Route("/api/tasks/{task_id}/claim", claim, methods=["POST"]),
        Route("/api/tasks/{task_id}/release", release, methods=["POST"]),
        Route("/api/tasks/{task_id}/answer", answer, methods=["POST"]),
        Route("/api/tasks/{task_id}/reject", reject, methods=["POST"]),
        Route("/api/tasks/{task_id}/grade", grade, methods=["POST"]),
        Route("/api/tasks/{task_id}/images/{index:int}", image, methods=["GET"]),
        Route("/api/tasks/{task_id}/images/latest", image, methods=["GET"]),
        Route("/api/events", events, methods=["GET"]),
        Route("/api/stats", stats, methods=["GET"]),
        Route("/api/me", me, methods=["GET"]),
        Route("/api/login", login, methods=["POST"]),
        Route("/api/logout", logout, methods=["POST"]),
    ]


def _groups_of(data: str) -> list[str]:
    """The groups of the task an event's JSON summary describes."""
    groups = orjson.loads(data).get("groups")
    return groups if isinstance(groups, list) else []
