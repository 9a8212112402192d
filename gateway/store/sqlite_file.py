"""The SQLite file's one connection and the one thread that uses it.

Every call runs on that thread, so the event loop never blocks on disk and
SQLite sees a single writer. A write is one ``BEGIN IMMEDIATE`` transaction.
Errors of the database (locked, gone, full, broken) become ``StoreUnavailable``;
errors of a statement pass through as they are.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from gateway.human.store import StoreUnavailable
from gateway.store.sqlite_migrate import migrate

T = TypeVar("T")
BUSY_TIMEOUT_MS = 5000
PING_TIMEOUT_MS = 200
_UNAVAILABLE = (sqlite3.OperationalError, sqlite3.DatabaseError)
_STATEMENT_ERRORS = (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError)


class SQLiteFile:
    """One SQLite file in WAL mode, migrated on open, used from one thread."""

    def __init__(self, path: str | Path, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.path = str(path)
        self.busy_timeout_ms = busy_timeout_ms
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        self._db: sqlite3.Connection | None = None

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        except _STATEMENT_ERRORS:
            raise
        except _UNAVAILABLE as error:
            raise StoreUnavailable(error) from error

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

    @property
    def _conn(self) -> sqlite3.Connection:
        assert self._db is not None, "store not open"
        return self._db

    def _write(self, fn: Callable[..., T], *args: Any) -> T:
        db = self._conn
        db.execute("BEGIN IMMEDIATE")
        try:
            result = fn(db, *args)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return result

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(connection, *args)`` on the file's thread."""
        return await self._run(lambda: fn(self._conn, *args))

    async def change(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(connection, *args)`` as one write transaction on the file's thread."""
        return await self._run(self._write, fn, *args)

    async def rows(self, statement: str, args: Sequence[Any] = ()) -> list[Any]:
        """Every row ``statement`` reads."""
        return await self._run(lambda: self._conn.execute(statement, args).fetchall())
