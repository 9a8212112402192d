"""A configurable fake OpenAI-compatible upstream, for the forwarding tests.

It serves ``/v1/chat/completions`` and ``/v1/responses`` (streaming and not),
``GET /v1/responses/{id}`` for responses it made, and ``GET /v1/models``, with
bodies that pass the ``openai`` SDK's own types. Tests script the next replies
with :class:`Step` (an error status with ``Retry-After``, a delay, a dropped
connection, a stream that withholds its second chunk until released) and read
back every request it received, headers and raw body included.

It runs inside :class:`harness.ThreadedServer`, so sync and async tests can
drive it; every wait inside it is bounded, and ``release()`` frees them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import openai
import orjson
import pytest
from aiohttp import web
from harness import Gateway, ThreadedServer, closed_port, run_gateway, wait_until

# The longest any scripted wait lasts if a test never releases it.
MAX_HOLD_S = 15.0
CREATED = 1741569952


@dataclass(frozen=True)
class Step:
    """How the fake answers one request; the default is a normal success.

    ``status`` other than 200 sends ``body`` (default: an OpenAI error envelope).
    ``delay_s`` waits before the headers. ``drop`` closes the connection without
    a reply. ``hold`` makes a stream send its first chunk, then withhold the rest
    until :meth:`FakeUpstream.release`. ``cut`` makes a stream close the
    connection right after its first chunk.
    """

    status: int = 200
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    drop: bool = False
    hold: bool = False
    cut: bool = False


@dataclass(frozen=True)
class Received:
    """One request as the fake saw it."""

    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    at: float  # time.monotonic() on arrival

    def json(self) -> dict:
        return orjson.loads(self.body)


class FakeUpstream:
    """An OpenAI-compatible server whose next replies a test can script."""

    def __init__(self, name: str = "fake") -> None:
        self.name = name
        self.received: list[Received] = []
        self._steps: deque[Step] = deque()
        self._ids = itertools.count(1)
        self._responses: dict[str, bytes] = {}
        self._server = ThreadedServer(self._app())
        self._release: asyncio.Event | None = None
        self.sent: list[bytes] = []  # every success body, whole, as written
        self.holding = False  # a stream is withholding its chunks after the first
        self.abandoned = 0  # held streams whose peer closed the connection meanwhile

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self) -> FakeUpstream:
        self._server.__enter__()
        self._server.call(self._make_event())
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self._server.__exit__(*exc)

    async def _make_event(self) -> None:
        self._release = asyncio.Event()

    @property
    def url(self) -> str:
        """The base URL a config puts in ``[upstreams.X] base_url``."""
        return self._server.url + "/v1"

    # -- controls ----------------------------------------------------------

    def plan(self, *steps: Step) -> None:
        """Answer the next requests with these steps, in order, then normally."""
        self._steps.extend(steps)

    def reset(self) -> None:
        """Forget scripted steps and received requests; re-arm the hold."""
        self.release()
        self._steps.clear()
        self.received.clear()
        self.sent.clear()
        self.abandoned = 0
        self._server.call(self._make_event())

    def release(self) -> None:
        """Let every held stream and pending delay go on."""
        if self._release is not None:
            self._server.loop.call_soon_threadsafe(self._release.set)

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until ``count`` requests have arrived; return them."""
        wait_until(lambda: len(self.received) >= count, timeout, what=f"{count} upstream requests")
        return self.received[:count]

    @property
    def last(self) -> Received:
        return self.received[-1]

    # -- the server --------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/responses", self._responses_post)
        app.router.add_get("/v1/responses/{id}", self._responses_get)
        app.router.add_get("/v1/models", self._models)
        app.router.add_route("*", "/v1/{tail:.*}", self._other)
        return app

    async def _receive(self, request: web.Request) -> Step:
        body = await request.read()
        self.received.append(
            Received(
                request.method,
                request.path,
                {k.lower(): v for k, v in request.headers.items()},
                body,
                time.monotonic(),
            )
        )
        step = self._steps.popleft() if self._steps else Step()
        if step.delay_s:
            await self._wait(step.delay_s)
        return step

    async def _wait(self, seconds: float) -> None:
        """Sleep, but end early when the test releases everything."""
        assert self._release is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._release.wait(), seconds)

    async def _hold(self, request: web.Request) -> bool:
        """Withhold until released; True if the peer closed the connection meanwhile."""
        assert self._release is not None
        deadline = time.monotonic() + MAX_HOLD_S
        while not self._release.is_set() and time.monotonic() < deadline:
            if request.transport is None or request.transport.is_closing():
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), 0.05)
        return False

    async def _special(self, request: web.Request, step: Step) -> web.StreamResponse | None:
        """The reply for a non-default step, or ``None`` to answer normally."""
        if step.drop:
            assert request.transport is not None
            request.transport.close()
            return web.Response()  # never reaches the closed socket
        if step.status != 200:
            body = step.body
            if body is None:
                body = orjson.dumps(
                    {
                        "error": {
                            "message": f"{self.name} says {step.status}",
                            "type": "server_error" if step.status >= 500 else "invalid_request",
                            "param": None,
                            "code": f"fake_{step.status}",
                        }
                    }
                )
            headers = {"content-type": "application/json", **step.headers}
            return web.Response(status=step.status, body=body, headers=headers)
        return None

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        step = await self._receive(request)
        if (special := await self._special(request, step)) is not None:
            return special
        data = orjson.loads(self.received[-1].body)
        model, ident = data["model"], f"chatcmpl-{self.name}{next(self._ids)}"
        text = f"hello from {self.name}"
        if not data.get("stream"):
            return self._json(chat_completion(ident, model, text), step.headers)
        events = [
            chat_chunk(ident, model, {"role": "assistant", "content": ""}),
            chat_chunk(ident, model, {"content": text}),
            chat_chunk(ident, model, {}, finish_reason="stop"),
        ]
        frames = [b"data: " + orjson.dumps(e) + b"\n\n" for e in events] + [b"data: [DONE]\n\n"]
        return await self._stream(request, frames, step)

    async def _responses_post(self, request: web.Request) -> web.StreamResponse:
        step = await self._receive(request)
        if (special := await self._special(request, step)) is not None:
            return special
        data = orjson.loads(self.received[-1].body)
        ident = f"resp_{self.name}{next(self._ids)}"
        text = f"hello from {self.name}"
        final = response_object(ident, data["model"], text)
        self._responses[ident] = orjson.dumps(final)
        if not data.get("stream"):
            return self._json(final, step.headers)
        events = response_events(ident, data["model"], text, final)
        frames = [
            b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n"
            for e in events
        ]
        return await self._stream(request, frames, step)

    async def _stream(
        self, request: web.Request, frames: list[bytes], step: Step
    ) -> web.StreamResponse:
        reply = web.StreamResponse(
            headers={
                "content-type": "text/event-stream",
                "cache-control": "no-cache",
                **step.headers,
            }
        )
        await reply.prepare(request)
        self.sent.append(b"".join(frames))
        # Set before the first chunk leaves, so a client that has it sees the hold.
        self.holding = step.hold
        for index, frame in enumerate(frames):
            await reply.write(frame)
            if index == 0 and step.cut:
                assert request.transport is not None
                request.transport.close()
                return reply
            if index == 0 and step.hold:
                left = await self._hold(request)
                self.holding = False
                if left:
                    self.abandoned += 1
                    return reply
        await reply.write_eof()
        return reply

    async def _responses_get(self, request: web.Request) -> web.Response:
        await self._receive(request)
        stored = self._responses.get(request.match_info["id"])
        if stored is None:
            return web.Response(
                status=404,
                body=orjson.dumps(
                    {
                        "error": {
                            "message": "No such response",
                            "type": "invalid_request_error",
                            "param": None,
                            "code": None,
                        }
                    }
                ),
                content_type="application/json",
            )
        return web.Response(body=stored, content_type="application/json")

    async def _other(self, request: web.Request) -> web.Response:
        """The rest of /v1: a canned reply per endpoint (``OTHER_REPLIES``)."""
        step = await self._receive(request)
        if (special := await self._special(request, step)) is not None:
            return special
        path = request.path.removeprefix("/v1")
        parts = path.strip("/").split("/")
        if parts[0] == "responses" and len(parts) >= 2:
            return self._response_resource(request.method, parts[1], parts[2:])
        received = self.received[-1]
        model = ""
        if received.body and received.headers.get("content-type", "").startswith(
            "application/json"
        ):
            model = received.json().get("model", "")
        reply = OTHER_REPLIES.get(path)
        if reply is None:
            reply = {"object": "echo", "method": request.method, "path": path}
        if isinstance(reply, bytes):
            self.sent.append(reply)
            return web.Response(body=reply, headers={"content-type": "audio/mpeg", **step.headers})
        body = orjson.loads(orjson.dumps(reply).replace(b"$MODEL", model.encode()))
        return self._json(body, step.headers)

    def _response_resource(self, method: str, ident: str, rest: list[str]) -> web.Response:
        stored = self._responses.get(ident)
        if stored is None:
            return web.json_response(
                {"error": {"message": "No such response", "type": "x"}}, status=404
            )
        if rest == ["input_items"]:
            item = {
                "id": "msg_in_" + ident,
                "type": "message",
                "role": "user",
                "status": "completed",
                "content": [{"type": "input_text", "text": "Say hello"}],
            }
            page = {"object": "list", "data": [item], "first_id": item["id"]}
            return self._json({**page, "last_id": item["id"], "has_more": False}, {})
        if method == "DELETE":
            del self._responses[ident]
            return self._json({"id": ident, "object": "response.deleted", "deleted": True}, {})
        return self._json({**orjson.loads(stored), "status": "cancelled"}, {})

    async def _models(self, request: web.Request) -> web.Response:
        await self._receive(request)
        return self._json({"object": "list", "data": []}, {})

    def _json(self, data: dict, headers: dict[str, str]) -> web.Response:
        body = orjson.dumps(data)
        self.sent.append(body)
        return web.Response(body=body, headers={"content-type": "application/json", **headers})


def _moderation_flags(value: object) -> dict:
    """Every category the SDK's moderation types require, each set to ``value``."""
    from openai.types.moderation import Categories

    return {field.alias or name: value for name, field in Categories.model_fields.items()}


# Canned replies of the other endpoints ($MODEL: the model the request named).
OTHER_REPLIES: dict[str, dict | bytes] = {
    "/embeddings": {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.25, -0.5, 1.0]}],
        "model": "$MODEL",
        "usage": {"prompt_tokens": 2, "total_tokens": 2},
    },
    "/completions": {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": CREATED,
        "model": "$MODEL",
        "choices": [{"text": " world", "index": 0, "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    },
    "/moderations": {
        "id": "modr-1",
        "model": "$MODEL",
        "results": [
            {
                "flagged": False,
                "categories": _moderation_flags(False),
                "category_scores": _moderation_flags(0.01),
                "category_applied_input_types": _moderation_flags(["text"]),
            }
        ],
    },
    "/images/generations": {"created": CREATED, "data": [{"b64_json": "aGk="}]},
    "/images/edits": {"created": CREATED, "data": [{"b64_json": "aGk="}]},
    "/audio/speech": b"ID3 fake mp3 bytes",
    "/audio/transcriptions": {"text": "hello from the fake"},
    "/audio/translations": {"text": "hello in English"},
    "/files": {
        "id": "file-1",
        "object": "file",
        "bytes": 12,
        "created_at": CREATED,
        "filename": "batch.jsonl",
        "purpose": "batch",
        "status": "processed",
    },
    "/batches": {
        "id": "batch_1",
        "object": "batch",
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
        "created_at": CREATED,
        "input_file_id": "file-1",
        "status": "validating",
    },
}


def chat_completion(ident: str, model: str, text: str) -> dict:
    return {
        "id": ident,
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }


def chat_chunk(ident: str, model: str, delta: dict, finish_reason: str | None = None) -> dict:
    return {
        "id": ident,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }


def response_object(ident: str, model: str, text: str, status: str = "completed") -> dict:
    output = []
    if status == "completed":
        output = [
            {
                "id": "msg_" + ident,
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [
                    {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
                ],
            }
        ]
    return {
        "id": ident,
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "store": True,
        "temperature": 1.0,
        "top_p": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "truncation": "disabled",
        "metadata": {},
        "usage": {
            "input_tokens": 5,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": 3,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 8,
        },
    }


def response_events(ident: str, model: str, text: str, final: dict) -> list[dict]:
    """A text answer's Responses stream events, in the order the SDK expects."""
    in_progress = response_object(ident, model, text, status="in_progress")
    in_progress["usage"] = None
    item_id = "msg_" + ident
    part_empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    part_full = {**part_empty, "text": text}
    item_open = {
        "id": item_id,
        "type": "message",
        "status": "in_progress",
        "role": "assistant",
        "content": [],
    }
    where = {"item_id": item_id, "output_index": 0, "content_index": 0}
    events = [
        {"type": "response.created", "response": in_progress},
        {"type": "response.in_progress", "response": in_progress},
        {"type": "response.output_item.added", "output_index": 0, "item": item_open},
        {"type": "response.content_part.added", **where, "part": part_empty},
        {"type": "response.output_text.delta", **where, "delta": text, "logprobs": []},
        {"type": "response.output_text.done", **where, "text": text, "logprobs": []},
        {"type": "response.content_part.done", **where, "part": part_full},
        {"type": "response.output_item.done", "output_index": 0, "item": final["output"][0]},
        {"type": "response.completed", "response": final},
    ]
    for number, event in enumerate(events):
        event["sequence_number"] = number
    return events


# -- a gateway in front of two fakes, shared by the forwarding tests ---------

CLIENT_KEY = "sk-client-secret"
ALPHA_KEY = "sk-upstream-alpha"
BETA_KEY = "sk-upstream-beta"
MAX_BODY_BYTES = int(0.01 * 1024 * 1024)

FORWARDING_CONFIG = """
[server]
max_body_mb = 0.01

[auth]
client_keys = ["{client_key}", "sk-client-other"]

# First on purpose: lookups by response id must get past an upstream that is down.
[upstreams.dead]
base_url = "http://127.0.0.1:{dead_port}/v1"
retries = 0
connect_timeout_s = 2

[upstreams.alpha]
base_url = "{alpha}"
api_key = "${{HITL_TEST_ALPHA_KEY}}"
retries = 2
max_retry_wait_s = 5
headers = {{ "x-team" = "agents" }}

[upstreams.beta]
base_url = "{beta}"
api_key = "{beta_key}"
retries = 0

[upstreams.slow]
base_url = "{beta}"
retries = 0
timeout_s = 0.5

[models.small]
upstream = "alpha"
upstream_model = "qwen2.5"

[models.plain]
upstream = "alpha"

[models.primary]
upstream = "beta"
upstream_model = "beta-model"
fallbacks = ["secondary"]

[models.secondary]
upstream = "alpha"
upstream_model = "alpha-fallback"

[models.slow]
upstream = "slow"

[models.slow-or-small]
upstream = "slow"
fallbacks = ["small"]

[models.gone]
upstream = "dead"

[models.gone-or-small]
upstream = "dead"
fallbacks = ["small"]

[models.human]
route = "human"
"""
FORWARDING_MODELS = {
    "small",
    "plain",
    "primary",
    "secondary",
    "slow",
    "slow-or-small",
    "gone",
    "gone-or-small",
    "human",
}


@dataclass
class Forwarding:
    """A gateway whose models lead to two fakes (``alpha``, ``beta``) and a dead port."""

    gateway: Gateway
    alpha: FakeUpstream
    beta: FakeUpstream

    def reset(self) -> None:
        self.alpha.reset()
        self.beta.reset()

    def client(self, key: str | None = CLIENT_KEY, **options) -> openai.OpenAI:
        """A sync SDK client; it does not retry, so retries seen are the gateway's."""
        options = {"max_retries": 0, "timeout": 20.0, **options}
        return openai.OpenAI(base_url=self.gateway.base_url, api_key=key, **options)

    def async_client(self, key: str | None = CLIENT_KEY, **options) -> openai.AsyncOpenAI:
        options = {"max_retries": 0, "timeout": 20.0, **options}
        return openai.AsyncOpenAI(base_url=self.gateway.base_url, api_key=key, **options)


@contextlib.contextmanager
def forwarding_gateway(tmp_path: Path) -> Iterator[Forwarding]:
    """Start both fakes and a gateway configured with ``FORWARDING_CONFIG``."""
    with FakeUpstream("alpha") as alpha, FakeUpstream("beta") as beta, closed_port() as dead:
        config = FORWARDING_CONFIG.format(
            client_key=CLIENT_KEY,
            dead_port=dead,
            alpha=alpha.url,
            beta=beta.url,
            beta_key=BETA_KEY,
        )
        env = {"HITL_TEST_ALPHA_KEY": ALPHA_KEY}
        with run_gateway(tmp_path, config, env=env) as gateway:
            yield Forwarding(gateway, alpha, beta)


# -- the forwarding tests' shared gateway (import both fixtures into a test module) -----

MESSAGES = [{"role": "user", "content": "Say hello"}]
JSON_HEADERS = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def fwd(tmp_path_factory) -> Iterator[Forwarding]:
    """One forwarding gateway and its two fakes for the whole test module."""
    with forwarding_gateway(tmp_path_factory.mktemp("forwarding")) as forwarding:
        yield forwarding


@pytest.fixture(autouse=True)
def fresh(fwd: Forwarding) -> Iterator[None]:
    """Each test scripts the fakes afresh, and leaves no request held in them."""
    fwd.reset()
    yield
    fwd.alpha.release()
    fwd.beta.release()
