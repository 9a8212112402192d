"""Writing this door's replies to the ASGI client: JSON, SSE with ``ping`` keep-alives,
and errors in Anthropic's envelope (an ``error`` event once a stream has begun)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.doors.anthropic import errors
from gateway.doors.anthropic.shapes import PING
from gateway.errors import GatewayError
from gateway.http.asgi import Headers, send_whole

SSE_HEADERS: Headers = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
JSON_HEADERS: Headers = [(b"content-type", b"application/json")]


@dataclass(slots=True)
class Client:
    """One client connection; ``started`` once a stream's status line has gone out."""

    send: Any
    receive: Any
    started: bool = False

    async def start_stream(self, headers: Headers) -> None:
        if not self.started:
            self.started = True
            start = {
                "type": "http.response.start",
                "status": 200,
                "headers": [*SSE_HEADERS, *headers],
            }
            await self.send(start)

    async def ping(self, headers: Headers) -> None:
        """A ``ping`` event: the keep-alive while a person thinks (starts the stream)."""
        await self.start_stream(headers)
        await self.send({"type": "http.response.body", "body": PING, "more_body": True})

    async def stream(self, headers: Headers, events: Iterable[bytes]) -> None:
        await self.start_stream(headers)
        for chunk in events:
            await self.send({"type": "http.response.body", "body": chunk, "more_body": True})
        await self.send({"type": "http.response.body", "body": b"", "more_body": False})

    async def json(self, status: int, headers: Headers, body: bytes) -> None:
        await send_whole(self.send, status, [*JSON_HEADERS, *headers], body)

    async def raw(self, status: int, headers: Headers, body: bytes) -> None:
        """Bytes that are already a whole reply (a held upstream reply), or a stream's rest."""
        if self.started:
            await self.send({"type": "http.response.body", "body": body, "more_body": False})
        else:
            await send_whole(self.send, status, headers, body)

    async def error(self, error: GatewayError, headers: Sequence[tuple[bytes, bytes]] = ()) -> int:
        """A gateway error in Anthropic's envelope; returns the status it carries."""
        status = errors.status_of(error)
        if self.started:
            await self.send(
                {"type": "http.response.body", "body": errors.event(error), "more_body": False}
            )
        else:
            extra = [*JSON_HEADERS, *errors.headers(error), *headers]
            await send_whole(self.send, status, extra, errors.body(error))
        return status
