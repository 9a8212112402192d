"""The SQLite backend's reads for gateway/export, and retention's purge.

Plain functions on the store's connection, run on its one thread; the
statements are ``export_sql``'s, shared with PostgreSQL.
"""

from __future__ import annotations

import sqlite3

from gateway.human.query import Purged, SessionFilter, SessionSummary, TaskFilter
from gateway.human.task import Task
from gateway.store import export_sql, sql


def export_page(
    db: sqlite3.Connection, filter: TaskFilter, after: tuple[float, str] | None, limit: int
) -> list[tuple[Task, bytes | None]]:
    """A page of tasks with their requests, after the ``(created, id)`` cursor."""
    statement, args = export_sql.export_page(filter, after, limit, sql.COLUMN_LIST)
    rows = db.execute(statement, args).fetchall()
    return [(sql.task_from_row(row[:-1]), row[-1]) for row in rows]


def sessions(
    db: sqlite3.Connection, filter: SessionFilter, after: tuple[float, str] | None, limit: int
) -> list[SessionSummary]:
    statement, args = export_sql.sessions(filter, after, limit, export_sql.SQLITE_MODELS)
    return [export_sql.summary(row) for row in db.execute(statement, args).fetchall()]


def purge(db: sqlite3.Connection, before: float, limit: int) -> Purged:
    """Delete up to ``limit`` finished tasks older than ``before``, with all they kept."""
    ids = [row[0] for row in db.execute(*export_sql.purge_ids(before, limit))]
    if not ids:
        return Purged()
    measure = export_sql.purge_measure(len(ids), export_sql.SQLITE_IMAGES)
    requests, images, size = db.execute(measure, ids).fetchone()
    audit, responses, _, _, tasks = (
        db.execute(statement, ids).rowcount for statement in export_sql.purge_deletes(len(ids))
    )
    return Purged(tasks, requests, audit, responses, images, size)
