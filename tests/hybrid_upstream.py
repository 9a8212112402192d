"""A fake model provider for the hybrid-route tests.

The last user message names the scenario (``confident``, ``unsure``, ``refuse``,
``truncated``, ``filtered``, ``delete``, ``tools_only``, ``fail``, ``slow``), so tests can run
in any order against one server. Replies carry crafted token logprobs and pass
the ``openai`` SDK's types; streams are built from the same reply.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import orjson
from aiohttp import web

CREATED = 1741569952
SURE = math.log(0.95)  # per-token logprob of a confident answer
UNSURE = math.log(0.2)

# The tool a client declares for the ``delete`` scenario, whose draft calls it.
DELETE_FILE = {
    "type": "function",
    "function": {
        "name": "delete_file",
        "parameters": {
            "type": "object",
            "properties": {"path": {"type": "string"}},
            "required": ["path"],
        },
    },
}


def _tokens(text: str, logprob: float) -> list[dict[str, Any]]:
    return [
        {"token": word, "logprob": logprob, "bytes": list(word.encode()), "top_logprobs": []}
        for word in text.split(" ")
    ]


def scenario_reply(name: str) -> dict[str, Any]:
    """content, refusal, finish_reason, tool calls and per-token logprob for a scenario."""
    base: dict[str, Any] = {
        "content": "The answer is 42",
        "refusal": None,
        "finish": "stop",
        "calls": [],
        "logprob": SURE,
    }
    if name == "unsure":
        base["logprob"] = UNSURE
    elif name == "refuse":
        base.update(content=None, refusal="I can't help with that")
    elif name == "truncated":
        base["finish"] = "length"
    elif name == "filtered":
        base["finish"] = "content_filter"
    elif name == "delete":
        base.update(content=None, finish="tool_calls", calls=[("delete_file", {"path": "/tmp/x"})])
    elif name == "tools_only":
        base.update(content=None, finish="tool_calls", calls=[("lookup", {"q": "x"})])
    return base


def chat_body(request: dict[str, Any], reply: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": reply["content"],
        "refusal": reply["refusal"],
    }
    if reply["calls"]:
        message["tool_calls"] = [
            {
                "id": f"call_{i}",
                "type": "function",
                "function": {"name": name, "arguments": orjson.dumps(args).decode()},
            }
            for i, (name, args) in enumerate(reply["calls"])
        ]
    logprobs = None
    if request.get("logprobs") and reply["content"]:
        logprobs = {"content": _tokens(reply["content"], reply["logprob"]), "refusal": None}
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": CREATED,
        "model": request["model"],
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": logprobs,
                "finish_reason": reply["finish"],
            }
        ],
        "usage": {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11},
    }


def chat_stream(request: dict[str, Any], reply: dict[str, Any]) -> bytes:
    body = chat_body(request, reply)
    base = {k: body[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
    choice = body["choices"][0]
    chunks = [{"role": "assistant", "content": ""}]
    tokens = (choice["logprobs"] or {}).get("content") or []
    events = [{**base, "choices": [{"index": 0, "delta": chunks[0], "finish_reason": None}]}]
    words = (reply["content"] or "").split(" ") if reply["content"] else []
    for i, word in enumerate(words):
        text = word if i == 0 else " " + word
        logprobs = {"content": [tokens[i]], "refusal": None} if tokens else None
        delta = {"content": text}
        events.append(
            {
                **base,
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": None}
                ],
            }
        )
    if reply["refusal"]:
        refusal = {"index": 0, "delta": {"refusal": reply["refusal"]}, "finish_reason": None}
        events.append({**base, "choices": [refusal]})
    for i, call in enumerate(choice["message"].get("tool_calls") or []):
        delta = {"tool_calls": [{"index": i, **call}]}
        events.append({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
    events.append(
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": reply["finish"]}]}
    )
    lines = [b"data: " + orjson.dumps(event) + b"\n\n" for event in events]
    return b"".join(lines) + b"data: [DONE]\n\n"


def response_body(request: dict[str, Any], reply: dict[str, Any]) -> dict[str, Any]:
    output: list[dict[str, Any]] = []
    want_logprobs = "message.output_text.logprobs" in (request.get("include") or [])
    if reply["content"] is not None:
        logprobs = _tokens(reply["content"], reply["logprob"]) if want_logprobs else []
        part = {"type": "output_text", "text": reply["content"], "annotations": []}
        output.append(
            {
                "id": "msg_fake",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{**part, "logprobs": logprobs}],
            }
        )
    if reply["refusal"]:
        output.append(
            {
                "id": "msg_refusal",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "refusal", "refusal": reply["refusal"]}],
            }
        )
    for i, (name, args) in enumerate(reply["calls"]):
        output.append(
            {
                "id": f"fc_{i}",
                "type": "function_call",
                "status": "completed",
                "call_id": f"call_{i}",
                "name": name,
                "arguments": orjson.dumps(args).decode(),
            }
        )
    incomplete = {"length": "max_output_tokens", "content_filter": "content_filter"}
    status = "incomplete" if reply["finish"] in incomplete else "completed"
    return {
        "id": "resp_fake",
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "error": None,
        "incomplete_details": (
            {"reason": incomplete[reply["finish"]]} if status == "incomplete" else None
        ),
        "model": request["model"],
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": request.get("tools") or [],
        "usage": {
            "input_tokens": 7,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": 4,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 11,
        },
    }


def response_stream(request: dict[str, Any], reply: dict[str, Any]) -> bytes:
    final = response_body(request, reply)
    started = {**final, "status": "in_progress", "output": []}
    events = [
        {"type": "response.created", "sequence_number": 0, "response": started},
        {"type": "response.completed", "sequence_number": 1, "response": final},
    ]
    return b"".join(
        b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n" for e in events
    )


def _scenario(api: str, request: dict[str, Any]) -> str:
    items = request.get("messages") if api == "chat" else request.get("input")
    if isinstance(items, str):
        return items
    content = items[-1]["content"]
    return content if isinstance(content, str) else content[0]["text"]


def make_app(received: list[dict[str, Any]]) -> web.Application:
    """The fake provider; every request body it gets is appended to ``received``."""

    async def serve(request: web.Request, api: str) -> web.StreamResponse:
        data = await request.json()
        received.append(data)
        name = _scenario(api, data)
        if name == "fail":
            return web.json_response(
                {
                    "error": {
                        "message": "overloaded",
                        "type": "server_error",
                        "param": None,
                        "code": None,
                    }
                },
                status=503,
            )
        if name == "slow":
            await asyncio.sleep(1.0)  # a model that takes its time; bounded
            name = "confident"
        reply = scenario_reply(name)
        if data.get("stream"):
            body = chat_stream(data, reply) if api == "chat" else response_stream(data, reply)
            return web.Response(body=body, content_type="text/event-stream")
        body = chat_body(data, reply) if api == "chat" else response_body(data, reply)
        return web.json_response(body)

    async def chat(request: web.Request) -> web.StreamResponse:
        return await serve(request, "chat")

    async def responses(request: web.Request) -> web.StreamResponse:
        return await serve(request, "responses")

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/v1/responses", responses)
    return app
