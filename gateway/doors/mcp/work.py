"""A tool call as the human service's ``Work``: the chat form every part of the gateway reads.

The dashboard, the answer checks and the exports read tasks as Chat Completions
requests. A call becomes one: the question (with its images) or the tool call
awaiting permission (in a line; the whole input as the system's turn) as the
user's turn, a question's context as the system's, and, where the answer must be
JSON, a ``response_format`` of ``json_schema``, so the reviewer API checks an
answer (a 422 naming the field) and the dashboard validates its form as it does
for structured outputs. The call itself (without images, which are in the
conversation already) is kept under ``mcp`` for the dashboard's question and
permission views and for the shaper; the client's own ``tools/call`` params are
the task's ``original``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from gateway.doors.mcp.tools import ASK_HUMAN, REQUEST_PERMISSION, AskHuman, RequestPermission
from gateway.human.work import Work

API = "chat.completions"
DIALECT = "mcp"  # the shaper that makes a person's answer a tool result (shaper.py)
MODEL = "mcp"  # the tasks' model: metrics, stats and export filters tell MCP tasks apart
QUESTION = "question"
PERMISSION = "permission"
# Input fields a person must see first, in this order (Claude Code's Bash, Edit, Write...).
PROMINENT = ("command", "file_path", "url", "path", "pattern")

ALLOW = "allow"
DENY = "deny"
PERMISSION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "behavior": {"type": "string", "enum": [ALLOW, DENY]},
        "updatedInput": {"type": "object", "description": "the input to run, when edited"},
        "message": {"type": "string", "description": "why not, for the agent"},
    },
    "required": ["behavior"],
    "additionalProperties": False,
    # An edited input only goes with allow; a denial says nothing about the input.
    "if": {"properties": {"behavior": {"const": DENY}}},
    "then": {"not": {"required": ["updatedInput"]}},
}
OPTION = "answer"  # the one field of an answer to a question with options


def options_schema(options: list[str]) -> dict[str, Any]:
    """The answer to a question with options: ``{"answer": <one of them>}``."""
    return {
        "type": "object",
        "properties": {OPTION: {"type": "string", "enum": options}},
        "required": [OPTION],
        "additionalProperties": False,
    }


@dataclass(frozen=True, slots=True)
class Caller:
    """Who calls: the client's key digest (``b""`` without keys) and its session header."""

    client: bytes
    session: str | None = None
    address: str | None = None  # the peer's IP: with the key, whose cancels are whose


@dataclass(frozen=True, slots=True)
class Run:
    """The agent run a permission prompt belongs to (see waiting.py): the step whose
    answer made the tool use, and what the run was asked (that task's preview)."""

    session: str
    step: int
    task_id: str
    goal: str


def work_for(
    arguments: AskHuman | RequestPermission,
    original: dict[str, Any],
    caller: Caller,
    timeout_s: float,
    run: Run | None = None,
) -> Work:
    """The work for one call; ``run``: the run a permission prompt belongs to, whose
    session it joins when the caller named none."""
    if isinstance(arguments, AskHuman):
        data, kind = question_data(arguments), QUESTION
    else:
        data, kind = permission_data(arguments, run), PERMISSION
    return Work(
        api=API,
        dialect=DIALECT,
        model=MODEL,
        client=caller.client,
        data=data,
        body=orjson.dumps(data),
        stream=True,  # ticks: progress notifications while a person thinks
        session_hint=caller.session or (run.session if run else None),
        kind=kind,
        original=orjson.dumps(original),
        timeout_s=timeout_s,
    )


def question_data(ask: AskHuman) -> dict[str, Any]:
    # The context as the system's turn, the question as the user's: the queue row and
    # a run's name read the user's words; an exported row reads as a prompt and reply.
    content: list[dict[str, Any]] = [{"type": "text", "text": ask.question}]
    content += [{"type": "image_url", "image_url": {"url": url}} for url in ask.images]
    messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
    if ask.context:
        messages.insert(0, {"role": "system", "content": ask.context})
    data: dict[str, Any] = {
        "model": MODEL,
        "messages": messages,
        "mcp": {
            "tool": ASK_HUMAN,
            "question": ask.question,
            "context": ask.context,
            "options": ask.options,
            "schema": ask.schema_,
            "images": len(ask.images),
        },
    }
    if ask.options is not None:
        data["response_format"] = _json_schema("options", options_schema(ask.options))
    elif ask.schema_ is not None:
        data["response_format"] = _json_schema("answer", ask.schema_)
    return data


def permission_data(request: RequestPermission, run: Run | None = None) -> dict[str, Any]:
    shown = orjson.dumps(request.input, option=orjson.OPT_INDENT_2).decode()
    asked = (
        f"The agent asks whether it may run the tool `{request.tool_name}` with this "
        f"input:\n\n```json\n{shown}\n```"
    )
    if run is not None and run.goal:
        asked = f"In the run asked to: {run.goal}\n\n{asked}"
    # The tool and its telling input as the user's turn: the queue row and a run's
    # name read it; the whole input as the system's.
    return {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": asked},
            {"role": "user", "content": permission_line(request)},
        ],
        "response_format": _json_schema(
            "permission", PERMISSION_SCHEMA, "allow (with the input to run, if edited) or deny"
        ),
        "mcp": {
            "tool": REQUEST_PERMISSION,
            "tool_name": request.tool_name,
            "input": request.input,
            "tool_use_id": request.tool_use_id,
            "run": ({"task_id": run.task_id, "step": run.step, "goal": run.goal} if run else None),
        },
    }


def permission_line(request: RequestPermission) -> str:
    """``Bash: ls -la``: the tool and its most telling input, for a queue row."""
    for key in PROMINENT:
        value = request.input.get(key)
        if isinstance(value, str) and value:
            return f"{request.tool_name}: {value}"
    return f"{request.tool_name}: {orjson.dumps(request.input).decode()}"


def _json_schema(name: str, schema: dict[str, Any], description: str | None = None) -> dict:
    spec: dict[str, Any] = {"name": name, "schema": schema}
    if description:
        spec["description"] = description
    return {"type": "json_schema", "json_schema": spec}
