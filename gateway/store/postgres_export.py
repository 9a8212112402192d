"""The PostgreSQL backend's reads for gateway/export, and retention's purge.

Plain functions on one asyncpg connection; the statements are ``export_sql``'s,
shared with SQLite, numbered for PostgreSQL. ``PostgresStore`` runs ``purge``
inside a transaction.
"""

from __future__ import annotations

import asyncpg

from gateway.human.query import Purged, SessionFilter, SessionSummary, TaskFilter
from gateway.human.task import Task
from gateway.store import export_sql, sql


async def export_page(
    conn: asyncpg.Connection, filter: TaskFilter, after: tuple[float, str] | None, limit: int
) -> list[tuple[Task, bytes | None]]:
    """A page of tasks with their requests, after the ``(created, id)`` cursor."""
    statement, args = export_sql.export_page(filter, after, limit, sql.COLUMN_LIST)
    rows = await conn.fetch(sql.numbered(statement), *args)
    return [(sql.task_from_row(tuple(row)[:-1]), row[-1]) for row in rows]


async def sessions(
    conn: asyncpg.Connection, filter: SessionFilter, after: tuple[float, str] | None, limit: int
) -> list[SessionSummary]:
    statement, args = export_sql.sessions(filter, after, limit, export_sql.POSTGRES_MODELS)
    rows = await conn.fetch(sql.numbered(statement), *args)
    return [export_sql.summary(tuple(row)) for row in rows]


async def purge(conn: asyncpg.Connection, before: float, limit: int) -> Purged:
    """Delete up to ``limit`` finished tasks older than ``before``, with all they kept."""
    statement, args = export_sql.purge_ids(before, limit)
    ids = [row[0] for row in await conn.fetch(sql.numbered(statement), *args)]
    if not ids:
        return Purged()
    measure = export_sql.purge_measure(len(ids), export_sql.POSTGRES_IMAGES)
    requests, images, size = await conn.fetchrow(sql.numbered(measure), *ids)
    counts = [
        int((await conn.execute(sql.numbered(statement), *ids)).split()[-1])
        for statement in export_sql.purge_deletes(len(ids))
    ]
    audit, responses, _, _, tasks = counts
    return Purged(tasks, requests, audit, responses, int(images), int(size))
