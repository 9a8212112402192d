"""The gateway's errors: plain exceptions the domain raises and every door maps.

A ``GatewayError`` carries what any door needs to answer with it: a status class
(HTTP's numbers, which every wire this gateway speaks uses), a message, an error
type and code, and whether a retry can help. It knows nothing of HTTP libraries;
``gateway/http/responses.py`` turns it into a reply, and each door chooses the
envelope (OpenAI's by default, Anthropic's on its own door).
"""

from __future__ import annotations

from typing import Any

import orjson

JSON_HEADERS = (("content-type", "application/json"),)


class GatewayError(Exception):
    """An error the gateway itself answers with, in OpenAI's envelope.

    ``retry=False`` adds ``x-should-retry: false`` so the SDK does not resend a
    request that a retry cannot mend.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        retry: bool | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = dict(headers or {})
        if retry is not None:
            self.headers["x-should-retry"] = "true" if retry else "false"

    def envelope(self) -> dict[str, Any]:
        return error_envelope(self.message, self.type, self.code, self.param)

    def body(self) -> bytes:
        return orjson.dumps(self.envelope())


def error_envelope(
    message: str, type: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """OpenAI's error envelope."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def error_body(message: str, type: str, code: str | None = None, param: str | None = None) -> bytes:
    """Serialise OpenAI's error envelope."""
    return orjson.dumps(error_envelope(message, type, code, param))


def bad_request(message: str, param: str | None = None, code: str | None = None) -> GatewayError:
    return GatewayError(400, message, param=param, code=code)


def unauthorized(message: str = "Missing or invalid API key.") -> GatewayError:
    return GatewayError(401, message, type="authentication_error", code="invalid_api_key")


def model_not_found(model: str) -> GatewayError:
    return GatewayError(
        404,
        f"The model '{model}' does not exist or you do not have access to it.",
        param="model",
        code="model_not_found",
    )


def not_found(message: str, code: str | None = "not_found") -> GatewayError:
    return GatewayError(404, message, code=code)


def conflict(message: str, code: str | None = "conflict") -> GatewayError:
    return GatewayError(409, message, code=code)


def unprocessable(message: str, param: str | None = None, code: str | None = None) -> GatewayError:
    return GatewayError(422, message, param=param, code=code)


def body_too_large(limit: int) -> GatewayError:
    return GatewayError(
        413, f"Request body is larger than the limit of {limit} bytes.", code="request_too_large"
    )


def upstream_unreachable(name: str) -> GatewayError:
    return GatewayError(
        502,
        f"Upstream '{name}' could not be reached.",
        type="api_error",
        code="upstream_unreachable",
    )


def upstream_timeout(name: str) -> GatewayError:
    return GatewayError(
        504, f"Upstream '{name}' did not answer in time.", type="api_error", code="upstream_timeout"
    )
