"""A task's outcome as the tool result the MCP client gets.

``ask_human``: one text block with the person's answer (the text, the chosen
option, or the JSON text of a structured answer, which also goes out as
``structuredContent``); an error result (``isError``) when nobody answered.

``request_permission``: exactly one text block whose text is
``{"behavior": "allow", "updatedInput": ...}`` or ``{"behavior": "deny",
"message": ...}`` and nothing else: Claude Code refuses any other shape
("Permission prompt tool returned an invalid result"). Every outcome that is
not a person's allow, a rejection or a timeout included, is a deny: a tool call
nobody allowed does not run.
"""

from __future__ import annotations

from typing import Any

import mcp_types as types
import orjson

from gateway.doors.mcp.tools import AskHuman, RequestPermission
from gateway.doors.mcp.work import ALLOW, DENY, OPTION
from gateway.human.task import ANSWERED, EXPIRED, REJECTED, Task

DENIED = "A person denied this tool call."


def text_result(text: str, is_error: bool = False, structured: Any = None) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        is_error=is_error,
        structured_content=structured,
    )


def tool_error(message: str) -> types.CallToolResult:
    return text_result(message, is_error=True)


def answer_message(task: Task) -> dict[str, Any]:
    """The person's message in the stored chat completion."""
    assert task.result is not None
    return task.result["choices"][0]["message"]


def question_result(task: Task, ask: AskHuman, timeout_s: float) -> types.CallToolResult:
    if task.status != ANSWERED:
        return tool_error(unanswered(task, timeout_s))
    message = answer_message(task)
    content = message.get("content")
    if content is None:  # the person refused to answer (a refusal, not a rejection)
        return tool_error(f"The person declined to answer: {message.get('refusal') or ''}".strip())
    if ask.options is not None:
        return text_result(orjson.loads(content)[OPTION])
    if ask.schema_ is not None:
        return text_result(content, structured=orjson.loads(content))
    return text_result(content)


def permission_result(
    task: Task, request: RequestPermission, timeout_s: float
) -> types.CallToolResult:
    if task.status != ANSWERED:
        reason = unanswered(task, timeout_s)
        if task.status == REJECTED:
            reason = task.reject_reason or DENIED
        return decision({"behavior": DENY, "message": reason})
    content = answer_message(task).get("content")
    answer = orjson.loads(content) if content else {"behavior": DENY}
    if answer.get("behavior") == ALLOW:
        return decision(
            {"behavior": ALLOW, "updatedInput": answer.get("updatedInput", request.input)}
        )
    return decision({"behavior": DENY, "message": answer.get("message") or DENIED})


def decision(body: dict[str, Any]) -> types.CallToolResult:
    """One text block, no structured content: the only result Claude Code accepts."""
    return text_result(orjson.dumps(body).decode())


def unanswered(task: Task, timeout_s: float) -> str:
    if task.status == REJECTED:
        return f"The person rejected this request: {task.reject_reason or 'no reason given'}"
    if task.status == EXPIRED:
        return f"No person answered within {timeout_s:g} s (task {task.id})."
    return f"The request ended without an answer: its task {task.id} was {task.status}."
