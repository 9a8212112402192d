"""Gateway errors in Anthropic's envelope, with Anthropic's status table (reference §4).

413's ``request_too_large`` is in Anthropic's API reference but not (yet) in the
SDK's ``ErrorResponse`` type, which only types the body; the SDK raises by status.

``{"type": "error", "error": {"type": ..., "message": ...}, "request_id": ...}``.
The SDK raises the class the status names (``BadRequestError``, ...) and keeps
the body; it retries 429, 5xx and 529, as the gateway's retryable errors ask.
"""

from __future__ import annotations

import secrets

import orjson

from gateway.errors import GatewayError

OVERLOADED = 529  # Anthropic's "overloaded": the SDK retries it
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",  # the SDK's GatewayTimeoutError: nobody answered in time
    OVERLOADED: "overloaded_error",
}
# Gateway codes whose status Anthropic spells differently: a store outage is the
# gateway being overloaded, not broken.
_STATUS_BY_CODE = {"store_unavailable": OVERLOADED}


def status_of(error: GatewayError) -> int:
    status = _STATUS_BY_CODE.get(error.code or "", error.status)
    return 400 if status == 422 else status  # Anthropic has no 422: a bad request is a 400


def error_type(status: int) -> str:
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return "invalid_request_error" if status < 500 else "api_error"


def envelope(error: GatewayError) -> dict:
    status = status_of(error)
    return {
        "type": "error",
        "error": {"type": error_type(status), "message": error.message},
        "request_id": "req_" + secrets.token_hex(12),
    }


def body(error: GatewayError) -> bytes:
    return orjson.dumps(envelope(error))


def event(error: GatewayError) -> bytes:
    """The error as an SSE ``error`` event, once a stream has begun."""
    return b"event: error\ndata: " + body(error) + b"\n\n"


def headers(error: GatewayError) -> list[tuple[bytes, bytes]]:
    return [(key.encode(), value.encode()) for key, value in error.headers.items()]
