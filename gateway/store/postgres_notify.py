"""The PostgreSQL backend's notifications: LISTEN on a dedicated connection, kept up.

Every write sends ``pg_notify`` with ``origin:task_id:event``; ``PgListener``
hears other processes' changes and tells the store's listeners, ignoring its own
echo (the writing process told its listeners at once, through ``tell``). A
dropped connection is reconnected and listeners hear ``store.reconnected``,
since notifications may have been missed. ``PostgresStore`` owns one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from gateway.human.store import Change, Listener
from gateway.store import postgres_sql as q

log = logging.getLogger("gateway.store")
RECONNECT_S = 1.0
CLOSE_S = 5.0


class PgListener:
    """One LISTEN connection to ``url``, and the listeners its notifications reach."""

    def __init__(self, url: str, origin: str, timeout_s: float) -> None:
        self.url = url
        self.origin = origin  # this process: its own notifications are echoes
        self.timeout_s = timeout_s
        self._listeners: list[Listener] = []
        self._conn: asyncpg.Connection | None = None
        self._keeping: asyncio.Task[None] | None = None
        self._closing = False

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def tell(self, change: Change) -> None:
        """Tell every listener of a change (this process's own, or heard)."""
        for listener in self._listeners:
            listener(change)

    async def open(self) -> None:
        """Connect (asyncpg's errors propagate) and keep the connection up from now on."""
        await self._connect()
        self._keeping = asyncio.create_task(self._keep_listening())

    async def close(self) -> None:
        self._closing = True
        if self._keeping is not None:
            self._keeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeping
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._conn.close(), CLOSE_S)

    def _on_notify(self, conn: object, pid: int, channel: str, payload: str) -> None:
        origin, _, rest = payload.partition(":")
        task_id, _, event = rest.partition(":")
        if origin != self.origin:
            self.tell(Change(task_id, event))

    async def _connect(self) -> None:
        conn = await asyncpg.connect(self.url, timeout=self.timeout_s)
        await conn.add_listener(q.CHANNEL, self._on_notify)
        self._conn = conn

    async def _keep_listening(self) -> None:
        """Reconnect the LISTEN connection when it drops; a missed notification is
        caught by the queue's sweep."""
        while not self._closing:
            await asyncio.sleep(RECONNECT_S)
            conn = self._conn
            if conn is not None and not conn.is_closed():
                continue
            try:
                await self._connect()
                self.tell(Change("", "store.reconnected"))
            except Exception as error:  # the database is still away: try again
                log.debug("LISTEN reconnect failed: %s", error)
