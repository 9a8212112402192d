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
these timers touch it.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.config import ServerConfig
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


class GuardedProtocol(HttpToolsProtocol):
    """One connection, with the header/body timers and the connection bound."""

    header_timeout_s: float = 10.0
    max_connections: int = 16384

    _timer: asyncio.TimerHandle | None = None
    _started = False  # some bytes of the current request have arrived
    _closing = False  # a last reply went out; the rest is ignored

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
        self._arm(self._headers_late, self.timeout_keep_alive)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, callback, delay_s: float | None = None) -> None:
        self._disarm()
        delay_s = self.header_timeout_s if delay_s is None else delay_s
        self._timer = self.loop.call_later(delay_s, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._started = True
        self._arm(self._headers_late)

    def on_headers_complete(self) -> None:
        self._disarm()
        self._started = False
        super().on_headers_complete()
        if self.cycle is not None and self.cycle.more_body:
            self._arm(self._body_stalled)

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self._arm(self._body_stalled)

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def _headers_late(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if self._started:
            body = error_body(
                f"The request's headers did not arrive within {self.header_timeout_s:g} s.",
                "invalid_request_error",
                "request_timeout",
            )
            self._answer_and_close(raw_reply("408 Request Timeout", body))
        else:
            self.transport.close()

    def _body_stalled(self) -> None:
        self._timer = None
        if not self.transport.is_closing():
            self.transport.close()

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
        self._timer = self.loop.call_later(LINGER_S, self.transport.close)

    def data_received(self, data: bytes) -> None:
        if not self._closing:
            super().data_received(data)


def protocol_for(server: ServerConfig) -> type[GuardedProtocol]:
    """The protocol class with this config's limits (uvicorn instantiates it per connection)."""
    return type(
        "GatewayProtocol",
        (GuardedProtocol,),
        {
            "header_timeout_s": server.header_timeout_s,
            "max_connections": server.max_connections,
        },
    )
