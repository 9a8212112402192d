"""The SQLite backend: one file, one process, nothing to set up.

All calls run on the file's one thread (``sqlite_file.SQLiteFile``), so the
event loop never blocks on disk and SQLite sees a single writer. Each write is
one ``BEGIN IMMEDIATE`` transaction whose conditional ``UPDATE ... RETURNING``
says whether it won. Notifications stay in the process: a file is never shared
by two gateways. Grades, response ids and the export's reads are plain functions
in ``sqlite_grades``, ``sqlite_responses`` and ``sqlite_export``.
"""

from __future__ import annotations

import builtins
import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gateway.human.grades import Grade
from gateway.human.query import Purged, SessionFilter, SessionSummary, TaskFilter
from gateway.human.store import (
    AuditEntry,
    Change,
    Due,
    Expected,
    Graded,
    Listener,
    StoredResponse,
)
from gateway.human.task import FINISHED, Task
from gateway.store import sql, sqlite_export, sqlite_grades, sqlite_responses
from gateway.store.sqlite_file import BUSY_TIMEOUT_MS, SQLiteFile


class SQLiteStore:
    """The store in one SQLite file, in WAL mode."""

    shared = False
    process = "local"  # the one process that uses the file

    def __init__(self, path: str | Path, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.file = SQLiteFile(path, busy_timeout_ms)
        self._listeners: list[Listener] = []

    # -- life cycle ---------------------------------------------------------------------

    async def open(self) -> None:
        await self.file.open()

    async def close(self) -> None:
        await self.file.close()

    async def ping(self) -> bool:
        return await self.file.ping()

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _notify(self, task: Task, event: str | None) -> None:
        if event is not None:
            change = Change(task.id, event, task)
            for listener in self._listeners:
                listener(change)

    # -- tasks: conditional writes --------------------------------------------------------

    async def create(
        self, task: Task, request: bytes, entry: AuditEntry, original: bytes | None = None
    ) -> tuple[Task, bool]:
        def write(db: sqlite3.Connection) -> tuple[Task, bool]:
            row = db.execute(sql.INSERT_TASK, sql.task_row(task)).fetchone()
            if row is None:
                found = db.execute(sql.OPEN_BY_DEDUP, (task.dedup,)).fetchone()
                return sql.task_from_row(found), False
            db.execute(sql.INSERT_REQUEST, (task.id, request, original))
            db.execute(sql.INSERT_AUDIT, sql.audit_args(entry))
            if task.clients > 0:
                db.execute(sql.ATTACH_ROW, (task.id, self.process, task.clients))
            return sql.task_from_row(row), True

        stored, made = await self.file.change(write)
        if made:
            self._notify(stored, "task.created")
        return stored, made

    async def transition(
        self,
        task_id: str,
        guard: Expected,
        changes: Mapping[str, Any],
        entry: AuditEntry | None = None,
        event: str | None = None,
    ) -> Task | None:
        statement, args = sql.transition(task_id, guard, changes)

        def write(db: sqlite3.Connection) -> Task | None:
            row = db.execute(statement, args).fetchone()
            if row is None:
                return None
            if entry is not None:
                db.execute(sql.INSERT_AUDIT, sql.audit_args(entry))
            if changes.get("status") in FINISHED:
                db.execute(sql.DROP_TASK_ROWS, (task_id,))
            return sql.task_from_row(row)

        task = await self.file.change(write)
        if task is not None:
            self._notify(task, event)
        return task

    async def attach(self, task_id: str, count: int = 1) -> Task | None:
        def write(db: sqlite3.Connection) -> Task | None:
            row = db.execute(sql.ATTACH, (count, task_id)).fetchone()
            if row is None:
                return None
            db.execute(sql.ATTACH_ROW, (task_id, self.process, count))
            return sql.task_from_row(row)

        return await self.file.change(write)

    async def detach(self, task_id: str, gone_at: float, count: int = 1) -> Task | None:
        return await self.file.change(_detach, task_id, self.process, gone_at, count)

    async def forget_clients(self, gone_at: float) -> None:
        def write(db: sqlite3.Connection) -> None:
            db.execute(sql.FORGET_ROWS)
            db.execute(sql.FORGET_CLIENTS, (gone_at,))

        await self.file.change(write)

    async def heartbeat(self, now: float) -> bool:
        def write(db: sqlite3.Connection) -> bool:
            if db.execute(sql.TOUCH_PROCESS, (now, self.process)).fetchone():
                return True
            db.execute(sql.ADD_PROCESS, (self.process, now))
            return False

        return await self.file.change(write)

    async def bury(self, now: float, silent_s: float, gone_at: float) -> int:
        def write(db: sqlite3.Connection) -> int:
            buried = 0
            for (process,) in db.execute(sql.DEAD_PROCESSES, (now - silent_s,)).fetchall():
                if db.execute(sql.BURY_PROCESS, (process, now - silent_s)).fetchone():
                    buried += 1
                    for task_id, clients in db.execute(sql.TAKE_ROWS, (process,)).fetchall():
                        db.execute(sql.DETACH, (clients, clients, clients, gone_at, task_id))
            return buried

        return await self.file.change(write)

    async def leave(self) -> None:
        await self.file.change(lambda db: db.execute(sql.LEAVE_PROCESS, (self.process,)))

    async def due(self, now: float, limit: int = 500) -> list[Due]:
        rows = await self.file.rows(sql.DUE, (now, now, now, now, limit))
        return [Due(task_id, deadline) for task_id, deadline in rows]

    # -- tasks: reads -----------------------------------------------------------------------

    async def _tasks(self, statement: str, args: Sequence[Any]) -> list[Task]:
        return [sql.task_from_row(row) for row in await self.file.rows(statement, args)]

    async def get(self, task_id: str) -> Task | None:
        found = await self._tasks(sql.select_tasks("WHERE id = ?"), (task_id,))
        return found[0] if found else None

    async def finished_among(self, task_ids: Sequence[str]) -> list[Task]:
        if not task_ids:
            return []
        marks = ", ".join("?" for _ in task_ids)
        where = f"WHERE id IN ({marks}) AND {sql.FINISHED_WHERE}"
        return await self._tasks(sql.select_tasks(where), list(task_ids))

    async def find(self, dedup: str, finished_since: float) -> Task | None:
        found = await self._tasks(sql.FIND, (dedup, finished_since))
        return found[0] if found else None

    async def request(self, task_id: str) -> bytes | None:
        rows = await self.file.rows(sql.REQUEST, (task_id,))
        return rows[0][0] if rows else None

    async def original(self, task_id: str) -> bytes | None:
        rows = await self.file.rows(sql.ORIGINAL, (task_id,))
        return rows[0][0] if rows else None

    async def list(
        self,
        statuses: Sequence[str],
        *,
        model: str | None = None,
        session: str | None = None,
        newest_first: bool = False,
        limit: int = 500,
        groups: frozenset[str] | None = None,
        kind: str | None = None,
    ) -> list[Task]:
        return await self._tasks(
            *sql.listing(statuses, model, session, newest_first, limit, groups, kind)
        )

    async def answered_after(
        self, after: float, *, model: str | None = None, limit: int = 200
    ) -> builtins.list[Task]:
        return await self._tasks(*sql.answered_after(after, model, limit))

    async def audit(self, task_id: str) -> builtins.list[AuditEntry]:
        rows = await self.file.rows(sql.AUDIT + " ORDER BY rowid", (task_id,))
        return [AuditEntry(*row) for row in rows]

    async def stats(self, since: float) -> dict[str, Any]:
        def read(db: sqlite3.Connection) -> dict[str, Any]:
            counts = dict(db.execute(sql.STATUS_COUNTS).fetchall())
            seconds = [row[0] for row in db.execute(sql.ANSWER_SECONDS, (since,))]
            kinds = sql.kinds_from_rows(db.execute(sql.KIND_COUNTS, (since,)).fetchall())
            return {"counts": counts, "answer_seconds": seconds, "kinds": kinds}

        return await self.file.read(read)

    async def escalations_since(self, since: float) -> dict[tuple[str, str], int]:
        rows = await self.file.rows(sql.ESCALATIONS, (since,))
        return {(model, reason): count for model, reason, count in rows}

    async def drafted_answers_since(self, since: float) -> builtins.list[tuple[dict, dict]]:
        return sql.drafted_from_rows(await self.file.rows(sql.DRAFTED, (since,)))

    # -- grades (sqlite_grades) ----------------------------------------------------------

    async def grade(self, grade: Grade, entry: AuditEntry) -> Graded:
        graded = await self.file.change(sqlite_grades.grade, grade, entry)
        if graded.added and graded.task is not None:
            self._notify(graded.task, "task.graded")
        return graded

    async def grades(self, task_ids: Sequence[str]) -> dict[str, builtins.list[Grade]]:
        return await self.file.read(sqlite_grades.grades, task_ids)

    async def grades_since(
        self, since: float, limit: int = sql.GRADES_READ
    ) -> builtins.list[tuple[str, str | None, Grade]]:
        return await self.file.read(sqlite_grades.grades_since, since, limit)

    # -- stored and forwarded responses (sqlite_responses) --------------------------------

    async def put_response(self, response: StoredResponse) -> None:
        await self.file.change(sqlite_responses.put_response, response, time.time())

    async def get_response(self, response_id: str) -> StoredResponse | None:
        return await self.file.read(sqlite_responses.get_response, response_id)

    async def delete_response(self, response_id: str) -> bool:
        return await self.file.change(sqlite_responses.delete_response, response_id)

    async def put_forwarded(self, response_id: str, owner: str, expires_at: float) -> None:
        put = sqlite_responses.put_forwarded
        await self.file.change(put, response_id, owner, expires_at, time.time())

    async def forwarded_owner(self, response_id: str, now: float) -> str | None:
        return await self.file.read(sqlite_responses.forwarded_owner, response_id, now)

    async def delete_forwarded(self, response_id: str) -> None:
        await self.file.change(sqlite_responses.delete_forwarded, response_id)

    # -- the installation's secret ------------------------------------------------------------

    async def fingerprint(self, fingerprint: str) -> str:
        def write(db: sqlite3.Connection) -> str:
            db.execute(sql.CLAIM_FINGERPRINT, (fingerprint,))
            return db.execute(sql.FINGERPRINT).fetchone()[0]

        return await self.file.change(write)

    # -- reviewer sessions ----------------------------------------------------------------------

    async def open_session(self, key: str, reviewer: str, now: float) -> None:
        await self.file.change(lambda db: db.execute(sql.OPEN_SESSION, (key, reviewer, now)))

    async def touch_session(self, key: str, now: float, idle_s: float) -> str | None:
        def write(db: sqlite3.Connection) -> str | None:
            row = db.execute(sql.TOUCH_SESSION, (now, key, now - idle_s)).fetchone()
            if row is None:
                db.execute(sql.CLOSE_SESSION, (key,))
                return None
            return row[0]

        return await self.file.change(write)

    async def close_session(self, key: str) -> None:
        await self.file.change(lambda db: db.execute(sql.CLOSE_SESSION, (key,)))

    # -- counters ---------------------------------------------------------------------------------

    async def add_counts(self, name: str, counts: Mapping[tuple[str, int], int]) -> None:
        rows = [(name, key, minute, n) for (key, minute), n in counts.items()]
        if not rows:
            return
        oldest = min(minute for _, minute in counts) - sql.KEEP_MINUTES

        def write(db: sqlite3.Connection) -> None:
            db.executemany(sql.ADD_COUNT, rows)
            db.execute(sql.PRUNE_COUNTS, (name, oldest))

        await self.file.change(write)

    async def counts_since(self, name: str, minute: int) -> dict[str, int]:
        rows = await self.file.rows(sql.COUNTS_SINCE, (name, minute))
        return {key: int(total) for key, total in rows}

    # -- export, sessions and retention (gateway/export; sqlite_export) ---------------------

    async def export_page(
        self, filter: TaskFilter, after: tuple[float, str] | None, limit: int
    ) -> builtins.list[tuple[Task, bytes | None]]:
        return await self.file.read(sqlite_export.export_page, filter, after, limit)

    async def sessions(
        self, filter: SessionFilter, after: tuple[float, str] | None, limit: int
    ) -> builtins.list[SessionSummary]:
        return await self.file.read(sqlite_export.sessions, filter, after, limit)

    async def purge(self, before: float, limit: int) -> Purged:
        return await self.file.change(sqlite_export.purge, before, limit)


def _detach(
    db: sqlite3.Connection, task_id: str, process: str, gone_at: float, count: int
) -> Task | None:
    row = db.execute(sql.DETACH, (count, count, count, gone_at, task_id)).fetchone()
    db.execute(sql.DETACH_ROW, (count, task_id, process))
    db.execute(sql.DROP_EMPTY_ROW, (task_id, process))
    return None if row is None else sql.task_from_row(row)
