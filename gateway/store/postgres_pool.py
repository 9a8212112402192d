"""The PostgreSQL backend's pool of asyncpg connections: opened (and migrated), used, closed.

A call borrows one connection for one function; a write runs its function in
one transaction. Failures of the server or the connection (not of a statement)
become ``StoreUnavailable``, which the doors answer with 503.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

from gateway.human.store import StoreUnavailable
from gateway.store import postgres_sql as q

T = TypeVar("T")
TIMEOUT_S = 5.0
# Failures of the server or the connection, not of the statement.
UNAVAILABLE = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.CannotConnectNowError,
)


class PgPool:
    """Up to ``size`` connections to the database at ``url``; each wait bounded by ``timeout_s``."""

    def __init__(self, url: str, size: int = 10, timeout_s: float = TIMEOUT_S) -> None:
        self.url = url
        self.size = size
        self.timeout_s = timeout_s
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        """Connect, and bring the schema up to date (one process at a time)."""
        try:
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=1,
                max_size=self.size,
                command_timeout=self.timeout_s,
                server_settings={"application_name": "hitl-gateway"},
            )
            async with self._pool.acquire() as conn:
                await q.migrate(conn)
        except UNAVAILABLE as error:
            raise StoreUnavailable(error) from error

    async def close(self) -> None:
        if self._pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._pool.close(), 5)

    async def ping(self) -> bool:
        try:
            return await self.call(lambda conn: conn.fetchval("SELECT 1")) == 1
        except Exception:
            return False

    async def call(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """``fn`` on a borrowed connection."""
        if self._pool is None:
            raise StoreUnavailable("store not open")
        try:
            async with self._pool.acquire(timeout=self.timeout_s) as conn:
                return await fn(conn)
        except UNAVAILABLE as error:
            raise StoreUnavailable(error) from error

    async def write(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """``fn`` on a borrowed connection, in one transaction."""

        async def in_transaction(conn: asyncpg.Connection) -> T:
            async with conn.transaction():
                return await fn(conn)

        return await self.call(in_transaction)
