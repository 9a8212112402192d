"""Reading a client's request body and the few fields of it the gateway needs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from gateway.errors import GatewayError, bad_request, body_too_large
from gateway.http.asgi import Message, Receive, Scope

ORJSON_DEPTH = 1024  # orjson refuses deeper JSON; the gateway's forwarding path relies on it


@dataclass(frozen=True, slots=True)
class RequestHead:
    """The fields of an OpenAI request body that decide where it goes.

    A slotted dataclass checked by a pydantic adapter (the same checks and messages
    as a model, other fields ignored): 48 bytes held per waiting client where a
    model held about 380 (bench/human.py --trace), and a little faster to check.
    """

    model: str
    stream: bool = False


_HEAD = TypeAdapter(RequestHead)


def declared_length(scope: Scope, limit: int) -> int | None:
    """The request's ``Content-Length``, if it sent one; 413 when over ``limit``."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                raise bad_request("Invalid Content-Length header.") from None
            if declared > limit:
                raise body_too_large(limit)
            return declared
    return None


async def body_chunks(scope: Scope, receive: Receive, limit: int) -> AsyncIterator[bytes]:
    """The request body chunk by chunk as it arrives, for bodies streamed on unread.

    Refused with 413 as soon as it passes ``limit`` bytes; a client that leaves
    mid-body raises ``ConnectionResetError``.
    """
    declared_length(scope, limit)
    size = 0
    while True:
        message = await receive()
        chunk = _checked(message, size, limit)
        size += len(chunk)
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


def _checked(message: Message, size: int, limit: int) -> bytes:
    """A body message's bytes; ``size`` bytes came before. Raises past ``limit`` or when
    the client left."""
    if message["type"] == "http.disconnect":
        raise ConnectionResetError("client disconnected while sending its body")
    chunk = message.get("body", b"")
    if size + len(chunk) > limit:
        raise body_too_large(limit)
    return chunk


class BodyStream:
    """A request body sent on as it arrives: ``first`` (bytes already read), then the rest.

    An error reading the client (it left, or passed the size limit) breaks the
    upstream request; it is kept in ``error`` so the door reports it instead.
    """

    def __init__(self, first: Iterable[bytes], rest: AsyncIterator[bytes]) -> None:
        self.first = first
        self.rest = rest
        self.error: BaseException | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for block in self.first:
            yield block
        try:
            async for chunk in self.rest:
                yield chunk
        except (GatewayError, ConnectionResetError) as error:
            self.error = error
            raise


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole request body, refused with 413 as soon as it passes ``limit`` bytes.

    A loop rather than ``body_chunks``: most bodies arrive in one message, and an
    async generator costs a forwarded request about 2 us for nothing.
    """
    declared_length(scope, limit)
    chunks = []
    size = 0
    while True:
        message = await receive()
        chunk = _checked(message, size, limit)
        size += len(chunk)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def parse_body(body: bytes) -> tuple[dict[str, Any], RequestHead]:
    """Parse JSON and pick out ``model`` and ``stream``, with OpenAI-style 400s."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if str(exc).startswith("depth limit"):  # orjson's own bound
            raise bad_request(
                f"The request body nests objects and arrays deeper than {ORJSON_DEPTH} levels.",
                code="json_too_deep",
            ) from None
        raise bad_request(f"We could not parse the JSON body of your request: {exc}") from None
    if not isinstance(data, dict):
        raise bad_request("The request body must be a JSON object.")
    if "model" not in data:
        raise bad_request("you must provide a model parameter", param="model")
    try:
        model, stream = data["model"], data.get("stream", False)
        if type(model) is str and type(stream) is bool:  # the usual body: nothing to check
            head = RequestHead(model, stream)
        else:
            head = _HEAD.validate_python(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else None
        raise bad_request(f"Invalid '{field}': {error['msg']}.", param=field) from None
    return data, head
