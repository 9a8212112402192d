"""Generated input at every door: never a 5xx, always the door's error envelope.

Hypothesis generates request bodies (well-formed, odd and garbage), raw bytes,
headers, methods and paths for the clients' doors (OpenAI, Anthropic, Cua, MCP)
and the reviewers' door, and
tasks with generated tool declarations that then get generated answers. Every
reply is checked as it comes: below 500, and an error is its door's envelope.
Afterwards the gateway must be alive, every stored task must still open, the
export must be whole, and the process must not have grown without bound.

Deterministic by default (the same examples every run); ``HITL_FUZZ_SCALE=4``
runs four times as many. The figures are printed at the end (``-s`` shows them)::

    python -m pytest -s tests/test_fuzz.py
"""

from __future__ import annotations

import base64
import json
import os
import string
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from harness import Gateway, ThreadedServer, run_gateway, wait_until
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reviewer_client import Reviewer, background, png

SCALE = int(os.environ.get("HITL_FUZZ_SCALE", "1"))
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
HELD_S = 0.3  # a request a person would answer is abandoned after this long
MEMORY_BOUND_MB = 200  # growth allowed over the whole run


@dataclass
class Tally:
    sent: int = 0
    server_errors: int = 0
    tasks: int = 0  # tasks made from generated tool declarations
    answered: int = 0  # of which a generated answer was accepted


TALLY = Tally()


# -- the gateway under test -----------------------------------------------------------


def canned_upstream() -> web.Application:
    """An upstream that answers anything with one fixed chat completion."""

    async def anything(request: web.Request) -> web.Response:
        await request.read()
        reply = {
            "id": "chatcmpl-fuzz",
            "object": "chat.completion",
            "created": 1,
            "model": "fuzz",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "ok"},
                    "finish_reason": "stop",
                }
            ],
        }
        return web.json_response(reply)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", anything)
    return app


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[Gateway]:
    with ThreadedServer(canned_upstream()) as upstream:
        config = f"""
[server]
max_api_body_mb = 0.5
max_body_mb = 2
[upstreams.canned]
base_url = "{upstream.url}/v1"
retries = 0
[models.human]
route = "human"
timeout_s = 30
keepalive_s = 0.1
[models.fwd]
upstream = "canned"
"""
        folder = tmp_path_factory.mktemp("fuzz")
        with run_gateway(folder, config) as gateway:
            yield gateway
    print(
        f"\nfuzz: {TALLY.sent} requests sent, {TALLY.server_errors} 5xx seen; "
        f"{TALLY.tasks} tasks with generated tools, {TALLY.answered} answered by generated answers"
    )


@pytest.fixture(scope="module")
def http(gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=10.0) as client:
        yield client


@pytest.fixture(scope="module")
def rss_before(gateway) -> int:
    return rss_mb(gateway)


def rss_mb(gateway: Gateway) -> int:
    assert gateway.process is not None
    status = Path(f"/proc/{gateway.process.pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) // 1024


def door_of(path: str) -> str:
    """Which door answers ``path``, so its own error envelope is expected."""
    path = urllib.parse.urlsplit(path).path
    if path in ("/v1/messages", "/v1/messages/count_tokens"):
        return "anthropic"
    if path.startswith("/cua/"):
        return "cua"
    if path in ("/mcp", "/mcp/"):
        return "mcp"
    return "openai"


def check(reply: httpx.Response) -> None:
    """Below 500; an error is the envelope of the door that answered."""
    TALLY.sent += 1
    if reply.status_code >= 500:
        TALLY.server_errors += 1
    assert reply.status_code < 500, (reply.status_code, reply.text[:500])
    if reply.status_code >= 400 and reply.request.method != "HEAD":
        door = door_of(reply.request.url.raw_path.decode())
        if door == "mcp":
            # The MCP SDK's transport answers a wrong Content-Type or Accept in plain
            # text (its own protocol); anything it parsed gets JSON-RPC's error.
            if reply.headers.get("content-type", "").startswith("application/json"):
                assert isinstance(reply.json()["error"]["message"], str), reply.text
            return
        assert reply.headers["content-type"].startswith("application/json"), reply.headers
        body = reply.json()
        if door == "anthropic":  # Anthropic's envelope
            assert body["type"] == "error" and set(body["error"]) == {"type", "message"}, body
        else:
            # OpenAI's envelope; Cua's protocol adds its {"detail"} beside it.
            assert set(body) - {"detail"} == {"error"}, body
            assert set(body["error"]) == {"message", "type", "param", "code"}, body
        assert isinstance(body["error"]["message"], str)


def send(http: httpx.Client, method: str, path: str, **options: Any) -> None:
    """One request; a reply held open for a person is abandoned (and fine)."""
    held = path.startswith(("/v1/", "/cua/", "/mcp"))
    timeout = httpx.Timeout(10.0, read=HELD_S if held else 10.0)
    try:
        with http.stream(method, path, timeout=timeout, **options) as reply:
            if reply.status_code >= 400 or not reply.headers.get("content-type", "").startswith(
                "text/event-stream"
            ):
                reply.read()
            check(reply)
    except httpx.ReadTimeout:
        TALLY.sent += 1  # waiting for a person: the request was accepted


# -- strategies ----------------------------------------------------------------------

# Integers beyond 64 bits (orjson writes -2**63 .. 2**64 - 1): a 500 on /cua once.
BIG_INTEGER = st.integers(2**64, 2**80) | st.integers(-(2**80), -(2**63) - 1)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | BIG_INTEGER
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)


def nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = {"a": value} if depth % 2 else [value]
    return value


DEEP = st.integers(50, 1100).map(nested)
ODD = JSON | DEEP

PATTERNS = ["^[a-z]+$", "^(a|aa)+$", "(x+x+)+y", "[", "\\d{3}", "^(\\w+\\s?)*$"]
SCHEMA = st.recursive(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["string", "integer", "number", "boolean", "null"])},
        optional={
            "pattern": st.sampled_from(PATTERNS),
            "enum": st.lists(SCALARS, max_size=3),
            "minLength": st.integers(-1, 5),
            "$ref": st.sampled_from(["#", "#/$defs/x", "#/nope", "http://example.invalid/s"]),
        },
    ),
    lambda inner: (
        st.fixed_dictionaries(
            {"type": st.just("object")},
            optional={
                "properties": st.dictionaries(st.text(max_size=6), inner, max_size=3),
                "required": st.lists(st.text(max_size=6), max_size=2),
                "additionalProperties": st.booleans() | inner,
                "patternProperties": st.dictionaries(st.sampled_from(PATTERNS), inner, max_size=2),
                "$defs": st.fixed_dictionaries({"x": inner}),
            },
        )
        | st.fixed_dictionaries({"type": st.just("array"), "items": inner})
    ),
    max_leaves=6,
)
NAME = st.from_regex(r"[A-Za-z0-9_-]{1,20}", fullmatch=True)
FUNCTION = st.fixed_dictionaries(
    {
        "type": st.just("function"),
        "function": st.fixed_dictionaries(
            {"name": NAME | JSON},
            optional={"parameters": SCHEMA | JSON, "description": st.text(max_size=20) | JSON},
        ),
    }
)
COMPUTER = st.fixed_dictionaries(
    {"type": st.sampled_from(["computer_use_preview", "computer"])},
    optional={
        "display_width": st.integers(-5, 4000) | JSON,
        "display_height": st.integers(1, 4000),
    },
)
TOOLS = st.lists(FUNCTION | COMPUTER | JSON, max_size=3)
WELL_NAMED = st.fixed_dictionaries(
    {
        "type": st.just("function"),
        "function": st.fixed_dictionaries({"name": NAME}, optional={"parameters": SCHEMA}),
    }
)
LIKELY_TOOLS = st.lists(WELL_NAMED | COMPUTER, max_size=3) | TOOLS
TOOL_CHOICE = st.sampled_from(["none", "auto", "required"]) | st.fixed_dictionaries(
    {"type": st.just("function"), "function": st.fixed_dictionaries({"name": NAME}) | JSON}
)
IMAGE_BYTES = st.sampled_from(
    [png(3, 2), b"<svg xmlns='http://www.w3.org/2000/svg'><script>1</script></svg>", b"GIF89a"]
) | st.binary(max_size=40)
IMAGE_URL = st.builds(
    lambda kind, data: f"data:{kind};base64,{base64.b64encode(data).decode()}",
    st.sampled_from(["image/png", "image/svg+xml", "image/x", "text/html"]),
    IMAGE_BYTES,
) | st.text(max_size=20)
PART = st.fixed_dictionaries(
    {"type": st.just("image_url"), "image_url": st.fixed_dictionaries({"url": IMAGE_URL})}
) | st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=30)})
MESSAGE = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user", "system", "assistant", "tool", "developer"]),
        "content": st.text(max_size=30) | st.lists(PART, max_size=2) | JSON,
    }
)
MODEL = st.sampled_from(["human", "fwd", "nope"]) | JSON
FIELDS = {
    "messages": st.lists(MESSAGE, max_size=3) | ODD,
    "input": st.text(max_size=30) | st.lists(MESSAGE, max_size=2) | ODD,
    "instructions": st.text(max_size=20) | JSON,
    "tools": TOOLS | JSON,
    "tool_choice": TOOL_CHOICE | JSON,
    "previous_response_id": st.text(max_size=12) | JSON,
    "stream": st.booleans() | JSON,
    "stream_options": st.fixed_dictionaries({"include_usage": st.booleans() | JSON}) | JSON,
    "n": st.integers(-2, 200) | JSON,
    "user": st.text(max_size=12) | JSON,
    "metadata": st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2) | JSON,
    "parallel_tool_calls": st.booleans() | JSON,
    "response_format": st.fixed_dictionaries(
        {"type": st.sampled_from(["json_object", "json_schema", "text"])},
        optional={"json_schema": st.fixed_dictionaries({"name": NAME, "schema": SCHEMA | JSON})},
    )
    | JSON,
}
# A request that reaches the route (a known model, real messages), or any mix of fields.
LIKELY = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["human", "fwd"]),
        "messages": st.lists(MESSAGE, min_size=1, max_size=3),
    }
)
WELL_FORMED = LIKELY | st.fixed_dictionaries({"model": MODEL}, optional=FIELDS)


def plant(value: Any, big: int, choices: list[int]) -> Any:
    """``value`` with ``big`` put somewhere inside it (``choices`` pick the way down)."""
    node = value
    for step in choices:  # down into containers, as deep as the choices go
        children = node.values() if isinstance(node, dict) else node
        inner = [child for child in children if isinstance(child, dict | list)]
        if not inner:
            break
        node = inner[step % len(inner)]
    if isinstance(node, dict):
        node[f"n{len(node)}"] = big
    elif isinstance(node, list):
        node.append(big)
    return value


# A request that would pass, but for one integer beyond 64 bits anywhere in it.
WITH_BIG_INTEGER = st.builds(
    plant, WELL_FORMED, BIG_INTEGER, st.lists(st.integers(0, 5), min_size=1, max_size=6)
)
BODY = WELL_FORMED | WITH_BIG_INTEGER | JSON | DEEP
HEADER_VALUE = st.text(
    alphabet=string.ascii_letters + string.digits + string.punctuation + " ", max_size=30
).map(str.strip)
CONTENT_TYPE = st.sampled_from(
    ["application/json", "text/plain", "application/x-www-form-urlencoded", "application/json; x"]
)
ACCEPT = "application/json, text/event-stream"  # what MCP's streamable HTTP requires
# Every door a client posts a body to (the Cua reviewer side reads bodies before
# it looks the call id up, so an unknown id still reaches the parsing).
DOOR = st.sampled_from(
    [
        "/v1/chat/completions",
        "/v1/responses",
        "/v1/messages",
        "/v1/messages/count_tokens",
        "/cua/queue",
        "/cua/complete/task_0000000000000000",
        "/cua/fail/task_0000000000000000",
        "/mcp",
    ]
)


# -- the clients' door -----------------------------------------------------------------


@settings(FUZZ, max_examples=500 * SCALE)
@given(path=DOOR, body=BODY, content_type=CONTENT_TYPE, session=st.none() | HEADER_VALUE)
def test_generated_bodies(http, rss_before, path, body, content_type, session):
    headers = {"content-type": content_type, "accept": ACCEPT}
    if session is not None:
        headers["x-session-id"] = session
    send(http, "POST", path, content=json.dumps(body).encode(), headers=headers)


@settings(FUZZ, max_examples=200 * SCALE)
@given(
    path=DOOR | st.sampled_from(["/api/login", "/api/tasks/x/answer"]), data=st.binary(max_size=300)
)
def test_raw_bytes(http, rss_before, path, data):
    headers = {"content-type": "application/json", "accept": ACCEPT}
    send(http, "POST", path, content=data, headers=headers)


PATH_TEXT = st.text(alphabet=string.ascii_letters + string.digits + "-._~%/?&=+:", max_size=30)
PREFIX = st.sampled_from(
    ["/", "/v1/", "/v1/models/", "/v1/responses/", "/api/", "/api/tasks/", "/static/", "/cua/"]
)


@settings(FUZZ, max_examples=300 * SCALE)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]),
    prefix=PREFIX,
    rest=PATH_TEXT,
    headers=st.dictionaries(
        st.sampled_from(["authorization", "origin", "sec-fetch-site", "x-reviewer", "cookie"]),
        HEADER_VALUE,
        max_size=3,
    ),
)
def test_generated_paths_and_headers(http, rss_before, method, prefix, rest, headers):
    path = prefix + rest
    if urllib.parse.urlsplit(path).path.rstrip("/") == "/api/events":
        return  # an event stream, open until the client leaves
    body = b"{}" if method in ("POST", "PUT", "PATCH") else None
    send(http, method, path, content=body, headers={"content-type": "application/json", **headers})


# -- the reviewers' door ----------------------------------------------------------------

ACTION = st.fixed_dictionaries(
    {"type": st.sampled_from(["click", "type", "scroll", "drag", "keypress", "wait", "bogus"])},
    optional={
        "x": st.integers(-10, 5000) | JSON,
        "y": st.integers(-10, 5000),
        "text": st.text(max_size=10),
        "keys": st.lists(st.text(max_size=5), max_size=2),
        "path": st.lists(st.fixed_dictionaries({"x": st.integers(0, 99), "y": st.integers(0, 99)})),
        "scroll_x": st.integers(-5, 5),
        "scroll_y": st.integers(-5, 5),
    },
)


def answers_for(names: list[str]) -> st.SearchStrategy:
    name = st.sampled_from(names) | NAME if names else NAME
    call = st.fixed_dictionaries(
        {"name": name},
        optional={"arguments": JSON | st.text(max_size=20) | DEEP.map(lambda d: {"a": d})},
    )
    answer = st.fixed_dictionaries(
        {},
        optional={
            "content": st.text(max_size=20) | JSON,
            "tool_calls": st.lists(call, max_size=2) | JSON,
            "computer_actions": st.lists(ACTION, max_size=2) | JSON,
            "accept_draft": st.booleans() | JSON,
        },
    )
    # Then two that may well fit: a call with no arguments, and plain text.
    fitting = st.tuples(
        st.fixed_dictionaries({"tool_calls": st.lists(call.map(_no_arguments), max_size=1)}),
        st.fixed_dictionaries({"content": st.text(min_size=1, max_size=20)}),
    )
    return st.tuples(st.lists(answer | JSON, max_size=3), fitting).map(
        lambda drawn: [*drawn[0], *drawn[1]]
    )


def _no_arguments(call: dict[str, Any]) -> dict[str, Any]:
    return {"name": call["name"], "arguments": {}}


@settings(FUZZ, max_examples=80 * SCALE)
@given(api=st.sampled_from(["chat", "responses"]), tools=LIKELY_TOOLS, data=st.data())
def test_generated_answers_to_tasks_with_generated_tools(
    gateway, http, rss_before, api, tools, data
):
    text = f"fuzz {uuid.uuid4()}"
    if api == "chat":
        path, body = "/v1/chat/completions", {"messages": [{"role": "user", "content": text}]}
    else:
        path = "/v1/responses"
        body = {"input": text}
        tools = [_as_responses_tool(tool) for tool in tools]
    body = {"model": "human", "tools": tools, **body}
    client = httpx.Client(base_url=gateway.url, timeout=20)
    asked = background(client.post, path, json=body)
    reviewer = Reviewer(gateway.url)

    def task_or_refusal() -> dict[str, Any] | None:
        if asked.done():
            return {"refused": True}  # at the door, before any task
        found = [t for t in reviewer.tasks() if t["preview"] == text]
        return found[0] if found else None

    task = wait_until(task_or_refusal, 10, 0.02, "a task or a refusal")
    if task.get("refused"):
        reply = asked.result(timeout=10)
        check(reply)
        assert reply.status_code == 400
        return
    TALLY.tasks += 1
    names = [tool.get("name") for tool in reviewer.task(task["id"])["tools"]]
    answered = False
    for answer in data.draw(answers_for([n for n in names if isinstance(n, str)])):
        reply = http.post(f"/api/tasks/{task['id']}/answer", json=answer)
        check(reply)
        if reply.status_code == 200:
            answered = True
            TALLY.answered += 1
            break
    if not answered:
        check(http.post(f"/api/tasks/{task['id']}/reject", json={"reason": "fuzz"}))
    reply = asked.result(timeout=10)
    check(reply)
    client.close()


def _as_responses_tool(tool: Any) -> Any:
    if isinstance(tool, dict) and isinstance(tool.get("function"), dict):
        return {"type": "function", **tool["function"]}
    return tool


# -- afterwards ----------------------------------------------------------------------


def test_the_gateway_is_whole_afterwards(gateway, http, rss_before):
    """Runs last in this module: alive, every task opens, the export is whole, memory bounded."""
    assert http.get("/healthz").status_code == 200
    tasks = http.get("/api/tasks", params={"status": "pending,claimed,answered,rejected,expired"})
    check(tasks)
    for task in tasks.json()["data"]:
        full = http.get(f"/api/tasks/{task['id']}")
        check(full)
        for index in range(full.json()["images"]):
            check(http.get(f"/api/tasks/{task['id']}/images/{index}"))
            check(http.get(f"/api/tasks/{task['id']}/images/{index}", params={"w": "64"}))
    for format in ("records", "openai-chat"):
        export = http.get("/api/export", params={"format": format}, timeout=30)
        check(export)
        assert export.text == "" or export.text.endswith("\n")
        for line in export.text.split("\n")[:-1]:  # not splitlines(): JSON keeps U+2028 raw
            json.loads(line)
    grown = rss_mb(gateway) - rss_before
    assert grown < MEMORY_BOUND_MB, f"the gateway grew {grown} MB"
