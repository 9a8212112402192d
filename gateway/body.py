"""Reading a client's request body and the few fields of it the gateway needs."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from gateway.errors import bad_request, body_too_large


class RequestHead(BaseModel):
    """The fields of an OpenAI request body that decide where it goes."""

    model_config = ConfigDict(extra="ignore")

    model: str
    stream: bool = False


async def read_body(scope: dict, receive, limit: int) -> bytes:
    """The whole request body, refused with 413 as soon as it passes ``limit`` bytes."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                raise bad_request("Invalid Content-Length header.") from None
            if declared > limit:
                raise body_too_large(limit)
            break
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionResetError("client disconnected while sending its body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise body_too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def parse_body(body: bytes) -> tuple[dict[str, Any], RequestHead]:
    """Parse JSON and pick out ``model`` and ``stream``, with OpenAI-style 400s."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"We could not parse the JSON body of your request: {exc}") from None
    if not isinstance(data, dict):
        raise bad_request("The request body must be a JSON object.")
    if "model" not in data:
        raise bad_request("you must provide a model parameter", param="model")
    try:
        head = RequestHead.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else None
        raise bad_request(f"Invalid '{field}': {error['msg']}.", param=field) from None
    return data, head
