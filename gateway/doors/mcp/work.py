"""A tool call as a task's conversation: the chat form every part of the gateway reads.

The dashboard, the answer checks and the exports read tasks as Chat Completions
requests. A call becomes one: the question (with its context and images) or
the tool call awaiting permission as the user's turn, and, where the answer
must be JSON, a ``response_format`` of ``json_schema``, so the reviewer API
checks an answer (a 422 naming the field) and the dashboard validates its form
as it does for structured outputs. The call itself (without images, which are
in the conversation already) is kept under ``mcp`` for the dashboard's
question and permission views.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from gateway.doors.mcp.tools import ASK_HUMAN, REQUEST_PERMISSION, AskHuman, RequestPermission

API = "chat.completions"
MODEL = "mcp"  # the tasks' model: metrics, stats and export filters tell MCP tasks apart
QUESTION = "question"
PERMISSION = "permission"
PREVIEW_CHARS = 200
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
class McpWork:
    """What a call hands the human service: its conversation and how to read the answer."""

    tool: str
    kind: str  # "question" or "permission"
    data: dict[str, Any]  # the request in the conversation (Chat Completions) form
    preview: str
    tool_use_id: str | None = None  # permission: the tool use it is about (Claude Code's)

    @property
    def body(self) -> bytes:
        return orjson.dumps(self.data)

    @property
    def output_format(self) -> dict[str, Any] | None:
        declared = self.data.get("response_format")
        if not declared:
            return None
        spec = declared["json_schema"]
        return {
            "type": "json_schema",
            "name": spec["name"],
            "description": spec.get("description"),
            "schema": spec["schema"],
            "strict": False,
        }


def work_for(arguments: AskHuman | RequestPermission) -> McpWork:
    if isinstance(arguments, AskHuman):
        return question_work(arguments)
    return permission_work(arguments)


def question_work(ask: AskHuman) -> McpWork:
    content: list[dict[str, Any]] = []
    if ask.context:
        content.append({"type": "text", "text": ask.context})
    content.append({"type": "text", "text": ask.question})
    content += [{"type": "image_url", "image_url": {"url": url}} for url in ask.images]
    data: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": content}],
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
    return McpWork(ASK_HUMAN, QUESTION, data, _short(ask.question))


def permission_work(request: RequestPermission) -> McpWork:
    shown = orjson.dumps(request.input, option=orjson.OPT_INDENT_2).decode()
    text = (
        f"The agent asks to run the tool `{request.tool_name}` with this input:\n\n"
        f"```json\n{shown}\n```\n\nMay it run?"
    )
    data: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": text}],
        "response_format": _json_schema(
            "permission", PERMISSION_SCHEMA, "allow (with the input to run, if edited) or deny"
        ),
        "mcp": {
            "tool": REQUEST_PERMISSION,
            "tool_name": request.tool_name,
            "input": request.input,
            "tool_use_id": request.tool_use_id,
        },
    }
    preview = _short(permission_line(request))
    return McpWork(REQUEST_PERMISSION, PERMISSION, data, preview, request.tool_use_id)


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


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"
