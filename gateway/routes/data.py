"""The data door: exports, sessions (trajectories) and the calibration report.

Reviewer-authenticated like the rest of ``/api``. Exports stream from the store
a page at a time; the chart is drawn here from numbers only.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import replace
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from gateway.errors import bad_request, not_found
from gateway.export.chart import calibration_svg
from gateway.export.options import OptionError, export_query, parse_time, task_filter
from gateway.export.redact import LineFinisher
from gateway.export.report import calibration_dicts, calibrations
from gateway.export.stream import ExportStats, export_lines, session_steps, session_tasks
from gateway.export.trajectory import session_head
from gateway.human.groups import Groups, sees
from gateway.human.query import SessionFilter
from gateway.routes.reviewer import IMAGE_HEADERS, groups_of, json_response
from gateway.services import services_of

MAX_SESSIONS_PAGE = 500


def _cursor(started_at: float, session: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([started_at, session])).decode()


def _after(cursor: str | None) -> tuple[float, str] | None:
    if not cursor:
        return None
    try:
        started_at, session = orjson.loads(base64.urlsafe_b64decode(cursor))
        return float(started_at), str(session)
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise bad_request("after is not a cursor this API gave.", param="after") from None


def _target(value: str | None, param: str) -> float | None:
    if not value:
        return None
    try:
        rate = float(value)
    except ValueError:
        rate = -1.0
    if not 0 <= rate <= 1:
        raise bad_request(f"{param} must be a rate between 0 and 1.", param=param)
    return rate


def _options(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except OptionError as error:
        raise bad_request(str(error), param=error.param) from None


async def export(request: Request) -> Response:
    services = services_of(request)
    groups = await groups_of(request)
    query = _options(export_query, request.query_params)
    query = replace(query, tasks=replace(query.tasks, groups=groups))
    finisher = LineFinisher(services.config.export.redact)
    lines = export_lines(services.queue.store, query, finisher, ExportStats())
    return StreamingResponse(
        lines,
        media_type="application/x-ndjson",
        headers={"content-disposition": f'attachment; filename="hitl-{query.format}.jsonl"'},
    )


async def list_sessions(request: Request) -> Response:
    groups = await groups_of(request)
    params = request.query_params
    try:
        limit = max(1, min(int(params.get("limit", 50)), MAX_SESSIONS_PAGE))
    except ValueError:
        raise bad_request("limit must be a whole number.", param="limit") from None
    since, until = params.get("since"), params.get("until")
    filter = SessionFilter(
        since=_options(parse_time, since, "since") if since else None,
        until=_options(parse_time, until, "until") if until else None,
        model=params.get("model") or None,
        reviewer=params.get("reviewer") or None,
        newest_first=params.get("order") == "newest",
        groups=groups,
    )
    store = services_of(request).queue.store
    page = await store.sessions(filter, _after(params.get("after")), limit)
    last = page[-1] if len(page) == limit else None
    return json_response(
        {
            "object": "list",
            "data": [summary.as_dict() for summary in page],
            "next": _cursor(last.started_at, last.session) if last else None,
        }
    )


async def get_session(request: Request) -> Response:
    groups = await groups_of(request)
    store = services_of(request).queue.store
    session = request.path_params["session"]
    tasks = [t for t in await session_tasks(store, session) if sees(groups, t.groups)]
    if not tasks:
        raise not_found(f"No session '{session}'.", code="session_not_found")
    steps = [step async for step in session_steps(store, tasks, LineFinisher(), link=True)]
    return json_response({**session_head(session, tasks), "steps": steps})


async def report(request: Request) -> Response:
    reports = await _report(request, await groups_of(request))
    return json_response({"object": "list", "data": calibration_dicts(reports)})


async def chart(request: Request) -> Response:
    return Response(
        calibration_svg(await _report(request, await groups_of(request))),
        media_type="image/svg+xml",
        headers={**IMAGE_HEADERS, "cache-control": "no-store"},
    )


async def _report(request: Request, groups: Groups) -> list[Any]:
    services = services_of(request)
    params = request.query_params
    escalation = _target(params.get("target_escalation"), "target_escalation")
    error = _target(params.get("target_error"), "target_error")
    if escalation is not None and error is not None:
        raise bad_request("Give target_escalation or target_error, not both.")
    return await calibrations(
        services.queue.store,
        services.config,
        replace(_options(task_filter, params), groups=groups),
        target_escalation=escalation,
        target_error=error,
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/api/export", export, methods=["GET"]),
        Route("/api/sessions", list_sessions, methods=["GET"]),
        Route("/api/sessions/{session:path}", get_session, methods=["GET"]),
        Route("/api/calibration", report, methods=["GET"]),
        Route("/api/calibration.svg", chart, methods=["GET"]),
    ]
