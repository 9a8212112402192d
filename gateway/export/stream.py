"""Exports streamed from the store a page at a time, never loaded whole.

``export_lines`` yields JSON lines for one format. A task whose stored data
cannot make its line (a request that is not JSON, ``messages: null``, an
answer that fails the fine-tuning checks) is skipped and counted in
``ExportStats``; it never ends the stream for the other tasks. Fine-tuning
lines (``sft``, ``dpo``) are checked with ``validate_sft`` before they go out.
"""

from __future__ import annotations

import builtins
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Protocol

import orjson

from gateway.export.convert import Unconvertible
from gateway.export.datasets import (
    ALIASES,
    BUILDERS,
    VERDICTS,
    line_as_parts,
    verdict,
)
from gateway.export.graded import GRADED_BUILDERS
from gateway.export.redact import LineFinisher
from gateway.export.trajectory import StepBuilder, order_steps, session_head
from gateway.export.validate_sft import dpo_problems, sft_problems
from gateway.human.grades import Grade
from gateway.human.query import SessionFilter, SessionSummary, TaskFilter
from gateway.human.request import link_images
from gateway.human.task import ANSWERED, FINISHED, GRADE, REJECTED, STATUSES, Task

log = logging.getLogger("gateway.export")
PAGE = 200
SESSION_TASKS = 100_000  # a session's steps are listed without their requests
OUTCOMES = (*FINISHED, *VERDICTS[:3])  # statuses, and what happened to a draft
_CHECKS = {"sft": sft_problems, "dpo": dpo_problems}
_STATUSES = {"sft": (ANSWERED,), "dpo": (ANSWERED,), "eval": (ANSWERED, REJECTED)}


class ExportStore(Protocol):
    async def export_page(
        self, filter: TaskFilter, after: tuple[float, str] | None, limit: int
    ) -> list[tuple[Task, bytes | None]]: ...

    async def sessions(
        self, filter: SessionFilter, after: tuple[float, str] | None, limit: int
    ) -> list[SessionSummary]: ...

    async def list(
        self, statuses: Any, *, session: str | None = None, limit: int = 500
    ) -> list[Task]: ...

    async def request(self, task_id: str) -> bytes | None: ...

    async def original(self, task_id: str) -> bytes | None: ...

    async def grades(self, task_ids: Sequence[str]) -> dict[str, builtins.list[Grade]]: ...


@dataclass(slots=True)
class ExportStats:
    lines: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> tasks left out

    def skip(self, task: Task, reason: str) -> None:
        self.skipped[reason] += 1
        log.warning("export: task %s left out: %s", task.id, reason)


@dataclass(frozen=True, slots=True)
class ExportQuery:
    """A format and the filters the command line and the API share."""

    format: str = "records"
    tasks: TaskFilter = field(default_factory=TaskFilter)
    outcome: str | None = None  # a status, or approved / edited / replaced
    content: str = "strings"  # or "parts": every message's content a list of parts

    @property
    def kind(self) -> str:
        return ALIASES.get(self.format, self.format)

    def task_filter(self) -> TaskFilter:
        """The store filter: the format's statuses, narrowed by a status outcome."""
        statuses = _STATUSES.get(self.kind, FINISHED)
        if self.outcome in STATUSES:
            statuses = tuple(s for s in statuses if s == self.outcome)
        elif self.outcome in VERDICTS:
            statuses = tuple(s for s in statuses if s in (ANSWERED, REJECTED))
        drafted = self.kind in ("dpo", "eval") or self.outcome in VERDICTS
        return replace(self.tasks, statuses=statuses, drafted=drafted)

    def keeps(self, task: Task) -> bool:
        return self.outcome not in VERDICTS or verdict(task) == self.outcome


async def finished_tasks(
    store: ExportStore, filter: TaskFilter, page: int = PAGE
) -> AsyncIterator[tuple[Task, bytes | None]]:
    """Every task the filter keeps, with its request body, one page in memory at a time."""
    if not filter.statuses:
        return
    after: tuple[float, str] | None = None
    while True:
        rows = await store.export_page(filter, after, page)
        for task, body in rows:
            # Large bodies (screenshots) are not in the page: one is read at a time.
            yield task, body if body is not None else await store.request(task.id)
        if len(rows) < page:
            return
        last = rows[-1][0]
        after = (last.finished_at or 0.0, last.id)


def _request(body: bytes | None) -> Any:
    return orjson.loads(body) if body else None


def _kept(body: bytes | None) -> Any:
    """A stored body as JSON, or as text when it is not JSON (records keep everything)."""
    try:
        return _request(body)
    except orjson.JSONDecodeError:
        return (body or b"").decode("utf-8", "replace")


async def export_lines(
    store: ExportStore,
    query: ExportQuery,
    finish: Callable[[Any], Any] | None = None,
    stats: ExportStats | None = None,
    *,
    local_images: bool = False,
) -> AsyncIterator[bytes]:
    """The JSON lines of one export, each ending in a newline."""
    finish = finish or LineFinisher()
    stats = stats if stats is not None else ExportStats()
    if query.kind == "trajectory":
        async for chunk in _trajectories(store, query, finish, stats):
            yield chunk
        return
    build = BUILDERS[query.kind]
    check = _CHECKS.get(query.kind)
    async for task, body in finished_tasks(store, query.task_filter()):
        if not query.keeps(task):
            continue
        builder = build
        if task.kind == GRADE:  # a shadow sample: its lines come from its grades
            grades = (await store.grades([task.id])).get(task.id, [])
            builder = partial(_graded, GRADED_BUILDERS[query.kind], grades)
        # A door that translated its request (Anthropic's) kept the client's own: records
        # carry it beside the conversation form.
        kept = query.kind == "records" and task.translated  # one more read only then
        original = await store.original(task.id) if kept else None
        try:
            line = _line(builder, check, task, body, finish, local_images, query, original)
        except Exception as exc:  # one bad row is skipped, never the stream
            stats.skip(task, f"{type(exc).__name__}: {exc}")
            continue
        if line is None:
            continue
        stats.lines += 1
        yield line


def _graded(
    build: Callable[..., dict[str, Any] | None], grades: list[Grade], task: Task, request: Any
) -> dict[str, Any] | None:
    return build(task, request, grades)


def _line(
    build: Callable[[Task, Any], dict[str, Any] | None],
    check: Callable[..., list[str]] | None,
    task: Task,
    body: bytes | None,
    finish: Callable[[Any], Any],
    local_images: bool,
    query: ExportQuery,
    original: bytes | None = None,
) -> bytes | None:
    """One task's line, redacted and checked; raises on what cannot make one."""
    if query.kind == "records":  # records keep everything: a body that is not JSON as text
        line = build(task, _kept(body))
        if line is not None and original is not None:
            line["original"] = _kept(original)
    else:
        line = build(task, _request(body))
    if line is None:
        return None
    if query.content == "parts":
        line = line_as_parts(query.kind, line)
    line = finish(line)
    problems = check(line, local_images=local_images) if check else []
    if problems:
        raise Unconvertible(problems[0])
    return orjson.dumps(line) + b"\n"


async def session_tasks(store: ExportStore, session: str) -> list[Task]:
    """A session's tasks (without their requests) in trajectory order."""
    return order_steps(await store.list(STATUSES, session=session, limit=SESSION_TASKS))


async def session_steps(
    store: ExportStore, tasks: list[Task], finish: Callable[[Any], Any], link: bool = False
) -> AsyncIterator[dict[str, Any]]:
    """Each step of a session, its request read when its turn comes.

    ``link`` replaces inline images with their ``/api/tasks/{id}/images/{n}`` links.
    """
    builder = StepBuilder()
    for task in tasks:
        try:
            request = _request(await store.request(task.id))
        except orjson.JSONDecodeError:
            request = None
        if link and request is not None:
            request = link_images(request, f"/api/tasks/{task.id}/images/")
        yield finish(builder.step(task, request if isinstance(request, dict) else {}))


async def _trajectories(
    store: ExportStore, query: ExportQuery, finish: Callable[[Any], Any], stats: ExportStats
) -> AsyncIterator[bytes]:
    """One line per session, written a step at a time: ``{..., "steps": [...]}``."""
    f = query.tasks
    sessions = SessionFilter(
        since=f.since, until=f.until, model=f.model, reviewer=f.reviewer, session=f.session
    )
    after: tuple[float, str] | None = None
    while True:
        page = await store.sessions(sessions, after, PAGE)
        for summary in page:
            tasks = await session_tasks(store, summary.session)
            if not tasks:
                continue
            head = orjson.dumps(finish(session_head(summary.session, tasks)))
            yield head[:-1] + b', "steps": ['
            separator = b""
            async for step in session_steps(store, tasks, finish):
                if query.content == "parts":
                    step = line_as_parts("trajectory", step)
                yield separator + orjson.dumps(step)
                separator = b", "
            stats.lines += 1
            yield b"]}\n"
        if len(page) < PAGE:
            return
        after = (page[-1].started_at, page[-1].session)
