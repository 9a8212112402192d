"""The PostgreSQL backend's notifications: LISTEN on a dedicated connection, kept up.

Every write sends ``pg_notify`` with ``origin:task_id:event``; this part hears
other processes' changes and tells the store's listeners, ignoring its own echo
(the writing process told its listeners at once). A dropped connection is
reconnected and listeners hear ``store.reconnected``, since notifications may
have been missed. ``PostgresStore`` mixes this in; the attributes used here are
set in its ``__init__``.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from gateway.human.store import Change, Listener
from gateway.store import postgres_sql as q

log = logging.getLogger("gateway.store")
RECONNECT_S = 1.0


class Notifier:
    """LISTEN/NOTIFY of ``PostgresStore`` (see ``gateway.store.postgres``)."""

    # -- notifications ------------------------------------------------------------------

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _tell(self, change: Change) -> None:
        for listener in self._listeners:
            listener(change)

    def _on_notify(self, conn: object, pid: int, channel: str, payload: str) -> None:
        origin, _, rest = payload.partition(":")
        task_id, _, event = rest.partition(":")
        if origin != self.origin:
            self._tell(Change(task_id, event))

    async def _connect_listener(self) -> None:
        conn = await asyncpg.connect(self.url, timeout=self.timeout_s)
        await conn.add_listener(q.CHANNEL, self._on_notify)
        self._listen_conn = conn

    async def _keep_listening(self) -> None:
        """Reconnect the LISTEN connection when it drops; a missed notification is
        caught by the queue's sweep."""
        while not self._closing:
            await asyncio.sleep(RECONNECT_S)
            conn = self._listen_conn
            if conn is not None and not conn.is_closed():
                continue
            try:
                await self._connect_listener()
                self._tell(Change("", "store.reconnected"))
            except Exception as error:  # the database is still away: try again
                log.debug("LISTEN reconnect failed: %s", error)
