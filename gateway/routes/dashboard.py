"""The dashboard: its page and static files, served with a strict Content-Security-Policy.

The CSP forbids inline script and inline styles, so everything the page runs comes
from ``/static/`` on this origin, and no request content can become code.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

STATIC = Path(__file__).parent.parent / "static"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; media-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}
# ES modules must be served with a JavaScript type (nosniff makes browsers strict).
MEDIA_TYPES = {".js": b"text/javascript; charset=utf-8", ".css": b"text/css; charset=utf-8"}


class SecureStatic:
    """Static files with the dashboard's security headers and exact media types."""

    def __init__(self, directory: Path) -> None:
        self.files = StaticFiles(directory=directory)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        suffix = Path(scope.get("path", "")).suffix

        async def send_secure(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in (b"cache-control",)
                    and not (k.lower() == b"content-type" and suffix in MEDIA_TYPES)
                ]
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                if suffix in MEDIA_TYPES:
                    headers.append((b"content-type", MEDIA_TYPES[suffix]))
                message = {**message, "headers": headers}
            await send(message)

        await self.files(scope, receive, send_secure)


async def index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers=SECURITY_HEADERS)


def routes() -> list[BaseRoute]:
    return [
        Route("/", index, methods=["GET", "HEAD"]),
        Mount("/static", app=SecureStatic(STATIC), name="dashboard-static"),
    ]
