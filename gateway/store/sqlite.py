"""The SQLite backend: one file, one process, nothing to set up.

All calls run on one dedicated thread, so the event loop never blocks on disk
and SQLite sees a single writer. Each write is one ``BEGIN IMMEDIATE``
transaction whose conditional ``UPDATE ... RETURNING`` says whether it won.
Notifications stay in the process: a file is never shared by two gateways.
"""

from __future__ import annotations

import asyncio
import builtins
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import orjson

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
    StoreUnavailable,
)
from gateway.human.task import FINISHED, OPEN, Task
from gateway.store import export_sql, sql
from gateway.store.sqlite_migrate import migrate

T = TypeVar("T")
BUSY_TIMEOUT_MS = 5000
PING_TIMEOUT_MS = 200
# Errors of the database rather than of the statement: locked, gone, full, broken.
_UNAVAILABLE = (sqlite3.OperationalError, sqlite3.DatabaseError)
_STATEMENT_ERRORS = (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError)


class SQLiteStore:
    """The store in one SQLite file, in WAL mode."""

    shared = False
    process = "local"  # the one process that uses the file

    def __init__(self, path: str | Path, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.path = str(path)
        self.busy_timeout_ms = busy_timeout_ms
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        self._db: sqlite3.Connection | None = None
        self._listeners: list[Listener] = []

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        except _STATEMENT_ERRORS:
            raise
        except _UNAVAILABLE as error:
            raise StoreUnavailable(error) from error

    # -- life cycle ---------------------------------------------------------------------

    async def open(self) -> None:
        await self._run(self._open)

    def _open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
        migrate(db)
        self._db = db

    async def close(self) -> None:
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._executor.shutdown(wait=True)

    async def ping(self) -> bool:
        """Whether a write could start now: a locked file answers reads but not writes."""
        try:
            return await self._run(self._ping)
        except Exception:
            return False

    def _ping(self) -> bool:
        db = self._conn
        db.execute(f"PRAGMA busy_timeout={PING_TIMEOUT_MS}")
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute("ROLLBACK")
        finally:
            db.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
        return True

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _notify(self, task: Task, event: str | None) -> None:
        if event is not None:
            change = Change(task.id, event, task)
            for listener in self._listeners:
                listener(change)

    @property
    def _conn(self) -> sqlite3.Connection:
        assert self._db is not None, "store not open"
        return self._db

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        db = self._conn
        db.execute("BEGIN IMMEDIATE")
        try:
            result = fn(db)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return result

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

        stored, made = await self._run(self._write, write)
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

        task = await self._run(self._write, write)
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

        return await self._run(self._write, write)

    async def detach(self, task_id: str, gone_at: float, count: int = 1) -> Task | None:
        return await self._run(
            self._write, lambda db: _detach(db, task_id, self.process, gone_at, count)
        )

    async def forget_clients(self, gone_at: float) -> None:
        def write(db: sqlite3.Connection) -> None:
            db.execute(sql.FORGET_ROWS)
            db.execute(sql.FORGET_CLIENTS, (gone_at,))

        await self._run(self._write, write)

    async def heartbeat(self, now: float) -> bool:
        def write(db: sqlite3.Connection) -> bool:
            if db.execute(sql.TOUCH_PROCESS, (now, self.process)).fetchone():
                return True
            db.execute(sql.ADD_PROCESS, (self.process, now))
            return False

        return await self._run(self._write, write)

    async def bury(self, now: float, silent_s: float, gone_at: float) -> int:
        def write(db: sqlite3.Connection) -> int:
            buried = 0
            for (process,) in db.execute(sql.DEAD_PROCESSES, (now - silent_s,)).fetchall():
                if db.execute(sql.BURY_PROCESS, (process, now - silent_s)).fetchone():
                    buried += 1
                    for task_id, clients in db.execute(sql.TAKE_ROWS, (process,)).fetchall():
                        db.execute(sql.DETACH, (clients, clients, clients, gone_at, task_id))
            return buried

        return await self._run(self._write, write)

    async def leave(self) -> None:
        await self._run(self._write, lambda db: db.execute(sql.LEAVE_PROCESS, (self.process,)))

    async def due(self, now: float, limit: int = 500) -> list[Due]:
        rows = await self._run(self._all, sql.DUE, (now, now, now, now, limit))
        return [Due(task_id, deadline) for task_id, deadline in rows]

    # -- tasks: reads -----------------------------------------------------------------------

    def _all(self, statement: str, args: Sequence[Any]) -> list[Any]:
        return self._conn.execute(statement, args).fetchall()

    async def _tasks(self, statement: str, args: Sequence[Any]) -> list[Task]:
        return [sql.task_from_row(row) for row in await self._run(self._all, statement, args)]

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
        rows = await self._run(self._all, sql.REQUEST, (task_id,))
        return rows[0][0] if rows else None

    async def original(self, task_id: str) -> bytes | None:
        rows = await self._run(self._all, sql.ORIGINAL, (task_id,))
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
        rows = await self._run(self._all, sql.AUDIT + " ORDER BY rowid", (task_id,))
        return [AuditEntry(*row) for row in rows]

    async def stats(self, since: float) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            counts = dict(self._conn.execute(sql.STATUS_COUNTS).fetchall())
            seconds = [row[0] for row in self._conn.execute(sql.ANSWER_SECONDS, (since,))]
            kinds = sql.kinds_from_rows(self._conn.execute(sql.KIND_COUNTS, (since,)).fetchall())
            return {"counts": counts, "answer_seconds": seconds, "kinds": kinds}

        return await self._run(read)

    async def escalations_since(self, since: float) -> dict[tuple[str, str], int]:
        rows = await self._run(self._all, sql.ESCALATIONS, (since,))
        return {(model, reason): count for model, reason, count in rows}

    async def drafted_answers_since(self, since: float) -> builtins.list[tuple[dict, dict]]:
        return sql.drafted_from_rows(await self._run(self._all, sql.DRAFTED, (since,)))

    # -- grades -----------------------------------------------------------------------------

    async def grade(self, grade: Grade, entry: AuditEntry) -> Graded:
        def write(db: sqlite3.Connection) -> Graded:
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

        graded = await self._run(self._write, write)
        if graded.added and graded.task is not None:
            self._notify(graded.task, "task.graded")
        return graded

    async def grades(self, task_ids: Sequence[str]) -> dict[str, builtins.list[Grade]]:
        found: dict[str, list[Grade]] = {}
        for start in range(0, len(task_ids), 500):  # SQLite allows 32766 parameters
            chunk = list(task_ids[start : start + 500])
            marks = ", ".join("?" for _ in chunk)
            statement = f"{sql.GRADES_OF}({marks}) ORDER BY at"
            for row in await self._run(self._all, statement, chunk):
                found.setdefault(row[0], []).append(sql.grade_from_row(row))
        return found

    async def grades_since(
        self, since: float, limit: int = sql.GRADES_READ
    ) -> builtins.list[tuple[str, str | None, Grade]]:
        rows = await self._run(self._all, sql.GRADES_SINCE, (since, limit))
        return [(row[0], row[1], sql.grade_from_row(row[2:])) for row in rows]

    # -- stored responses ---------------------------------------------------------------------

    async def put_response(self, response: StoredResponse) -> None:
        args = (
            response.id,
            response.task_id,
            response.owner,
            response.session,
            response.body,
            orjson.dumps(response.input),
            time.time(),
        )
        await self._run(self._write, lambda db: db.execute(sql.PUT_RESPONSE, args))

    async def get_response(self, response_id: str) -> StoredResponse | None:
        rows = await self._run(self._all, sql.GET_RESPONSE, (response_id,))
        if not rows:
            return None
        row = rows[0]
        id, task_id, owner, session, body = row[:5]
        return StoredResponse(id, task_id, owner, session, body, orjson.loads(row[5]))

    async def delete_response(self, response_id: str) -> bool:
        def write(db: sqlite3.Connection) -> bool:
            return db.execute(sql.DELETE_RESPONSE, (response_id,)).rowcount > 0

        return await self._run(self._write, write)

    # -- forwarded responses ------------------------------------------------------------------

    async def put_forwarded(self, response_id: str, owner: str, expires_at: float) -> None:
        now = time.time()

        def write(db: sqlite3.Connection) -> None:
            db.execute(sql.PRUNE_FORWARDED, (now,))
            db.execute(sql.PUT_FORWARDED, (response_id, owner, expires_at))

        await self._run(self._write, write)

    async def forwarded_owner(self, response_id: str, now: float) -> str | None:
        rows = await self._run(self._all, sql.FORWARDED_OWNER, (response_id, now))
        return rows[0][0] if rows else None

    async def delete_forwarded(self, response_id: str) -> None:
        await self._run(self._write, lambda db: db.execute(sql.DELETE_FORWARDED, (response_id,)))

    async def fingerprint(self, fingerprint: str) -> str:
        def write(db: sqlite3.Connection) -> str:
            db.execute(sql.CLAIM_FINGERPRINT, (fingerprint,))
            return db.execute(sql.FINGERPRINT).fetchone()[0]

        return await self._run(self._write, write)

    # -- reviewer sessions ----------------------------------------------------------------------

    async def open_session(self, key: str, reviewer: str, now: float) -> None:
        await self._run(self._write, lambda db: db.execute(sql.OPEN_SESSION, (key, reviewer, now)))

    async def touch_session(self, key: str, now: float, idle_s: float) -> str | None:
        def write(db: sqlite3.Connection) -> str | None:
            row = db.execute(sql.TOUCH_SESSION, (now, key, now - idle_s)).fetchone()
            if row is None:
                db.execute(sql.CLOSE_SESSION, (key,))
                return None
            return row[0]

        return await self._run(self._write, write)

    async def close_session(self, key: str) -> None:
        await self._run(self._write, lambda db: db.execute(sql.CLOSE_SESSION, (key,)))

    # -- counters ---------------------------------------------------------------------------------

    async def add_counts(self, name: str, counts: Mapping[tuple[str, int], int]) -> None:
        rows = [(name, key, minute, n) for (key, minute), n in counts.items()]
        if not rows:
            return
        oldest = min(minute for _, minute in counts) - sql.KEEP_MINUTES

        def write(db: sqlite3.Connection) -> None:
            db.executemany(sql.ADD_COUNT, rows)
            db.execute(sql.PRUNE_COUNTS, (name, oldest))

        await self._run(self._write, write)

    async def counts_since(self, name: str, minute: int) -> dict[str, int]:
        rows = await self._run(self._all, sql.COUNTS_SINCE, (name, minute))
        return {key: int(total) for key, total in rows}

    # -- export, sessions and retention (gateway/export) --------------------------------------

    async def export_page(
        self, filter: TaskFilter, after: tuple[float, str] | None, limit: int
    ) -> builtins.list[tuple[Task, bytes | None]]:
        statement, args = export_sql.export_page(filter, after, limit, sql.COLUMN_LIST)
        rows = await self._run(self._all, statement, args)
        return [(sql.task_from_row(row[:-1]), row[-1]) for row in rows]

    async def sessions(
        self, filter: SessionFilter, after: tuple[float, str] | None, limit: int
    ) -> builtins.list[SessionSummary]:
        statement, args = export_sql.sessions(filter, after, limit, export_sql.SQLITE_MODELS)
        return [export_sql.summary(row) for row in await self._run(self._all, statement, args)]

    async def purge(self, before: float, limit: int) -> Purged:
        def write(db: sqlite3.Connection) -> Purged:
            ids = [row[0] for row in db.execute(*export_sql.purge_ids(before, limit))]
            if not ids:
                return Purged()
            measure = export_sql.purge_measure(len(ids), export_sql.SQLITE_IMAGES)
            requests, images, size = db.execute(measure, ids).fetchone()
            audit, responses, _, _, tasks = (
                db.execute(statement, ids).rowcount
                for statement in export_sql.purge_deletes(len(ids))
            )
            return Purged(tasks, requests, audit, responses, images, size)

        return await self._run(self._write, write)


def _detach(
    db: sqlite3.Connection, task_id: str, process: str, gone_at: float, count: int
) -> Task | None:
    row = db.execute(sql.DETACH, (count, count, count, gone_at, task_id)).fetchone()
    db.execute(sql.DETACH_ROW, (count, task_id, process))
    db.execute(sql.DROP_EMPTY_ROW, (task_id, process))
    return None if row is None else sql.task_from_row(row)
