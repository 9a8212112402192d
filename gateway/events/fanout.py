"""In-process publish/subscribe for dashboard events.

Each subscriber gets a bounded queue. A subscriber that falls that far behind
is dropped, and its stream ends: EventSource reconnects and reloads the list,
which is better than holding unbounded memory for a stuck browser.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson

QUEUE_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class Event:
    name: str
    data: str  # JSON text
    here: bool = True  # the change was made by this process (not heard from another)


class Events:
    """Fan-out of task events to every connected dashboard."""

    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[Event | None]] = set()

    @property
    def subscribed(self) -> bool:
        """Whether any dashboard listens (else a change need not be read to be told)."""
        return bool(self._subscribers)

    def publish(self, name: str, payload: dict[str, Any], here: bool = True) -> None:
        """Tell every subscriber; ``here``: this process made the change (webhooks go
        out from that process only, so a cluster delivers each one once)."""
        if not self._subscribers:
            return
        event = Event(name, orjson.dumps(payload).decode(), here)
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                self._subscribers.discard(queue)
                queue.get_nowait()  # make room for the end-of-stream marker
                queue.put_nowait(None)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[Event | None]]:
        queue: asyncio.Queue[Event | None] = asyncio.Queue(QUEUE_LIMIT)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)
