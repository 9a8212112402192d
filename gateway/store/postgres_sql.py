"""The PostgreSQL backend's statements, and the running of its schema migrations.

The shared SQL of ``gateway.store.sql`` with numbered ($1) parameters, the few
statements only PostgreSQL has, the one multi-statement write (detaching
clients), and the migration runner (one process at a time, by advisory lock).
``gateway.store.postgres`` uses them as ``q.NAME``.
"""

from __future__ import annotations

import time

import asyncpg

from gateway.human.task import Task
from gateway.store import sql
from gateway.store.migrations import migrations

CHANNEL = "hitl_tasks"
MIGRATION_LOCK = 7_411_203  # pg_advisory_xact_lock key: one process migrates at a time


async def detach(
    conn: asyncpg.Connection, task_id: str, process: str, gone_at: float, count: int
) -> Task | None:
    row = await conn.fetchrow(DETACH, count, count, count, gone_at, task_id)
    await conn.execute(DETACH_ROW, count, task_id, process)
    await conn.execute(DROP_EMPTY_ROW, task_id, process)
    return None if row is None else sql.task_from_row(row)


async def migrate(conn: asyncpg.Connection) -> None:
    """Apply every numbered migration above the recorded version; one process at a time."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
            "name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
        )
        done = {row[0] for row in await conn.fetch("SELECT version FROM schema_migrations")}
        for migration in migrations("postgres"):
            if migration.version in done:
                continue
            for statement in migration.statements():
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO schema_migrations VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                time.time(),
            )


CREATE = sql.numbered(
    f"WITH t AS ({sql.INSERT_TASK}), "
    "r AS (INSERT INTO requests (task_id, body, original) SELECT id, ?::bytea, ?::bytea FROM t), "
    "a AS (INSERT INTO audit (task_id, at, event, actor, detail) "
    "SELECT ?::text, ?::float8, ?::text, ?::text, ?::text FROM t), "
    "c AS (INSERT INTO attachments (task_id, process, clients) "
    "SELECT id, ?::text, ?::int FROM t WHERE clients > 0), "
    "n AS (SELECT pg_notify(?::text, ?::text) FROM t) "
    "SELECT t.*, (SELECT COUNT(*) FROM n) FROM t"
)
OPEN_BY_DEDUP = sql.numbered(sql.OPEN_BY_DEDUP)
ATTACH = sql.numbered(sql.ATTACH)
DETACH = sql.numbered(sql.DETACH)
DUE = sql.numbered(sql.DUE)
ATTACH_ROW = sql.numbered(sql.ATTACH_ROW)
DETACH_ROW = sql.numbered(sql.DETACH_ROW)
DROP_EMPTY_ROW = sql.numbered(sql.DROP_EMPTY_ROW)
FORGET_CLIENTS = sql.numbered(sql.FORGET_CLIENTS)
TOUCH_PROCESS = sql.numbered(sql.TOUCH_PROCESS)
ADD_PROCESS = sql.numbered(sql.ADD_PROCESS)
DEAD_PROCESSES = sql.numbered(sql.DEAD_PROCESSES)
BURY_PROCESS = sql.numbered(sql.BURY_PROCESS)
LEAVE_PROCESS = sql.numbered(sql.LEAVE_PROCESS)
TAKE_ROWS = sql.numbered(sql.TAKE_ROWS)
BY_ID = sql.numbered(sql.select_tasks("WHERE id = ?"))
BY_ID_FOR_UPDATE = sql.numbered(sql.select_tasks("WHERE id = ? FOR UPDATE"))
INSERT_GRADE = sql.numbered(sql.INSERT_GRADE)
INSERT_AUDIT = sql.numbered(sql.INSERT_AUDIT)
DROP_TASK_ROWS = sql.numbered(sql.DROP_TASK_ROWS)
GRADES_OF = sql.GRADES_OF + "(SELECT unnest($1::text[])) ORDER BY at"
GRADES_SINCE = sql.numbered(sql.GRADES_SINCE)
FINISHED_AMONG = sql.select_tasks(f"WHERE id = ANY($1::text[]) AND {sql.FINISHED_WHERE}")
FIND = sql.numbered(sql.FIND)
REQUEST = sql.numbered(sql.REQUEST)
ORIGINAL = sql.numbered(sql.ORIGINAL)
AUDIT = sql.numbered(sql.AUDIT) + " ORDER BY seq"
ANSWER_SECONDS = sql.numbered(sql.ANSWER_SECONDS)
KIND_COUNTS = sql.numbered(sql.KIND_COUNTS)
ESCALATIONS = sql.numbered(sql.ESCALATIONS)
DRAFTED = sql.numbered(sql.DRAFTED)
PUT_RESPONSE = sql.numbered(sql.PUT_RESPONSE)
GET_RESPONSE = sql.numbered(sql.GET_RESPONSE)
DELETE_RESPONSE = sql.numbered(sql.DELETE_RESPONSE)
PUT_FORWARDED = sql.numbered(sql.PUT_FORWARDED)
PRUNE_FORWARDED = sql.numbered(sql.PRUNE_FORWARDED)
FORWARDED_OWNER = sql.numbered(sql.FORWARDED_OWNER)
DELETE_FORWARDED = sql.numbered(sql.DELETE_FORWARDED)
CLAIM_FINGERPRINT = sql.numbered(sql.CLAIM_FINGERPRINT)
FINGERPRINT = sql.FINGERPRINT
OPEN_SESSION = sql.numbered(sql.OPEN_SESSION)
TOUCH_SESSION = sql.numbered(sql.TOUCH_SESSION)
CLOSE_SESSION = sql.numbered(sql.CLOSE_SESSION)
ADD_COUNT = sql.numbered(sql.ADD_COUNT)
PRUNE_COUNTS = sql.numbered(sql.PRUNE_COUNTS)
COUNTS_SINCE = sql.numbered(sql.COUNTS_SINCE)
