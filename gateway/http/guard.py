"""Checks every HTTP request passes before any route sees it.

- **Host** (DNS rebinding): a gateway bound to a loopback address answers only
  requests whose ``Host`` is a loopback name, unless ``server.allowed_hosts``
  lists it. A page on ``attacker.example`` that re-resolves its name to
  127.0.0.1 sends ``Host: attacker.example`` and is refused.
- **Origin** (forged requests): a state-changing request from a browser must
  come from the gateway's own origin. ``Sec-Fetch-Site`` decides when the
  browser sent it (it is computed by the browser and survives a proxy); else
  ``Origin`` must name the ``Host`` the request was sent to. Non-browser clients
  send neither and pass.
- **Content type**: a state-changing ``/api/*`` request with a body must say
  ``application/json``, so an HTML form or a ``no-cors`` fetch (which can only
  send form and text types) cannot reach a handler.
- **Body size**: every route but the two model endpoints (which count their
  own) reads its body through a counter that refuses with 413 past the limit.

The checks are one pass over the headers, so they cost the forwarding path
almost nothing.
"""

from __future__ import annotations

from gateway.config.sections import ServerConfig, is_loopback
from gateway.errors import GatewayError, body_too_large
from gateway.http.asgi import Message, Receive, Scope

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Doors whose bodies carry a model's request (screenshots, MCP images): max_body_mb.
MODEL_DOORS = ("/v1/", "/cua/", "/mcp")
# Sec-Fetch-Site values a request from the dashboard (or a typed URL) carries.
_OWN_SITE = frozenset({b"same-origin", b"none"})


def host_name(host: str) -> str:
    """``Host`` without its port, lower-case; an IPv6 literal without brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def forbidden(message: str, code: str) -> GatewayError:
    return GatewayError(403, message, type="permission_error", code=code)


class RequestGuard:
    """The shared request checks, configured once from ``[server]``."""

    def __init__(self, server: ServerConfig) -> None:
        self.allowed = frozenset(name.lower() for name in server.allowed_hosts)
        self.any_host = "*" in self.allowed or (not self.allowed and not is_loopback(server.host))
        self._seen_hosts: set[bytes] = set()
        self.api_limit = server.max_api_body_bytes
        self.model_limit = server.max_body_bytes

    def refuse(self, scope: Scope) -> GatewayError | None:
        """The error this request gets before any route, or ``None`` to let it through."""
        host = origin = fetch_site = content_type = None
        has_body, length = False, 0
        for name, value in scope["headers"]:  # bytes compared, decoded only when used
            if name == b"host":
                host = value
            elif name == b"origin":
                origin = value
            elif name == b"sec-fetch-site":
                fetch_site = value
            elif name == b"content-type":
                content_type = value
            elif name == b"content-length":
                length = int(value) if value.isdigit() else 0
                has_body = length > 0
            elif name == b"transfer-encoding":
                has_body = True
        if host is not None and not self.any_host and not self.host_allowed(host):
            return GatewayError(
                421,
                f"Host '{host_name(host.decode('latin-1'))}' is not served here: "
                "add it to server.allowed_hosts.",
                code="host_not_allowed",
            )
        limit = self.model_limit if scope["path"].startswith(MODEL_DOORS) else self.api_limit
        if length > limit:
            return body_too_large(limit)
        if scope["method"] in SAFE_METHODS:
            return None
        if fetch_site is not None:
            if fetch_site.lower() not in _OWN_SITE:
                site = fetch_site.decode("latin-1")
                return forbidden(f"A {site} request cannot change anything here.", "cross_origin")
        elif origin is not None and not _same_origin(origin, host):
            return forbidden(
                "The request's Origin is not this gateway's: it is refused.", "cross_origin"
            )
        if scope["path"].startswith("/api/") and (content_type is not None or has_body):
            media_type = (content_type or b"").partition(b";")[0].strip().lower()
            if media_type != b"application/json":
                return GatewayError(
                    415,
                    "Send the body as JSON with 'Content-Type: application/json'.",
                    code="unsupported_media_type",
                )
        return None

    def host_allowed(self, host: bytes) -> bool:
        if host in self._seen_hosts:
            return True
        name = host_name(host.decode("latin-1"))
        allowed = name in self.allowed or is_loopback(name)
        if allowed and len(self._seen_hosts) < 64:  # the few names in use, remembered
            self._seen_hosts.add(host)
        return allowed

    def limited(self, scope: Scope, receive: Receive) -> Receive:
        """``receive`` counting body bytes, raising a 413 error past the route's limit."""
        limit = self.model_limit if scope["path"].startswith(MODEL_DOORS) else self.api_limit
        size = 0

        async def counted() -> Message:
            nonlocal size
            message = await receive()
            size += len(message.get("body", b""))
            if size > limit:
                raise body_too_large(limit)
            return message

        return counted


def _same_origin(origin: bytes, host: bytes | None) -> bool:
    """Whether ``Origin`` (``scheme://host[:port]``) names the ``Host`` asked for.

    The scheme is not compared: behind a TLS proxy the gateway sees plain HTTP.
    """
    if host is None:
        return False
    _, sep, rest = origin.partition(b"://")
    return bool(sep) and rest.lower() == host.strip().lower()
