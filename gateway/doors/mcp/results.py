"""Tool results: a person's answer (as the shaper stores it) and the ends without one.

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

from gateway.doors.mcp.work import ALLOW, DENY, OPTION, PERMISSION
from gateway.errors import GatewayError
from gateway.human.answers import Reply
from gateway.human.task import EXPIRED, REJECTED, Task

DENIED = "A person denied this tool call."
RESTARTING = "The gateway is restarting; make the same call again to get the person's answer."


def text_body(text: str, is_error: bool = False, structured: Any = None) -> dict[str, Any]:
    """A ``CallToolResult`` as JSON: one text block."""
    body: dict[str, Any] = {"content": [{"type": "text", "text": text}], "isError": is_error}
    if structured is not None:
        body["structuredContent"] = structured
    return body


def question_body(call: dict[str, Any], reply: Reply) -> dict[str, Any]:
    """A person's checked answer to ``ask_human`` (``call``: the task's ``mcp`` record)."""
    if reply.content is None:  # the person refused to answer (a refusal, not a rejection)
        return text_body(f"The person declined to answer: {reply.refusal or ''}".strip(), True)
    if call.get("options") is not None:
        return text_body(orjson.loads(reply.content)[OPTION])
    if call.get("schema") is not None:
        return text_body(reply.content, structured=orjson.loads(reply.content))
    return text_body(reply.content)


def permission_body(call: dict[str, Any], reply: Reply) -> dict[str, Any]:
    """A person's checked decision on ``request_permission``."""
    answer = orjson.loads(reply.content) if reply.content else {"behavior": DENY}
    if answer.get("behavior") == ALLOW:
        run = answer.get("updatedInput", call.get("input") or {})
        return decision({"behavior": ALLOW, "updatedInput": run})
    return decision({"behavior": DENY, "message": answer.get("message") or DENIED})


def decision(body: dict[str, Any]) -> dict[str, Any]:
    """One text block, no structured content: the only result Claude Code accepts."""
    return text_body(orjson.dumps(body).decode())


def answered(task: Task) -> types.CallToolResult:
    """The result the shaper stored when the person answered."""
    assert task.result is not None
    return types.CallToolResult.model_validate(task.result)


def ended(task: Task, error: GatewayError, timeout_s: float) -> types.CallToolResult:
    """The result of a call whose task ended without an answer, or could not wait."""
    if error.code == "gateway_restarting":
        reason = RESTARTING
    elif task.status == REJECTED:
        reason = f"The person rejected this request: {task.reject_reason or 'no reason given'}"
    elif task.status == EXPIRED:
        reason = f"No person answered within {timeout_s:g} s (task {task.id})."
    else:
        reason = f"The request ended without an answer: {error.message}"
    if task.kind == PERMISSION:
        if task.status == REJECTED and task.reject_reason:
            reason = task.reject_reason
        return types.CallToolResult.model_validate(decision({"behavior": DENY, "message": reason}))
    return tool_error(reason)


def tool_error(message: str) -> types.CallToolResult:
    return types.CallToolResult.model_validate(text_body(message, is_error=True))
