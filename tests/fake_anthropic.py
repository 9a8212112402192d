"""A fake Anthropic Messages API upstream, for the Anthropic door's forwarding and hybrid tests.

It serves ``POST /v1/messages`` (JSON and SSE, bodies that pass the ``anthropic``
SDK's types) and ``POST /v1/messages/count_tokens``. Tests script the next
replies with :class:`Step` (an error status, a stream that withholds its rest,
the answer's content and ``stop_reason``) and read back every request, headers
and raw body included. It runs in :class:`harness.ThreadedServer`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from harness import ThreadedServer, wait_until

MAX_HOLD_S = 15.0


@dataclass(frozen=True)
class Step:
    """How the fake answers one request; the default is a text answer.

    ``status`` other than 200 sends an Anthropic error envelope. ``content`` and
    ``stop_reason`` make the answer. ``hold`` makes a stream send its first event,
    then wait for :meth:`FakeAnthropic.release`.
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content: list[dict[str, Any]] | None = None
    stop_reason: str | None = None
    hold: bool = False


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return orjson.loads(self.body)


class FakeAnthropic:
    """An Anthropic-format server whose next replies a test can script."""

    def __init__(self, name: str = "claude-fake") -> None:
        self.name = name
        self.received: list[Received] = []
        self.sent: list[bytes] = []
        self._steps: deque[Step] = deque()
        self._ids = itertools.count(1)
        self._server = ThreadedServer(self._app())
        self._release: asyncio.Event | None = None

    def __enter__(self) -> FakeAnthropic:
        self._server.__enter__()
        self._server.call(self._arm())
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self._server.__exit__(*exc)

    async def _arm(self) -> None:
        self._release = asyncio.Event()

    @property
    def url(self) -> str:
        """The base URL as the anthropic SDK takes it (no ``/v1``)."""
        return self._server.url

    def plan(self, *steps: Step) -> None:
        self._steps.extend(steps)

    def reset(self) -> None:
        self.release()
        self._steps.clear()
        self.received.clear()
        self.sent.clear()
        self._server.call(self._arm())

    def release(self) -> None:
        if self._release is not None:
            self._server.loop.call_soon_threadsafe(self._release.set)

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> list[Received]:
        wait_until(lambda: len(self.received) >= count, timeout, what=f"{count} requests")
        return self.received[:count]

    @property
    def last(self) -> Received:
        return self.received[-1]

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1/messages/count_tokens", self._count)
        return app

    async def _receive(self, request: web.Request) -> Step:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.received.append(
            Received(request.method, request.path, request.query_string, headers, body)
        )
        return self._steps.popleft() if self._steps else Step()

    async def _count(self, request: web.Request) -> web.Response:
        await self._receive(request)
        return web.json_response({"input_tokens": 42})

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        step = await self._receive(request)
        if step.status != 200:
            kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(step.status, "api_error")
            error = {"type": "error", "error": {"type": kind, "message": f"fake {step.status}"}}
            return web.json_response(error, status=step.status, headers=step.headers)
        data = orjson.loads(self.received[-1].body)
        content = step.content or [{"type": "text", "text": f"hello from {self.name}"}]
        stop = step.stop_reason or (
            "tool_use" if any(b["type"] == "tool_use" for b in content) else "end_turn"
        )
        message = {
            "id": f"msg_fake{next(self._ids)}",
            "type": "message",
            "role": "assistant",
            "model": data["model"],
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": 11, "output_tokens": 7},
        }
        if not data.get("stream"):
            body = orjson.dumps(message)
            self.sent.append(body)
            return web.Response(body=body, content_type="application/json", headers=step.headers)
        frames = list(events(message))
        reply = web.StreamResponse(
            headers={"content-type": "text/event-stream", "cache-control": "no-cache"}
        )
        await reply.prepare(request)
        self.sent.append(b"".join(frames))
        for index, frame in enumerate(frames):
            await reply.write(frame)
            if index == 0 and step.hold:
                await self._hold()
        return reply

    async def _hold(self) -> None:
        assert self._release is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._release.wait(), MAX_HOLD_S)


def _event(kind: str, body: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **body}) + b"\n\n"


def events(message: dict[str, Any]) -> list[bytes]:
    """A message as Anthropic streams it (reference §3)."""
    start = {**message, "content": [], "stop_reason": None, "usage": {**message["usage"]}}
    out = [_event("message_start", {"message": start}), _event("ping", {})]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            out.append(
                _event(
                    "content_block_start", {"index": index, "content_block": {**block, "text": ""}}
                )
            )
            delta = {"type": "text_delta", "text": block["text"]}
        else:
            out.append(
                _event(
                    "content_block_start", {"index": index, "content_block": {**block, "input": {}}}
                )
            )
            delta = {
                "type": "input_json_delta",
                "partial_json": orjson.dumps(block["input"]).decode(),
            }
        out.append(_event("content_block_delta", {"index": index, "delta": delta}))
        out.append(_event("content_block_stop", {"index": index}))
    out.append(
        _event(
            "message_delta",
            {
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": message["usage"]["output_tokens"]},
            },
        )
    )
    out.append(_event("message_stop", {}))
    return out
