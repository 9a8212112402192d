"""Server-sent events as bytes: writing one event or the keep-alive comment, reading ``data:``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

KEEPALIVE = b": keep-alive\n\n"  # a comment line: every SSE client ignores it


def sse_data(body: Any) -> bytes:
    """One ``data:`` event carrying ``body`` as JSON."""
    return b"data: " + orjson.dumps(body) + b"\n\n"


def sse_event(name: str, body: Any) -> bytes:
    """One named event (``event:`` then ``data:``), as Anthropic's stream sends them."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(body) + b"\n\n"


def sse_json(body: bytes) -> Iterator[Any]:
    """The JSON payloads of an SSE body's ``data:`` lines, ``[DONE]`` skipped."""
    for line in body.splitlines():
        if line.startswith(b"data:"):
            payload = line[5:].strip()
            if payload and payload != b"[DONE]":
                yield orjson.loads(payload)
