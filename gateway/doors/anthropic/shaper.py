"""The Anthropic door's ``Shaper``: a person's answer stored as a chat completion whose
tool call ids are Claude's (``toolu_...``).

The stored result stays in the conversation form (Chat Completions), so the
exports, the steps index and the dashboard read it as any other; the door turns
it into a Messages response on the way out (shapes.py). Minting the ``toolu_`` ids
here, once, means the ids the client sends back (a ``tool_result``'s
``tool_use_id``) are the ones the task's answer carries: the next request is found
to continue this task by id, and a retry gets the very same ids.
"""

from __future__ import annotations

from typing import Any

from gateway.doors.openai.shaper import OpenAIShaper
from gateway.human.answers import Reply
from gateway.human.task import Task
from gateway.human.work import Shaped

DIALECT = "anthropic"
TOOL_USE_PREFIX = "toolu_"


class AnthropicShaper:
    """Shapes answers for tasks from ``/v1/messages`` (stored in chat form)."""

    def __init__(self) -> None:
        self.chat = OpenAIShaper()  # the chat completion, with its ids renamed below

    def shape(self, task: Task, request: dict[str, Any], replies: list[Reply]) -> Shaped:
        shaped = self.chat.shape(task, request, replies)
        for choice in shaped.result["choices"]:
            for call in choice["message"].get("tool_calls") or []:
                call["id"] = TOOL_USE_PREFIX + call["id"].removeprefix("call_")
        return shaped

    def answer_items(self, task: Task) -> list[Any]:
        return self.chat.answer_items(task)

    def minted_ids(self, task: Task) -> list[str]:
        return self.chat.minted_ids(task)
