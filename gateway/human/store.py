"""SQLite storage for tasks, their requests, the audit trail and stored responses.

The only module that writes SQL. All calls run on one dedicated thread, so the
event loop never blocks on disk and SQLite sees a single writer. A second
backend (PostgreSQL, Redis) would implement the same public methods.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

import orjson

from gateway.human.task import Task

T = TypeVar("T")

_JSON_FIELDS = frozenset({"answer", "result", "draft", "tools", "tool_choice", "output_format"})
_COLUMNS = tuple(f.name for f in fields(Task))

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS tasks (
    {", ".join(f"{name} {'TEXT PRIMARY KEY' if name == 'id' else ''}" for name in _COLUMNS)}
);
CREATE INDEX IF NOT EXISTS tasks_status ON tasks (status, created_at);
CREATE INDEX IF NOT EXISTS tasks_dedup ON tasks (dedup);
CREATE TABLE IF NOT EXISTS requests (task_id TEXT PRIMARY KEY, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    task_id TEXT NOT NULL, at REAL NOT NULL, event TEXT NOT NULL, actor TEXT, detail TEXT
);
CREATE INDEX IF NOT EXISTS audit_task ON audit (task_id, at);
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY, task_id TEXT, owner TEXT, session TEXT,
    body BLOB NOT NULL, input BLOB NOT NULL, created_at REAL NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    task_id: str
    at: float
    event: str
    actor: str | None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class StoredResponse:
    id: str
    task_id: str
    owner: str
    session: str
    body: bytes  # the response object as JSON
    input: list[Any]  # the whole input that led to it, previous turns resolved


class SQLiteStore:
    """Tasks and responses in one SQLite file, in WAL mode."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        self._db: sqlite3.Connection | None = None

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    # -- life cycle ---------------------------------------------------------------

    async def open(self) -> None:
        await self._run(self._open)

    def _open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=5000")
        db.executescript(_SCHEMA)
        # A file made before a Task field existed gets its column, with the field's default.
        present = {row[1] for row in db.execute("PRAGMA table_info(tasks)")}
        for spec in fields(Task):
            if spec.name not in present:
                db.execute(f"ALTER TABLE tasks ADD COLUMN {spec.name}{_sql_default(spec.default)}")
        self._db = db

    async def close(self) -> None:
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._executor.shutdown(wait=True)

    async def ping(self) -> bool:
        try:
            return await self._run(lambda: self._conn.execute("SELECT 1").fetchone()[0] == 1)
        except Exception:
            return False

    @property
    def _conn(self) -> sqlite3.Connection:
        assert self._db is not None, "store not open"
        return self._db

    # -- tasks ----------------------------------------------------------------------

    async def insert(self, task: Task, request: bytes, entry: AuditEntry) -> None:
        await self._run(self._insert, task, request, entry)

    def _insert(self, task: Task, request: bytes, entry: AuditEntry) -> None:
        row = _to_row(task)
        marks = ", ".join("?" for _ in _COLUMNS)
        with _transaction(self._conn) as db:
            db.execute(f"INSERT INTO tasks ({', '.join(_COLUMNS)}) VALUES ({marks})", row)
            db.execute("INSERT INTO requests VALUES (?, ?)", (task.id, request))
            _audit(db, entry)

    async def update(self, task: Task, changed: Iterable[str], entry: AuditEntry | None) -> None:
        """Write the named fields of ``task``, and an audit entry, in one transaction."""
        names = tuple(changed)
        values = [_column_value(name, getattr(task, name)) for name in names]
        await self._run(self._update, task.id, names, values, entry)

    def _update(
        self, task_id: str, names: Sequence[str], values: list[Any], entry: AuditEntry | None
    ) -> None:
        assignments = ", ".join(f"{name} = ?" for name in names)
        with _transaction(self._conn) as db:
            if names:
                db.execute(f"UPDATE tasks SET {assignments} WHERE id = ?", (*values, task_id))
            if entry is not None:
                _audit(db, entry)

    async def get(self, task_id: str) -> Task | None:
        rows = await self._run(self._select, "WHERE id = ?", (task_id,))
        return rows[0] if rows else None

    async def request(self, task_id: str) -> bytes | None:
        def read() -> bytes | None:
            row = self._conn.execute(
                "SELECT body FROM requests WHERE task_id = ?", (task_id,)
            ).fetchone()
            return row[0] if row else None

        return await self._run(read)

    async def list(
        self,
        statuses: Sequence[str],
        *,
        model: str | None = None,
        session: str | None = None,
        newest_first: bool = False,
        limit: int = 500,
    ) -> list[Task]:
        clauses = [f"status IN ({', '.join('?' for _ in statuses)})"]
        args: list[Any] = list(statuses)
        if model:
            clauses.append("model = ?")
            args.append(model)
        if session:
            clauses.append("session = ?")
            args.append(session)
        order = "DESC" if newest_first else "ASC"
        where = f"WHERE {' AND '.join(clauses)} ORDER BY created_at {order} LIMIT ?"
        return await self._run(self._select, where, (*args, limit))

    async def answered_after(
        self, after: float, *, model: str | None = None, limit: int = 200
    ) -> list[Task]:
        """Answered tasks whose answer came after ``after``, oldest answer first."""
        where = "WHERE status = 'answered' AND answered_at > ?"
        args: list[Any] = [after]
        if model:
            where += " AND model = ?"
            args.append(model)
        return await self._run(
            self._select, f"{where} ORDER BY answered_at LIMIT ?", (*args, limit)
        )

    async def finished_since(self, since: float) -> list[Task]:
        """Answered or rejected tasks not yet delivered, finished after ``since``."""
        where = "WHERE status IN ('answered', 'rejected') AND delivered = 0 AND answered_at >= ?"
        return await self._run(self._select, where, (since,))

    def _select(self, where: str, args: Sequence[Any]) -> list[Task]:
        cursor = self._conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM tasks {where}", args)
        return [_from_row(row) for row in cursor.fetchall()]

    async def audit(self, task_id: str) -> list[AuditEntry]:
        def read() -> list[AuditEntry]:
            cursor = self._conn.execute(
                "SELECT task_id, at, event, actor, detail FROM audit WHERE task_id = ? "
                "ORDER BY rowid",
                (task_id,),
            )
            return [AuditEntry(*row) for row in cursor.fetchall()]

        return await self._run(read)

    async def stats(self, since: float) -> dict[str, Any]:
        """Counts and answer times since a moment, for the dashboard's header."""

        def read() -> dict[str, Any]:
            db = self._conn
            counts = dict(db.execute("SELECT status, COUNT(*) FROM tasks GROUP BY status"))
            durations = [
                row[0]
                for row in db.execute(
                    "SELECT answered_at - created_at FROM tasks WHERE status = 'answered' "
                    "AND answered_at >= ? ORDER BY 1",
                    (since,),
                )
            ]
            return {"counts": counts, "answer_seconds": durations}

        return await self._run(read)

    async def escalations_since(self, since: float) -> dict[tuple[str, str], int]:
        """Hybrid escalations by (model, reason), created after ``since``."""

        def read() -> dict[tuple[str, str], int]:
            cursor = self._conn.execute(
                "SELECT model, reason, COUNT(*) FROM tasks WHERE reason != 'human_route' "
                "AND created_at >= ? GROUP BY model, reason",
                (since,),
            )
            return {(model, reason): count for model, reason, count in cursor}

        return await self._run(read)

    async def drafted_answers_since(self, since: float) -> list[tuple[dict, dict]]:
        """(draft, answer) of answered tasks that had a model draft."""

        def read() -> list[tuple[dict, dict]]:
            cursor = self._conn.execute(
                "SELECT draft, answer FROM tasks WHERE status = 'answered' "
                "AND draft IS NOT NULL AND answered_at >= ?",
                (since,),
            )
            return [(orjson.loads(draft), orjson.loads(answer)) for draft, answer in cursor]

        return await self._run(read)

    # -- stored responses (Responses API) -------------------------------------------

    async def put_response(self, response: StoredResponse) -> None:
        def write() -> None:
            self._conn.execute(
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    response.id,
                    response.task_id,
                    response.owner,
                    response.session,
                    response.body,
                    orjson.dumps(response.input),
                    time.time(),
                ),
            )

        await self._run(write)

    async def get_response(self, response_id: str) -> StoredResponse | None:
        def read() -> StoredResponse | None:
            row = self._conn.execute(
                "SELECT id, task_id, owner, session, body, input FROM responses WHERE id = ?",
                (response_id,),
            ).fetchone()
            if row is None:
                return None
            return StoredResponse(*row[:5], input=orjson.loads(row[5]))

        return await self._run(read)

    async def delete_response(self, response_id: str) -> bool:
        """Forget a stored response (``DELETE /v1/responses/{id}``); False if there was none."""

        def delete() -> bool:
            cursor = self._conn.execute("DELETE FROM responses WHERE id = ?", (response_id,))
            return cursor.rowcount > 0

        return await self._run(delete)


class _transaction:
    """BEGIN ... COMMIT, or ROLLBACK when the body raises."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN")
        return self.db

    def __exit__(self, kind: type | None, *_: object) -> None:
        self.db.execute("ROLLBACK" if kind else "COMMIT")


def _audit(db: sqlite3.Connection, entry: AuditEntry) -> None:
    db.execute(
        "INSERT INTO audit VALUES (?, ?, ?, ?, ?)",
        (entry.task_id, entry.at, entry.event, entry.actor, entry.detail),
    )


def _column_value(name: str, value: Any) -> Any:
    if name in _JSON_FIELDS:
        return None if value is None else orjson.dumps(value)
    if isinstance(value, bool):
        return int(value)
    return value


def _to_row(task: Task) -> tuple[Any, ...]:
    return tuple(_column_value(name, getattr(task, name)) for name in _COLUMNS)


def _from_row(row: Sequence[Any]) -> Task:
    values = {}
    for name, value in zip(_COLUMNS, row, strict=True):
        if name in _JSON_FIELDS and value is not None:
            value = orjson.loads(value)
        values[name] = value
    values["delivered"] = bool(values["delivered"])
    values["stream"] = bool(values["stream"])
    values["tools"] = values["tools"] or []
    values["kind"] = values["kind"] or "text"
    values["step"] = values["step"] or 1
    return Task(**values)


def _sql_default(default: Any) -> str:
    """A ``DEFAULT`` clause for a plain int or str field default, else nothing."""
    if isinstance(default, int):
        return f" DEFAULT {int(default)}"
    if isinstance(default, str):
        return " DEFAULT '" + default.replace("'", "''") + "'"
    return ""
