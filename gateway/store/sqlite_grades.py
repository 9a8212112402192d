"""The SQLite backend's grades: a reviewer's grade written with its task's change, and read back.

Plain functions on the store's connection, run on its one thread (``SQLiteStore``
calls them inside a transaction where they write).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from gateway.human.grades import Grade
from gateway.human.store import AuditEntry, Expected, Graded
from gateway.human.task import OPEN
from gateway.store import sql

CHUNK = 500  # task ids per statement: SQLite allows 32766 parameters


def grade(db: sqlite3.Connection, grade: Grade, entry: AuditEntry) -> Graded:
    """Add ``grade`` to its open task, once per reviewer; the task finishes with its last grade."""
    row = db.execute(sql.select_tasks("WHERE id = ?"), (grade.task_id,)).fetchone()
    if row is None:
        return Graded(None, False)
    task = sql.task_from_row(row)
    if not task.is_open:
        return Graded(task, False)
    if db.execute(sql.INSERT_GRADE, sql.grade_args(grade)).fetchone() is None:
        return Graded(task, False)  # this reviewer graded it already
    changes = sql.grade_changes(task, grade.reviewer, grade.at)
    statement, args = sql.transition(task.id, Expected(OPEN), changes)
    written = sql.task_from_row(db.execute(statement, args).fetchone())
    db.execute(sql.INSERT_AUDIT, sql.audit_args(entry))
    if not written.is_open:
        db.execute(sql.DROP_TASK_ROWS, (task.id,))
    return Graded(written, True)


def grades(db: sqlite3.Connection, task_ids: Sequence[str]) -> dict[str, list[Grade]]:
    """Each task's grades, oldest first."""
    found: dict[str, list[Grade]] = {}
    for start in range(0, len(task_ids), CHUNK):
        chunk = list(task_ids[start : start + CHUNK])
        marks = ", ".join("?" for _ in chunk)
        for row in db.execute(f"{sql.GRADES_OF}({marks}) ORDER BY at", chunk).fetchall():
            found.setdefault(row[0], []).append(sql.grade_from_row(row))
    return found


def grades_since(
    db: sqlite3.Connection, since: float, limit: int
) -> list[tuple[str, str | None, Grade]]:
    """Grades given since ``since``: (model, rubric, grade)."""
    rows = db.execute(sql.GRADES_SINCE, (since, limit)).fetchall()
    return [(row[0], row[1], sql.grade_from_row(row[2:])) for row in rows]
