"""The multipart endpoints: audio transcriptions and translations, image edits and variations.

Routed like the JSON endpoints by ``model``, which here is a form field. The
upload is read only until that field is complete (the ``openai`` SDK sends it
before the file; clients that send it after have the file spooled, on disk
beyond ``SPOOL_IN_MEMORY``); the rest streams to the upstream as it arrives.
Only ``model``'s value changes, to ``upstream_model``; every other byte is the
client's. An upload that arrived whole and small gets retries and fallbacks
like a JSON request; a streamed one goes once, to the model's own upstream.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from typing import IO

from starlette.routing import BaseRoute, Route

from gateway.doors.openai.endpoints import FORWARD_HEADERS, ModelEndpoint, Progress
from gateway.errors import GatewayError, bad_request
from gateway.forward.upstream import open_chain, pass_on, relay
from gateway.http.asgi import Receive, Scope, Send, header, peer
from gateway.http.body import BodyStream, body_chunks, declared_length
from gateway.http.multipart import ModelField, ModelValue, boundary_of
from gateway.routing import ForwardRoute
from gateway.services import Services

SPOOL_IN_MEMORY = 1024 * 1024  # bytes of an upload held in memory before the spool goes to disk
READ_SIZE = 64 * 1024

# Multipart endpoint -> whether its model field may be left out (a default model).
UPLOADS = {
    "/v1/audio/transcriptions": False,
    "/v1/audio/translations": False,
    "/v1/images/edits": True,
    "/v1/images/variations": True,
}


def spooled(spool: IO[bytes], then: bytes = b"") -> Iterator[bytes]:
    """The spool's bytes from the start, in blocks, then ``then``."""
    spool.seek(0)
    while block := spool.read(READ_SIZE):
        yield block
    if then:
        yield then


class UploadEndpoint(ModelEndpoint):
    """A multipart ``POST /v1/...`` endpoint routed by its ``model`` form field."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        seen = Progress()
        try:
            status = await self.serve(scope, receive, send, started, seen)
        except Exception as failure:
            sent = await self.failed(failure, scope, receive, send, seen)
            if sent is None:
                return  # the client left before its body arrived
            status = sent
        self.services.metrics.request_done(seen.model, seen.route_kind, status, api=self.api)

    async def serve(
        self, scope: Scope, receive: Receive, send: Send, started: float, seen: Progress
    ) -> int:
        services = self.services
        services.client_auth.identify(header(scope, b"authorization"), peer(scope))
        boundary = boundary_of(header(scope, b"content-type"))
        if boundary is None:
            raise bad_request("This endpoint takes a multipart/form-data body.")
        declared = declared_length(scope, self.limit)
        chunks = aiter(body_chunks(scope, receive, self.limit))
        finder = ModelField(boundary)
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
            found, read = await _find_model(chunks, finder, spool)
            if found is None:
                if not (self.model_optional and services.router.default_upstream):
                    finder.missing()
                body = BodyStream(spooled(spool, finder.remainder()), chunks)
                return await self.to_default(scope, receive, send, body, seen, read)
            seen.model = found.model
            route = self.route(found.model, seen)
            assert isinstance(route, ForwardRoute)  # people answer no uploads (route() says so)
            if declared is not None and read == declared and read <= SPOOL_IN_MEMORY:
                head = _read_all(spool) + found.before
                return await self._whole(scope, receive, send, route, found, head)
            new = route.chain[0].upstream_model.encode()
            length = None if declared is None else declared - len(found.model.encode()) + len(new)
            body = BodyStream(spooled(spool, found.before + new + found.after), chunks)
            return await self._streamed(scope, receive, send, route, body, length)

    async def _whole(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        route: ForwardRoute,
        found: ModelValue,
        head: bytes,
    ) -> int:
        """The whole body is in memory: through the fallback chain, each upstream's model
        name in the form field."""

        def payload_for(upstream_model: str) -> bytes:
            return head + upstream_model.encode() + found.after

        _, reply = await open_chain(
            route.chain, self.path, b"", found.model, scope["headers"], payload_for
        )
        await relay(reply, send, receive, FORWARD_HEADERS)
        return reply.status

    async def _streamed(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        route: ForwardRoute,
        body: BodyStream,
        length: int | None,
    ) -> int:
        """A large body streams on to the first upstream (a stream cannot be replayed)."""
        target = route.chain[0]
        try:
            return await pass_on(
                target.upstream, "POST", self.path, body, scope, receive, send,
                FORWARD_HEADERS, length,
            )  # fmt: skip
        except GatewayError:
            if body.error is not None:
                raise body.error from None
            raise


async def _find_model(
    chunks: AsyncIterator[bytes], finder: ModelField, spool: IO[bytes]
) -> tuple[ModelValue | None, int]:
    """Read (and spool) the body up to its ``model`` field; the bytes read so far."""
    read = 0
    async for chunk in chunks:
        read += len(chunk)
        found = finder.feed(chunk)
        spool.write(finder.flushed())
        if found is not None:
            return found, read
    return None, read


def _read_all(spool: IO[bytes]) -> bytes:
    spool.seek(0)
    return spool.read()


def upload_endpoints(services: Services) -> dict[str, UploadEndpoint]:
    """``POST`` path -> endpoint, for the app to call without Starlette's routing."""
    return {
        path: UploadEndpoint(
            services,
            path.removeprefix("/v1/").replace("/", "."),
            path.removeprefix("/v1"),
            model_optional=optional,
        )
        for path, optional in UPLOADS.items()
    }


def routes(services: Services) -> list[BaseRoute]:
    """As routes they give methods other than ``POST`` a 405 (the app calls them directly)."""
    return [
        Route(path, endpoint, methods=["POST"])
        for path, endpoint in upload_endpoints(services).items()
    ]
