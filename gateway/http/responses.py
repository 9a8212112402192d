"""A ``GatewayError`` as a Starlette reply, in OpenAI's envelope."""

from __future__ import annotations

from starlette.responses import Response

from gateway.errors import GatewayError


def error_response(error: GatewayError, headers: dict[str, str] | None = None) -> Response:
    """The error's JSON envelope with its status and headers."""
    return Response(
        error.body(),
        status_code=error.status,
        media_type="application/json",
        headers={**error.headers, **(headers or {})},
    )
