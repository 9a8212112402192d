"""SQL for the export, the sessions view and retention, shared by both backends.

Written with ``?`` placeholders like ``sql.py`` (PostgreSQL's backend numbers
them). Where the dialects differ (joining strings, counting images in a
request body) the backend passes its own expression.
"""

from __future__ import annotations

from typing import Any

from gateway.human.query import SessionFilter, SessionSummary, TaskFilter
from gateway.human.task import FINISHED, OPEN
from gateway.store.sql import visible_to

_FINISHED_SQL = "(" + ", ".join(f"'{status}'" for status in FINISHED) + ")"
_OPEN_SQL = "(" + ", ".join(f"'{status}'" for status in OPEN) + ")"
IMAGE_MARK = "data:image/"
# Images in a request body, counted in the database so no body is read here.
SQLITE_IMAGES = (
    f"(length(CAST(body AS TEXT)) - length(replace(CAST(body AS TEXT), '{IMAGE_MARK}', '')))"
    f" / {len(IMAGE_MARK)}"
)
POSTGRES_IMAGES = (
    f"COALESCE(array_length(string_to_array(convert_from(body, 'UTF8'), '{IMAGE_MARK}'), 1) - 1, 0)"
)
SQLITE_MODELS = "GROUP_CONCAT(DISTINCT model)"
# Request bodies up to this size come with their page; larger ones (screenshots) are
# left out (None) and read one at a time, so a page never holds many of them.
INLINE_BODY_BYTES = 256 * 1024
POSTGRES_MODELS = "string_agg(DISTINCT model, ',')"


def _narrow(
    clauses: list[str],
    args: list[Any],
    equal: dict[str, Any],
    time_column: str,
    since: float | None,
    until: float | None,
) -> None:
    """Add ``column = ?`` for each given value and ``since <= time_column < until``."""
    for column, value in equal.items():
        if value is not None:
            clauses.append(f"{column} = ?")
            args.append(value)
    if since is not None:
        clauses.append(f"{time_column} >= ?")
        args.append(since)
    if until is not None:
        clauses.append(f"{time_column} < ?")
        args.append(until)


def _visible(clauses: list[str], args: list[Any], groups: frozenset[str] | None) -> None:
    """Keep only the tasks a reviewer in ``groups`` sees (``None``: every task)."""
    if groups is not None:
        clause, group_args = visible_to(groups)
        clauses.append(clause)
        args += group_args


def export_page(
    f: TaskFilter, after: tuple[float, str] | None, limit: int, columns: str
) -> tuple[str, list[Any]]:
    """Finished tasks (``columns``, then the request body when at most
    ``INLINE_BODY_BYTES``, else NULL), by (finished_at, id) after ``after``."""
    clauses = [f"status IN ({', '.join('?' for _ in f.statuses)})", "finished_at IS NOT NULL"]
    args: list[Any] = list(f.statuses)
    equal = {"model": f.model, "session": f.session, "reason": f.reason, "answered_by": f.reviewer}
    _narrow(clauses, args, equal, "finished_at", f.since, f.until)
    _visible(clauses, args, f.groups)
    if f.drafted:  # a permission task's proposed tool call stands for a draft
        clauses.append("(draft IS NOT NULL OR kind = 'permission')")
    if after is not None:
        clauses.append("(finished_at > ? OR (finished_at = ? AND id > ?))")
        args += [after[0], after[0], after[1]]
    statement = (
        f"SELECT {columns}, (SELECT CASE WHEN length(body) <= {INLINE_BODY_BYTES} THEN body END "
        "FROM requests WHERE task_id = tasks.id) "
        f"FROM tasks WHERE {' AND '.join(clauses)} ORDER BY finished_at, id LIMIT ?"
    )
    return statement, [*args, limit]


def sessions(
    f: SessionFilter, after: tuple[float, str] | None, limit: int, models_sql: str
) -> tuple[str, list[Any]]:
    """Sessions with their task counts, by first task's creation (keyset on it and the id)."""
    clauses: list[str] = []
    args: list[Any] = []
    equal = {"model": f.model, "answered_by": f.reviewer, "session": f.session}
    _narrow(clauses, args, equal, "created_at", f.since, f.until)
    _visible(clauses, args, f.groups)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    having = ""
    if after is not None:
        op = "<" if f.newest_first else ">"
        having = f"HAVING (MIN(created_at) {op} ? OR (MIN(created_at) = ? AND session {op} ?))"
        args += [after[0], after[0], after[1]]
    order = "DESC" if f.newest_first else "ASC"
    statement = (
        "SELECT session, COUNT(*), "
        f"SUM(CASE WHEN status IN {_OPEN_SQL} THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN status = 'answered' THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN status = 'rejected' THEN 1 ELSE 0 END), "
        f"MIN(created_at), MAX(COALESCE(finished_at, created_at)), {models_sql} "
        f"FROM tasks {where} GROUP BY session {having} "
        f"ORDER BY MIN(created_at) {order}, session {order} LIMIT ?"
    )
    return statement, [*args, limit]


def purge_ids(before: float, limit: int) -> tuple[str, list[Any]]:
    """A batch of finished tasks that finished before ``before``."""
    return (
        f"SELECT id FROM tasks WHERE status IN {_FINISHED_SQL} AND finished_at < ? "
        "ORDER BY finished_at LIMIT ?",
        [before, limit],
    )


def purge_measure(count: int, images_sql: str) -> str:
    """Requests, images and bytes the batch's request bodies hold."""
    marks = ", ".join("?" for _ in range(count))
    return (
        f"SELECT COUNT(*), COALESCE(SUM({images_sql}), 0), COALESCE(SUM(length(body)), 0) "
        f"FROM requests WHERE task_id IN ({marks})"
    )


def summary(row: Any) -> SessionSummary:
    """A ``sessions`` row as a summary."""
    session, tasks, open_, answered, rejected, started, last, models = row
    return SessionSummary(
        session, tasks, open_, answered, rejected, started, last,
        tuple(sorted(set((models or "").split(",")) - {""})),
    )  # fmt: skip


def purge_deletes(count: int) -> list[str]:
    """The deletes of one batch, task rows last: audit, responses, requests, grades, tasks."""
    marks = ", ".join("?" for _ in range(count))
    return [
        f"DELETE FROM audit WHERE task_id IN ({marks})",
        f"DELETE FROM responses WHERE task_id IN ({marks})",
        f"DELETE FROM requests WHERE task_id IN ({marks})",
        f"DELETE FROM grades WHERE task_id IN ({marks})",
        f"DELETE FROM tasks WHERE id IN ({marks}) AND status IN {_FINISHED_SQL}",
    ]
