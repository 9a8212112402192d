"""Answered tasks as data: fine-tuning examples and evaluation records.

``openai-chat`` lines are OpenAI's chat fine-tuning format (``messages``, ``tools``,
``parallel_tool_calls``): the conversation the agent sent, then the person's answer
as the assistant turn. Only Chat Completions tasks fit it. ``records`` lines keep
everything, for evaluation sets: request, answer, draft, result and who and when.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from gateway.human.task import Task
from gateway.store.base import Store

FORMATS = ("openai-chat", "records")
PAGE = 200


def chat_example(request: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """One fine-tuning example: the request's messages and the answer's message."""
    message = {
        key: value
        for key, value in result["choices"][0]["message"].items()
        if value is not None and key != "refusal"
    }
    example: dict[str, Any] = {"messages": [*request.get("messages", []), message]}
    if request.get("tools"):
        example["tools"] = request["tools"]
        example["parallel_tool_calls"] = request.get("parallel_tool_calls", True)
    return example


def record(task: Task, request: dict[str, Any]) -> dict[str, Any]:
    """One evaluation record: the task as a person answered it, request included."""
    return {
        **task.summary(),
        "request": request,
        "answer": task.answer,
        "draft": task.draft,
        "result": task.result,
    }


async def export_lines(store: Store, format: str, model: str | None = None) -> AsyncIterator[bytes]:
    """JSON lines of answered tasks, oldest first, read from the store a page at a time."""
    after = 0.0
    while True:
        tasks = await store.answered_after(after, model=model, limit=PAGE)
        for task in tasks:
            if format == "openai-chat" and task.api != "chat.completions":
                continue
            request = orjson.loads(await store.request(task.id) or b"{}")
            if format == "openai-chat":
                line = chat_example(request, task.result or {})
            else:
                line = record(task, request)
            yield orjson.dumps(line) + b"\n"
        if len(tasks) < PAGE:
            return
        after = tasks[-1].answered_at or after
