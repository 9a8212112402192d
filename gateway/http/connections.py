"""The gateway's rules for HTTP connections, on top of uvicorn's httptools protocol.

uvicorn bounds only the idle time between requests. Here, also:

- **headers in time**: a request's headers must arrive within
  ``server.header_timeout_s`` of its first byte, so a client trickling headers
  (slowloris) cannot hold a connection; a new connection that sends nothing is
  closed after ``server.idle_timeout_s``, like an idle one between requests;
- **no stalled body**: a body that stops arriving for ``server.header_timeout_s``
  ends the connection (the handler sees a disconnect);
- **a bounded number of connections**: past ``server.max_connections`` a new
  connection gets a 503 in the error envelope and is closed;
- **envelopes**: uvicorn's own replies to malformed HTTP (400) are the OpenAI
  error envelope, like every other error.

A request waiting on a person has sent all its headers and body, so none of
these deadlines touch it. All connections share one timer (``Deadlines``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.config.sections import ServerConfig
from gateway.errors import error_body

LINGER_S = 2.0  # how long a refused client has to read its reply before the close


def raw_reply(status: str, body: bytes, extra: bytes = b"") -> bytes:
    """A whole HTTP/1.1 reply that closes the connection, written without the app."""
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n".encode()
        + extra
        + b"\r\n"
        + body
    )


class Deadlines:
    """One timer for all of a process's connections, instead of timer handles per request.

    A connection that must make progress by some time (its headers, its next body
    chunk, its first byte) notes the time and joins ``armed``; one callback, every
    ``tick_s`` while anything is armed, expires those past due. Arming is an
    attribute write and a set insert, where a timer handle per request costs
    three handles made and cancelled (about 6 us of a forwarded request's 160,
    measured with bench/forward.py). A deadline fires up to ``tick_s`` late.
    """

    def __init__(self, tick_s: float) -> None:
        self.tick_s = tick_s
        self.armed: set[GuardedProtocol] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None

    def arm(self, connection: GuardedProtocol) -> None:
        self.armed.add(connection)
        if self._handle is None or self._loop is not connection.loop:
            self._loop = connection.loop
            self._handle = self._loop.call_later(self.tick_s, self._sweep)

    def _sweep(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        for connection in [c for c in self.armed if c.deadline <= now]:
            self.armed.discard(connection)
            connection.expire()
        self._handle = self._loop.call_later(self.tick_s, self._sweep) if self.armed else None


class GuardedProtocol(HttpToolsProtocol):
    """One connection, with the header/body deadlines and the connection bound."""

    # Slots, so the gateway's per-connection state adds no keys to uvicorn's
    # instance dict (past 30 keys CPython stops sharing them: 1.5 KB more per
    # connection, measured with bench/human.py --trace).
    __slots__ = ("_closing", "_linger", "_started", "deadline")

    header_timeout_s: float = 10.0
    max_connections: int = 16384
    deadlines: Deadlines = Deadlines(1.0)  # per config; see protocol_for

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadline = 0.0  # loop time by which the current step must be done
        self._started = False  # some bytes of the current request have arrived
        self._closing = False  # a last reply went out; the rest is ignored
        self._linger: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            body = error_body(
                f"The gateway has its maximum of {self.max_connections} open connections; "
                "retry shortly.",
                "api_error",
                "too_many_connections",
            )
            self._answer_and_close(
                raw_reply("503 Service Unavailable", body, b"retry-after: 1\r\n")
            )
            return
        # Until its first byte a new connection is idle, like one between requests
        # (a client's pool may connect well before it sends).
        self._arm(self.timeout_keep_alive)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._linger is not None:
            self._linger.cancel()
        super().connection_lost(exc)

    def _arm(self, delay_s: float) -> None:
        self.deadline = self.loop.time() + delay_s
        self.deadlines.arm(self)

    def _disarm(self) -> None:
        self.deadlines.armed.discard(self)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._started = True
        self._arm(self.header_timeout_s)

    def on_headers_complete(self) -> None:
        self._started = False
        super().on_headers_complete()
        if self.cycle is not None and self.cycle.more_body:
            self._arm(self.header_timeout_s)  # now for the body's next chunk
        else:
            self._disarm()

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self.deadline = self.loop.time() + self.header_timeout_s  # still armed

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def expire(self) -> None:
        """The deadline passed: headers late (408), body stalled or idle (closed)."""
        if self.transport.is_closing():
            return
        if self._started:
            self._headers_late()
        else:
            self.transport.close()

    def _headers_late(self) -> None:
        body = error_body(
            f"The request's headers did not arrive within {self.header_timeout_s:g} s.",
            "invalid_request_error",
            "request_timeout",
        )
        self._answer_and_close(raw_reply("408 Request Timeout", body))

    def send_400_response(self, msg: str) -> None:
        body = error_body(msg, "invalid_request_error", "invalid_http")
        self._answer_and_close(raw_reply("400 Bad Request", body))

    def _answer_and_close(self, reply: bytes) -> None:
        """Send a last reply, then close once the client has read it.

        Closing at once while the client is still sending would make the kernel
        reset the connection, and a reset can discard the reply unread. So the
        write side is shut, what the client still sends is ignored, and the
        connection closes when the client does (or after LINGER_S).
        """
        self._closing = True
        self._disarm()
        self.transport.write(reply)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._linger = self.loop.call_later(LINGER_S, self.transport.close)

    def data_received(self, data: bytes) -> None:
        if not self._closing:
            super().data_received(data)


def protocol_for(server: ServerConfig) -> type[GuardedProtocol]:
    """The protocol class with this config's limits (uvicorn instantiates it per connection)."""
    # Deadlines are checked four times per shortest timeout, at most once a second:
    # at the defaults (10 s headers, 75 s idle) a deadline fires at most 1 s late.
    tick_s = min(1.0, server.header_timeout_s / 4, server.idle_timeout_s / 4)
    return type(
        "GatewayProtocol",
        (GuardedProtocol,),
        {
            "__slots__": (),
            "header_timeout_s": server.header_timeout_s,
            "max_connections": server.max_connections,
            "deadlines": Deadlines(tick_s),
        },
    )
