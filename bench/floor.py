"""The floor of the gateway's stack: a bare Starlette + aiohttp pass-through on uvicorn.

    python bench/floor.py --upstream http://127.0.0.1:9000 --port 4100

It relays ``POST /v1/chat/completions`` to one upstream with no checks, no config,
no metrics, no auth: the least a Python proxy on this stack (uvicorn with uvloop and
httptools, Starlette, an aiohttp client pool) can do per request. The gateway runs
on the same stack, so it cannot beat this; ``bench/forward.py`` measures the
gateway's forwarding as a share of it, in the same run, on the same core.

Streaming replies (``text/event-stream``) are relayed chunk by chunk as they
arrive, like the gateway does. ``GET /healthz`` says it is up.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route


def make_app(upstream: str) -> Starlette:
    """The pass-through app in front of ``upstream`` (a base URL without ``/v1``)."""
    target = upstream.rstrip("/") + "/v1/chat/completions"
    session: aiohttp.ClientSession | None = None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nonlocal session
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        yield
        await session.close()

    async def chat(request: Request) -> Response:
        assert session is not None
        body = await request.body()
        reply = await session.post(target, data=body, headers={"content-type": "application/json"})
        if reply.content_type == "text/event-stream":

            async def relay() -> AsyncIterator[bytes]:
                try:
                    async for chunk in reply.content.iter_any():
                        yield chunk
                finally:
                    reply.release()

            return StreamingResponse(relay(), media_type="text/event-stream")
        data = await reply.read()
        reply.release()
        return Response(data, status_code=reply.status, media_type="application/json")

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/healthz", health),
        ],
        lifespan=lifespan,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="the upstream's base URL")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # The gateway's own settings (gateway/http/server.py): uvloop and httptools via
    # "auto", no access log.
    uvicorn.run(
        make_app(args.upstream),
        host="127.0.0.1",
        port=args.port,
        loop="auto",
        http="auto",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
