"""``notifications/cancelled`` for a stateless server: the cancel reaches the call it names.

In stateless mode the SDK handles every POST alone, so a client of the 2025
protocol (Claude Code, most clients today) that cancels a call by posting
``notifications/cancelled`` sends it where the SDK cannot see the waiting call.
The door keeps the calls waiting in this process by (client key digest, address,
request id) and tells the one a cancel names that its client has left (the
service then detaches it, and cancels its task after the grace).

A cancel that could name two calls (clients sharing a key and an address whose
request ids collide) is ignored rather than risk ending the other client's call,
and so is one that reaches another process than its call: such a call still ends
when its client closes the stream, or at its timeout. (In the 2026 protocol the
client closes the call's stream to cancel it, which always works.)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import orjson

CANCELLED = "notifications/cancelled"
Key = tuple[bytes, str | None, Any]  # client key digest, address, JSON-RPC request id


class Cancels:
    """The calls waiting in this process, by who made them and their request id."""

    def __init__(self) -> None:
        self._waiting: dict[Key, list[asyncio.Event]] = {}

    @contextlib.contextmanager
    def waiting(self, key: Key) -> Iterator[asyncio.Event]:
        """An event set when a cancel names this call, for as long as it waits."""
        event = asyncio.Event()
        self._waiting.setdefault(key, []).append(event)
        try:
            yield event
        finally:
            events = self._waiting[key]
            events.remove(event)
            if not events:
                del self._waiting[key]

    def heard(self, client: bytes, address: str | None, body: bytes) -> int:
        """Hand the cancels in a POST body to the calls they name; how many were."""
        if CANCELLED.encode() not in body:  # the common case costs one scan, no parse
            return 0
        try:
            messages = orjson.loads(body)
        except orjson.JSONDecodeError:
            return 0  # the SDK answers it
        done = 0
        for message in messages if isinstance(messages, list) else [messages]:
            if not isinstance(message, dict) or message.get("method") != CANCELLED:
                continue
            params = message.get("params")
            request_id = params.get("requestId") if isinstance(params, dict) else None
            if not isinstance(request_id, str | int) or isinstance(request_id, bool):
                continue
            events = self._waiting.get((client, address, request_id), [])
            if len(events) == 1:
                events[0].set()
                done += 1
        return done
