"""The PostgreSQL backend: many gateway processes, on many machines, one database.

Driver: asyncpg. It is asyncio-native with a built-in connection pool, it is the
fastest Python driver for PostgreSQL (binary protocol, prepared statements cached
per connection), and ``add_listener`` gives LISTEN/NOTIFY as plain callbacks on a
dedicated connection, which is how changes reach every process.

Each write is one transaction: a conditional ``UPDATE ... RETURNING`` (or
``INSERT ... ON CONFLICT DO NOTHING``), its audit entry, and ``pg_notify`` with
``origin:task_id:event``; PostgreSQL delivers the notification at commit, so a
process never hears of a change that did not happen. The process that made a
change tells its own listeners at once and ignores the echo. Grades, response
ids and the export's reads are plain functions on a connection in
``postgres_grades``, ``postgres_responses`` and ``postgres_export``.
"""

from __future__ import annotations

import builtins
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

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
from gateway.human.task import FINISHED, Task
from gateway.store import postgres_export as pg_export
from gateway.store import postgres_grades as pg_grades
from gateway.store import postgres_responses as pg_responses
from gateway.store import postgres_sql as q
from gateway.store import sql
from gateway.store.postgres_notify import PgListener
from gateway.store.postgres_pool import TIMEOUT_S, UNAVAILABLE, PgPool


class PostgresStore:
    """The store in a PostgreSQL database, through a pool of asyncpg connections."""

    shared = True

    def __init__(self, url: str, pool_size: int = 10, timeout_s: float = TIMEOUT_S) -> None:
        self.origin = secrets.token_hex(4)  # this process, in notifications and attachments
        self.process = self.origin
        self.pool = PgPool(url, pool_size, timeout_s)
        self.notifications = PgListener(url, self.origin, timeout_s)

    # -- life cycle ---------------------------------------------------------------------

    async def open(self) -> None:
        await self.pool.open()
        try:
            await self.notifications.open()
        except UNAVAILABLE as error:
            raise StoreUnavailable(error) from error

    def listen(self, listener: Listener) -> None:
        self.notifications.listen(listener)

    async def close(self) -> None:
        await self.notifications.close()
        await self.pool.close()

    async def ping(self) -> bool:
        return await self.pool.ping()

    # -- tasks: conditional writes --------------------------------------------------------

    async def create(
        self, task: Task, request: bytes, entry: AuditEntry, original: bytes | None = None
    ) -> tuple[Task, bool]:
        # One statement (one round trip, one transaction) inserts the task and, only
        # if it was inserted, its request, audit entry, attachment and notification.
        args = [
            *sql.task_row(task),
            request,
            original,
            *sql.audit_args(entry),
            self.process,
            task.clients,
            q.CHANNEL,
            f"{self.origin}:{task.id}:task.created",
        ]

        async def write(conn: asyncpg.Connection) -> tuple[Task, bool] | None:
            row = await conn.fetchrow(q.CREATE, *args)
            if row is not None:
                return sql.task_from_row(tuple(row)[: len(sql.COLUMNS)]), True
            # Lost to an open task with the same dedup key. READ COMMITTED: it may
            # have finished since, and then the caller tries again.
            found = await conn.fetchrow(q.OPEN_BY_DEDUP, task.dedup)
            return None if found is None else (sql.task_from_row(found), False)

        for _ in range(5):
            outcome = await self.pool.call(write)
            if outcome is not None:
                if outcome[1]:
                    self.notifications.tell(Change(task.id, "task.created", outcome[0]))
                return outcome
        raise StoreUnavailable("could not create the task: its dedup key kept changing hands")

    async def transition(
        self,
        task_id: str,
        guard: Expected,
        changes: Mapping[str, Any],
        entry: AuditEntry | None = None,
        event: str | None = None,
    ) -> Task | None:
        # One statement, so one round trip and its own transaction: the conditional
        # UPDATE, and only where it matched, the audit entry, the finished task's
        # attachments dropped and the notification (delivered at commit).
        update, args = sql.transition(task_id, guard, changes)
        parts = [f"t AS ({update})"]
        if entry is not None:
            parts.append(
                "a AS (INSERT INTO audit (task_id, at, event, actor, detail) "
                "SELECT ?::text, ?::float8, ?::text, ?::text, ?::text FROM t)"
            )
            args += sql.audit_args(entry)
        if changes.get("status") in FINISHED:
            parts.append("d AS (DELETE FROM attachments WHERE task_id IN (SELECT id FROM t))")
        told = "0"
        if event is not None:
            parts.append("n AS (SELECT pg_notify(?::text, ?::text) FROM t)")
            args += [q.CHANNEL, f"{self.origin}:{task_id}:{event}"]
            told = "(SELECT COUNT(*) FROM n)"
        statement = sql.numbered(f"WITH {', '.join(parts)} SELECT t.*, {told} FROM t")
        row = await self.pool.call(lambda conn: conn.fetchrow(statement, *args))
        task = None if row is None else sql.task_from_row(tuple(row)[: len(sql.COLUMNS)])
        if task is not None and event is not None:
            self.notifications.tell(Change(task_id, event, task))
        return task

    async def attach(self, task_id: str, count: int = 1) -> Task | None:
        async def write(conn: asyncpg.Connection) -> Task | None:
            row = await conn.fetchrow(q.ATTACH, count, task_id)
            if row is None:
                return None
            await conn.execute(q.ATTACH_ROW, task_id, self.process, count)
            return sql.task_from_row(row)

        return await self.pool.write(write)

    async def detach(self, task_id: str, gone_at: float, count: int = 1) -> Task | None:
        return await self.pool.write(
            lambda conn: q.detach(conn, task_id, self.process, gone_at, count)
        )

    async def forget_clients(self, gone_at: float) -> None:
        async def write(conn: asyncpg.Connection) -> None:
            await conn.execute(sql.FORGET_ROWS)
            await conn.execute(q.FORGET_CLIENTS, gone_at)

        await self.pool.write(write)

    async def heartbeat(self, now: float) -> bool:
        async def write(conn: asyncpg.Connection) -> bool:
            if await conn.fetchval(q.TOUCH_PROCESS, now, self.process):
                return True
            await conn.execute(q.ADD_PROCESS, self.process, now)
            return False

        return await self.pool.write(write)

    async def bury(self, now: float, silent_s: float, gone_at: float) -> int:
        async def write(conn: asyncpg.Connection) -> int:
            buried = 0
            for row in await conn.fetch(q.DEAD_PROCESSES, now - silent_s):
                if await conn.fetchval(q.BURY_PROCESS, row[0], now - silent_s):
                    buried += 1
                    for task_id, clients in await conn.fetch(q.TAKE_ROWS, row[0]):
                        await conn.execute(q.DETACH, clients, clients, clients, gone_at, task_id)
            return buried

        return await self.pool.write(write)

    async def leave(self) -> None:
        await self.pool.call(lambda conn: conn.execute(q.LEAVE_PROCESS, self.process))

    async def due(self, now: float, limit: int = 500) -> list[Due]:
        rows = await self.pool.call(lambda conn: conn.fetch(q.DUE, now, now, now, now, limit))
        return [Due(row[0], row[1]) for row in rows]

    # -- tasks: reads -----------------------------------------------------------------------

    async def _tasks(self, statement: str, *args: Any) -> list[Task]:
        rows = await self.pool.call(lambda conn: conn.fetch(statement, *args))
        return [sql.task_from_row(row) for row in rows]

    async def get(self, task_id: str) -> Task | None:
        found = await self._tasks(q.BY_ID, task_id)
        return found[0] if found else None

    async def finished_among(self, task_ids: Sequence[str]) -> list[Task]:
        return await self._tasks(q.FINISHED_AMONG, list(task_ids)) if task_ids else []

    async def find(self, dedup: str, finished_since: float) -> Task | None:
        found = await self._tasks(q.FIND, dedup, finished_since)
        return found[0] if found else None

    async def request(self, task_id: str) -> bytes | None:
        return await self.pool.call(lambda conn: conn.fetchval(q.REQUEST, task_id))

    async def original(self, task_id: str) -> bytes | None:
        return await self.pool.call(lambda conn: conn.fetchval(q.ORIGINAL, task_id))

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
        statement, args = sql.listing(statuses, model, session, newest_first, limit, groups, kind)
        return await self._tasks(sql.numbered(statement), *args)

    async def answered_after(
        self, after: float, *, model: str | None = None, limit: int = 200
    ) -> builtins.list[Task]:
        statement, args = sql.answered_after(after, model, limit)
        return await self._tasks(sql.numbered(statement), *args)

    async def audit(self, task_id: str) -> builtins.list[AuditEntry]:
        rows = await self.pool.call(lambda conn: conn.fetch(q.AUDIT, task_id))
        return [AuditEntry(*row) for row in rows]

    async def stats(self, since: float) -> dict[str, Any]:
        async def read(conn: asyncpg.Connection) -> dict[str, Any]:
            counts = {row[0]: row[1] for row in await conn.fetch(sql.STATUS_COUNTS)}
            seconds = [row[0] for row in await conn.fetch(q.ANSWER_SECONDS, since)]
            kinds = sql.kinds_from_rows(await conn.fetch(q.KIND_COUNTS, since))
            return {"counts": counts, "answer_seconds": seconds, "kinds": kinds}

        return await self.pool.call(read)

    async def escalations_since(self, since: float) -> dict[tuple[str, str], int]:
        rows = await self.pool.call(lambda conn: conn.fetch(q.ESCALATIONS, since))
        return {(row[0], row[1]): row[2] for row in rows}

    async def drafted_answers_since(self, since: float) -> builtins.list[tuple[dict, dict]]:
        return sql.drafted_from_rows(
            await self.pool.call(lambda conn: conn.fetch(q.DRAFTED, since))
        )

    # -- grades (postgres_grades) --------------------------------------------------------

    async def grade(self, grade: Grade, entry: AuditEntry) -> Graded:
        graded = await self.pool.write(
            lambda conn: pg_grades.grade(conn, grade, entry, self.origin)
        )
        if graded.added and graded.task is not None:
            self.notifications.tell(Change(grade.task_id, "task.graded", graded.task))
        return graded

    async def grades(self, task_ids: Sequence[str]) -> dict[str, builtins.list[Grade]]:
        return await self.pool.call(lambda conn: pg_grades.grades(conn, task_ids))

    async def grades_since(
        self, since: float, limit: int = sql.GRADES_READ
    ) -> builtins.list[tuple[str, str | None, Grade]]:
        return await self.pool.call(lambda conn: pg_grades.grades_since(conn, since, limit))

    # -- stored and forwarded responses (postgres_responses) ----------------------------

    async def put_response(self, response: StoredResponse) -> None:
        now = time.time()
        await self.pool.call(lambda conn: pg_responses.put_response(conn, response, now))

    async def get_response(self, response_id: str) -> StoredResponse | None:
        return await self.pool.call(lambda conn: pg_responses.get_response(conn, response_id))

    async def delete_response(self, response_id: str) -> bool:
        return await self.pool.call(lambda conn: pg_responses.delete_response(conn, response_id))

    async def put_forwarded(self, response_id: str, owner: str, expires_at: float) -> None:
        now = time.time()
        await self.pool.write(
            lambda conn: pg_responses.put_forwarded(conn, response_id, owner, expires_at, now)
        )

    async def forwarded_owner(self, response_id: str, now: float) -> str | None:
        return await self.pool.call(
            lambda conn: pg_responses.forwarded_owner(conn, response_id, now)
        )

    async def delete_forwarded(self, response_id: str) -> None:
        await self.pool.call(lambda conn: pg_responses.delete_forwarded(conn, response_id))

    # -- the installation's secret ------------------------------------------------------------

    async def fingerprint(self, fingerprint: str) -> str:
        async def write(conn: asyncpg.Connection) -> str:
            await conn.execute(q.CLAIM_FINGERPRINT, fingerprint)
            return await conn.fetchval(q.FINGERPRINT)

        return await self.pool.write(write)

    # -- reviewer sessions ----------------------------------------------------------------------

    async def open_session(self, key: str, reviewer: str, now: float) -> None:
        await self.pool.call(lambda conn: conn.execute(q.OPEN_SESSION, key, reviewer, now))

    async def touch_session(self, key: str, now: float, idle_s: float) -> str | None:
        async def write(conn: asyncpg.Connection) -> str | None:
            reviewer = await conn.fetchval(q.TOUCH_SESSION, now, key, now - idle_s)
            if reviewer is None:
                await conn.execute(q.CLOSE_SESSION, key)
            return reviewer

        return await self.pool.write(write)

    async def close_session(self, key: str) -> None:
        await self.pool.call(lambda conn: conn.execute(q.CLOSE_SESSION, key))

    # -- export, sessions and retention (gateway/export; postgres_export) -----------------

    async def export_page(
        self, filter: TaskFilter, after: tuple[float, str] | None, limit: int
    ) -> builtins.list[tuple[Task, bytes | None]]:
        return await self.pool.call(lambda conn: pg_export.export_page(conn, filter, after, limit))

    async def sessions(
        self, filter: SessionFilter, after: tuple[float, str] | None, limit: int
    ) -> builtins.list[SessionSummary]:
        return await self.pool.call(lambda conn: pg_export.sessions(conn, filter, after, limit))

    async def purge(self, before: float, limit: int) -> Purged:
        return await self.pool.write(lambda conn: pg_export.purge(conn, before, limit))

    # -- counters ---------------------------------------------------------------------------------

    async def add_counts(self, name: str, counts: Mapping[tuple[str, int], int]) -> None:
        rows = [(name, key, minute, n) for (key, minute), n in counts.items()]
        if not rows:
            return
        oldest = min(minute for _, minute in counts) - sql.KEEP_MINUTES

        async def write(conn: asyncpg.Connection) -> None:
            await conn.executemany(q.ADD_COUNT, rows)
            await conn.execute(q.PRUNE_COUNTS, name, oldest)

        await self.pool.write(write)

    async def counts_since(self, name: str, minute: int) -> dict[str, int]:
        rows = await self.pool.call(lambda conn: conn.fetch(q.COUNTS_SINCE, name, minute))
        return {row[0]: int(row[1]) for row in rows}
