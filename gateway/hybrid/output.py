"""What a model answered on a hybrid route, in the shape the policy judges.

The hybrid route needs the whole answer to judge it: its text, tool calls,
computer actions, finish reason, refusal and token logprobs. Each door reads its
dialect's reply bytes into a ``ModelOutput`` (its ``OutputReader``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class ModelOutput:
    """What a model answered, in the shape a reviewer's draft takes."""

    content: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # {"name", "arguments"}
    computer_actions: list[dict[str, Any]] = field(default_factory=list)
    # The tool name the actions were declared under, where the dialect names it (Claude's
    # computer tool): review_tools matches it like a tool call's name.
    computer_tool: str | None = None
    finish_reason: str | None = None  # stop, length, tool_calls, content_filter
    refusal: str | None = None
    logprobs: list[float] = field(default_factory=list)  # of the generated content tokens
    usage: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict)  # the reply body (for streams, rebuilt)
    choices: list[dict[str, Any]] = field(default_factory=list)  # every choice's draft, when n > 1
    others: list[ModelOutput] = field(default_factory=list)  # choices 2..n, judged like the first

    def draft(self, confidence: float | None) -> dict[str, Any]:
        """The model's answer as a draft a reviewer may accept or edit.

        With ``n > 1`` the draft holds every choice, as a person's answer must.
        """
        if len(self.choices) > 1:
            return {"choices": self.choices, "confidence": confidence}
        return {**self.choice_draft(), "confidence": confidence}

    def choice_draft(self) -> dict[str, Any]:
        draft = {
            "content": self.content,
            "tool_calls": self.tool_calls,
            "computer_actions": self.computer_actions,
        }
        if self.refusal is not None:
            draft["refusal"] = self.refusal
        return draft
