"""The MCP door's ``Shaper``: a person's checked answer as the tool result the client gets.

The stored ``task.result`` is the ``CallToolResult`` itself (see results.py); read
back for the steps index and the exports, it is the assistant's text.
"""

from __future__ import annotations

from typing import Any

from gateway.doors.mcp import results
from gateway.doors.mcp.work import PERMISSION
from gateway.human.answers import Reply
from gateway.human.task import Task
from gateway.human.work import Shaped


class McpShaper:
    """Shapes answers for the MCP door's ``question`` and ``permission`` tasks."""

    def shape(self, task: Task, request: dict[str, Any], replies: list[Reply]) -> Shaped:
        call = request.get("mcp") or {}
        if task.kind == PERMISSION:
            return Shaped(results.permission_body(call, replies[0]))
        return Shaped(results.question_body(call, replies[0]))

    def answer_items(self, task: Task) -> list[Any]:
        blocks = (task.result or {}).get("content") or []
        text = "".join(block.get("text", "") for block in blocks if block.get("type") == "text")
        return [{"role": "assistant", "content": text}]

    def minted_ids(self, task: Task) -> list[str]:
        return []  # a tool result carries no ids a later request could name
