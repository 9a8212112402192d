"""Export filters from the API's query string or the command line, checked once.

Times are ISO 8601 (``2025-03-01`` or ``2025-03-01T12:00:00+01:00``; without a
zone, UTC) or Unix seconds. A bad value raises ``OptionError`` naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from gateway.export.datasets import CONTENT_SHAPES, FORMATS
from gateway.export.stream import OUTCOMES, ExportQuery
from gateway.human.query import TaskFilter

FILTERS = ("since", "until", "model", "session", "reason", "reviewer", "outcome")


class OptionError(ValueError):
    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


def parse_time(value: str, param: str) -> float:
    """Unix seconds from ISO 8601 or a number."""
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise OptionError(param, f"{param} must be an ISO 8601 date or Unix seconds") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def task_filter(params: Mapping[str, str | None]) -> TaskFilter:
    """The filter on time range, model, session, reason and reviewer."""
    values = {key: params.get(key) or None for key in FILTERS}
    since = values["since"]
    until = values["until"]
    return TaskFilter(
        since=parse_time(since, "since") if since else None,
        until=parse_time(until, "until") if until else None,
        model=values["model"],
        session=values["session"],
        reason=values["reason"],
        reviewer=values["reviewer"],
    )


def export_query(params: Mapping[str, str | None], default_format: str = "records") -> ExportQuery:
    format = params.get("format") or default_format
    if format not in FORMATS:
        raise OptionError("format", f"format must be one of {', '.join(FORMATS)}.")
    outcome = params.get("outcome") or None
    if outcome is not None and outcome not in OUTCOMES:
        raise OptionError("outcome", f"outcome must be one of {', '.join(OUTCOMES)}.")
    content = params.get("content") or "strings"
    if content not in CONTENT_SHAPES:
        raise OptionError("content", f"content must be one of {', '.join(CONTENT_SHAPES)}.")
    return ExportQuery(format, task_filter(params), outcome, content)
