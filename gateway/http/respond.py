"""Writing replies to a ``Call``: JSON, SSE streams and errors, as ASGI messages.

The doors encode the domain's outcomes through these functions and never build
an ASGI message themselves.

Replies may begin as an SSE stream before their outcome is known.

A streaming client waiting on a person (or on a hybrid route's model) gets
``: keep-alive`` comments; the status line goes out with the first of them and
``Call.response_started`` records it. From then on the rest of the reply,
an error included, can only be more of the stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import orjson

from gateway.errors import GatewayError
from gateway.http.asgi import Headers, send_whole
from gateway.http.call import Call
from gateway.http.sse import KEEPALIVE, sse_data

SSE_HEADERS: Headers = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
JSON_HEADERS: Headers = [(b"content-type", b"application/json")]


def error_event(error: GatewayError) -> bytes:
    """An error as an SSE ``data:`` event, which the SDK raises as ``APIError``."""
    return sse_data({"error": orjson.loads(error.body())["error"]})


async def start_stream(call: Call, headers: Headers) -> None:
    """Send an SSE stream's status line and headers, once."""
    if not call.response_started:
        call.response_started = True
        await call.send(
            {"type": "http.response.start", "status": 200, "headers": [*SSE_HEADERS, *headers]}
        )


async def keep_alive(call: Call, headers: Headers) -> None:
    """One ``: keep-alive`` comment, starting the stream first if need be."""
    await start_stream(call, headers)
    await call.send({"type": "http.response.body", "body": KEEPALIVE, "more_body": True})


async def send_rest(call: Call, status: int, headers: Headers, body: bytes) -> None:
    """A whole reply, or, once a stream has started, its last bytes."""
    if call.response_started:
        await call.send({"type": "http.response.body", "body": body, "more_body": False})
    else:
        await send_whole(call.send, status, headers, body)


async def send_upstream_error(call: Call, status: int, headers: Headers, body: bytes) -> None:
    """An upstream's error reply as it came, or as a ``data:`` event once a stream began."""
    if call.response_started:
        body = b"data: " + body.strip() + b"\n\n"
    await send_rest(call, status, headers, body)


async def send_error(
    call: Call, error: GatewayError, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """A gateway error: a JSON reply, or a ``data:`` event once a stream has begun."""
    if call.response_started:
        await send_rest(call, error.status, [], error_event(error))
        return
    encoded = [(k.encode(), v.encode()) for k, v in error.headers.items()]
    await send_whole(call.send, error.status, [*JSON_HEADERS, *encoded, *headers], error.body())


async def send_json(call: Call, status: int, headers: Headers, body: bytes) -> None:
    """A whole JSON reply."""
    await send_whole(call.send, status, [*JSON_HEADERS, *headers], body)


async def send_stream(call: Call, headers: Headers, chunks: Iterable[bytes]) -> None:
    """A whole SSE stream (its status line may have gone out with a keep-alive)."""
    await start_stream(call, headers)
    for chunk in chunks:
        await call.send({"type": "http.response.body", "body": chunk, "more_body": True})
    await call.send({"type": "http.response.body", "body": b"", "more_body": False})
