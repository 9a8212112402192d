"""Every OpenAI shape the gateway emits for a human answer, built in one place.

Bodies follow ``shared/reference/openai-wire-format.md`` and are checked in the
tests with the ``openai`` SDK's own types. Token counts are estimates.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from gateway.http.sse import sse_data
from gateway.human.answers import Reply

CONTENT_DELTA_CHARS = 64


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


# -- Chat Completions ----------------------------------------------------------------


def chat_completion(
    completion_id: str, model: str, created: int, replies: list[Reply], prompt_tokens: int
) -> dict[str, Any]:
    """A ``chat.completion`` with one choice per reply (``n`` of them), index 0 up."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [_chat_choice(index, reply) for index, reply in enumerate(replies)],
        "usage": _chat_usage(prompt_tokens, sum(reply.completion_tokens() for reply in replies)),
        "system_fingerprint": None,
    }


def _chat_choice(index: int, reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": None}
    if reply.refusal is not None:
        message["refusal"] = reply.refusal
    if reply.calls:
        message["tool_calls"] = [
            {
                "id": new_id("call"),
                "type": "function",
                "function": {"name": call["name"], "arguments": _json(call["arguments"])},
            }
            for call in reply.calls
        ]
    return {
        "index": index,
        "message": message,
        "logprobs": None,
        "finish_reason": "tool_calls" if reply.calls else "stop",
    }


def chat_stream(completion: dict[str, Any], include_usage: bool) -> Iterator[bytes]:
    """The SSE lines of a completion: per choice role, content or refusal, tool calls and
    finish, each chunk with its choice's ``index``; then usage and ``[DONE]``."""
    base = {
        "id": completion["id"],
        "object": "chat.completion.chunk",
        "created": completion["created"],
        "model": completion["model"],
    }
    for choice in completion["choices"]:
        for delta, finish_reason in _choice_deltas(choice):
            body = {
                **base,
                "choices": [
                    {
                        "index": choice["index"],
                        "delta": delta,
                        "logprobs": None,
                        "finish_reason": finish_reason,
                    }
                ],
            }
            if include_usage:
                body["usage"] = None
            yield sse_data(body)
    if include_usage:
        yield sse_data({**base, "choices": [], "usage": completion["usage"]})
    yield b"data: [DONE]\n\n"


def _choice_deltas(choice: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str | None]]:
    """One choice's deltas, each with its finish reason (set on the last only)."""
    message = choice["message"]
    refusal = message.get("refusal")
    if refusal is not None:  # refusal deltas in place of content deltas, as a model sends
        yield {"role": "assistant", "content": None, "refusal": ""}, None
        for start in range(0, len(refusal), CONTENT_DELTA_CHARS):
            yield {"refusal": refusal[start : start + CONTENT_DELTA_CHARS]}, None
    else:
        yield {"role": "assistant", "content": "" if message["content"] is not None else None}, None
    content = message["content"] or ""
    for start in range(0, len(content), CONTENT_DELTA_CHARS):
        yield {"content": content[start : start + CONTENT_DELTA_CHARS]}, None
    for index, call in enumerate(message.get("tool_calls") or []):
        function = call["function"]
        yield (
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": function["name"], "arguments": ""},
                    }
                ]
            },
            None,
        )
        yield (
            {"tool_calls": [{"index": index, "function": {"arguments": function["arguments"]}}]},
            None,
        )
    yield {}, choice["finish_reason"]


def _chat_usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


# -- Responses -----------------------------------------------------------------------


def response_object(
    response_id: str,
    request: dict[str, Any],
    model: str,
    created: int,
    reply: Reply,
    prompt_tokens: int,
) -> dict[str, Any]:
    """A completed ``response`` whose output holds the message, calls and computer calls."""
    output: list[dict[str, Any]] = []
    part: dict[str, Any] | None = None
    if reply.refusal is not None:
        part = {"type": "refusal", "refusal": reply.refusal}
    elif reply.content is not None:
        part = {"type": "output_text", "text": reply.content, "annotations": [], "logprobs": []}
    if part is not None:
        output.append(
            {
                "id": new_id("msg"),
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [part],
            }
        )
    for call in reply.calls:
        output.append(
            {
                "id": new_id("fc"),
                "type": "function_call",
                "status": "completed",
                "call_id": new_id("call"),
                "name": call["name"],
                "arguments": _json(call["arguments"]),
            }
        )
    for action in reply.actions:
        output.append(
            {
                "id": new_id("cu"),
                "type": "computer_call",
                "status": "completed",
                "call_id": new_id("call"),
                "action": action,
                "pending_safety_checks": [],
            }
        )
    completion_tokens = reply.completion_tokens()
    return {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "status": "completed",
        "error": None,
        "incomplete_details": None,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "model": model,
        "output": output,
        "parallel_tool_calls": request.get("parallel_tool_calls", True),
        "previous_response_id": request.get("previous_response_id"),
        "reasoning": request.get("reasoning"),
        "store": request.get("store", True),
        "temperature": request.get("temperature", 1.0),
        "text": request.get("text") or {"format": {"type": "text"}},
        "tool_choice": request.get("tool_choice", "auto"),
        "tools": _echoed_tools(request.get("tools") or []),
        "top_p": request.get("top_p", 1.0),
        "truncation": request.get("truncation") or "disabled",
        "metadata": request.get("metadata") or {},
        "user": request.get("user"),
        "usage": {
            "input_tokens": prompt_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": completion_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def _echoed_tools(tools: list[Any]) -> list[Any]:
    """The request's tools as the response echoes them.

    openai-cua-sample-app spells the computer tool ``computer-preview``; the echo
    uses the canonical ``computer_use_preview``, the only one the SDK's types accept.
    """
    return [
        {**tool, "type": "computer_use_preview"}
        if isinstance(tool, dict) and tool.get("type") == "computer-preview"
        else tool
        for tool in tools
    ]


def response_stream(response: dict[str, Any]) -> Iterator[bytes]:
    """The full Responses event sequence, ``sequence_number`` from 0."""
    sequence = itertools.count()

    def event(kind: str, **fields: Any) -> bytes:
        body = {"type": kind, "sequence_number": next(sequence), **fields}
        return b"event: " + kind.encode() + b"\n" + sse_data(body)

    started = {**response, "status": "in_progress", "output": [], "usage": None}
    yield event("response.created", response=started)
    yield event("response.in_progress", response=started)
    for index, item in enumerate(response["output"]):
        yield from _item_events(event, index, item)
    yield event("response.completed", response=response)


def _item_events(event: Callable[..., bytes], index: int, item: dict[str, Any]) -> Iterator[bytes]:
    kind = item["type"]
    if kind == "message":
        yield event(
            "response.output_item.added",
            output_index=index,
            item={**item, "status": "in_progress", "content": []},
        )
        for part_index, part in enumerate(item["content"]):
            where = {"item_id": item["id"], "output_index": index, "content_index": part_index}
            if part["type"] == "refusal":
                refusal = part["refusal"]
                yield event("response.content_part.added", **where, part={**part, "refusal": ""})
                for start in range(0, len(refusal), CONTENT_DELTA_CHARS):
                    delta = refusal[start : start + CONTENT_DELTA_CHARS]
                    yield event("response.refusal.delta", **where, delta=delta)
                yield event("response.refusal.done", **where, refusal=refusal)
                yield event("response.content_part.done", **where, part=part)
                continue
            yield event("response.content_part.added", **where, part={**part, "text": ""})
            text = part["text"]
            for start in range(0, len(text), CONTENT_DELTA_CHARS):
                delta = text[start : start + CONTENT_DELTA_CHARS]
                yield event("response.output_text.delta", **where, delta=delta, logprobs=[])
            yield event("response.output_text.done", **where, text=text, logprobs=[])
            yield event("response.content_part.done", **where, part=part)
    elif kind == "function_call":
        yield event(
            "response.output_item.added",
            output_index=index,
            item={**item, "status": "in_progress", "arguments": ""},
        )
        where = {"item_id": item["id"], "output_index": index}
        yield event("response.function_call_arguments.delta", **where, delta=item["arguments"])
        yield event(
            "response.function_call_arguments.done",
            **where,
            arguments=item["arguments"],
            name=item["name"],
        )
    else:
        yield event("response.output_item.added", output_index=index, item=item)
    yield event("response.output_item.done", output_index=index, item=item)


# -- Responses input items -----------------------------------------------------------

_ITEM_PREFIX = {
    "message": "msg",
    "function_call": "fc",
    "function_call_output": "fco",
    "computer_call": "cu",
    "computer_call_output": "cuo",
}


def input_item(response_id: str, index: int, item: Any) -> dict[str, Any]:
    """One input item as ``GET /v1/responses/{id}/input_items`` lists it.

    Items a client sent in shorthand get the full shape: an ``id`` (stable for
    the response and position), a ``type``, content as a list of parts, and the
    screenshot of a ``computer_call_output`` as a ``computer_screenshot``.
    """
    item = dict(item) if isinstance(item, dict) else {"role": "user", "content": str(item)}
    kind = item.setdefault("type", "message")
    if not item.get("id"):
        digest = hashlib.sha256(f"{response_id}:{index}".encode()).hexdigest()[:24]
        item["id"] = f"{_ITEM_PREFIX.get(kind, 'item')}_{digest}"
    item.setdefault("status", "completed")
    if kind == "message":
        assistant = item.get("role") == "assistant"
        content = item.get("content")
        if isinstance(content, str):
            content = [{"type": "input_text", "text": content}]
        if assistant:  # what an assistant said is output text, with annotations
            content = [
                {**part, "type": "output_text", "annotations": part.get("annotations", [])}
                if part.get("type") in ("input_text", "output_text")
                else part
                for part in content or []
            ]
        item["content"] = content or []
    elif kind == "computer_call":
        item.setdefault("pending_safety_checks", [])
    elif kind == "computer_call_output" and isinstance(item.get("output"), dict):
        item["output"] = {**item["output"], "type": "computer_screenshot"}
    return item


def input_item_page(
    response_id: str, items: list[Any], limit: int, order: str, after: str | None
) -> dict[str, Any]:
    """A page of a response's input items, newest first unless ``order`` is ``asc``."""
    listed = [input_item(response_id, index, item) for index, item in enumerate(items)]
    if order == "desc":
        listed.reverse()
    start = next((i + 1 for i, item in enumerate(listed) if item["id"] == after), 0)
    page = listed[start : start + limit]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else "",
        "last_id": page[-1]["id"] if page else "",
        "has_more": start + limit < len(listed),
    }


# -- SSE -----------------------------------------------------------------------------


def stream_of(api: str, result: dict[str, Any], request: dict[str, Any]) -> Iterator[bytes]:
    """The SSE stream for a stored result, in the shape the request's API streams."""
    if api == "chat.completions":
        include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
        return chat_stream(result, include_usage)
    return response_stream(result)


def _json(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else orjson.dumps(arguments).decode()
