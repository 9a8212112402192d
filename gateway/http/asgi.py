"""Small ASGI helpers shared by the doors that talk raw ASGI."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Headers = list[tuple[bytes, bytes]]
# The ASGI types, as Starlette spells them (starlette.types): interchangeable.
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def header(scope: Scope, name: bytes) -> str | None:
    """One request header's value (names are lower-case in ASGI)."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def peer(scope: Scope) -> str | None:
    """The client's address (behind a trusted proxy, uvicorn's X-Forwarded-For reading)."""
    client = scope.get("client")
    return client[0] if client else None


async def send_whole(send: Send, status: int, headers: Headers, body: bytes) -> None:
    """Send a reply whose status, headers and body are all known."""
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def disconnected(receive: Receive) -> None:
    """Return once the client has gone (the request body must be read already)."""
    while (await receive())["type"] != "http.disconnect":
        pass
