"""The PostgreSQL backend's grades: a grade written with its task's change, and read back.

Plain functions on one asyncpg connection; ``PostgresStore`` runs ``grade``
inside a transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from gateway.human.grades import Grade
from gateway.human.store import AuditEntry, Expected, Graded
from gateway.human.task import OPEN
from gateway.store import postgres_sql as q
from gateway.store import sql


async def grade(conn: asyncpg.Connection, grade: Grade, entry: AuditEntry, origin: str) -> Graded:
    """Add ``grade`` to its open task, once per reviewer; the task finishes with its last grade.

    ``origin`` (the process) goes into the notification, delivered at commit.
    """
    # The row lock orders graders of one task: each sees the count before it.
    row = await conn.fetchrow(q.BY_ID_FOR_UPDATE, grade.task_id)
    if row is None:
        return Graded(None, False)
    task = sql.task_from_row(row)
    if not task.is_open:
        return Graded(task, False)
    if await conn.fetchval(q.INSERT_GRADE, *sql.grade_args(grade)) is None:
        return Graded(task, False)  # this reviewer graded it already
    changes = sql.grade_changes(task, grade.reviewer, grade.at)
    statement, args = sql.transition(task.id, Expected(OPEN), changes)
    written = sql.task_from_row(await conn.fetchrow(sql.numbered(statement), *args))
    await conn.execute(q.INSERT_AUDIT, *sql.audit_args(entry))
    if not written.is_open:
        await conn.execute(q.DROP_TASK_ROWS, task.id)
    await conn.execute("SELECT pg_notify($1, $2)", q.CHANNEL, f"{origin}:{task.id}:task.graded")
    return Graded(written, True)


async def grades(conn: asyncpg.Connection, task_ids: Sequence[str]) -> dict[str, list[Grade]]:
    """Each task's grades, oldest first."""
    found: dict[str, list[Grade]] = {}
    if task_ids:
        for row in await conn.fetch(q.GRADES_OF, list(task_ids)):
            found.setdefault(row[0], []).append(sql.grade_from_row(tuple(row)))
    return found


async def grades_since(
    conn: asyncpg.Connection, since: float, limit: int
) -> list[tuple[str, str | None, Grade]]:
    """Grades given since ``since``: (model, rubric, grade)."""
    rows = await conn.fetch(q.GRADES_SINCE, since, limit)
    return [(row[0], row[1], sql.grade_from_row(tuple(row)[2:])) for row in rows]
