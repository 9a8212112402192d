"""A person's answer once checked: the content, calls, actions or refusal a door shapes.

Validation (``validate.py``) turns what the reviewer sent into ``Reply`` objects,
one per choice; each door's shaper turns them into its own wire body.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.human.request import estimate_tokens


@dataclass(slots=True)
class Reply:
    """A checked human answer, ready to be shaped for either API."""

    content: str | None
    calls: list[dict[str, Any]]  # {"name", "arguments": dict}
    actions: list[dict[str, Any]] = field(default_factory=list)  # Responses computer actions
    refusal: str | None = None  # a refusal stands alone: no content, calls or actions

    def completion_tokens(self) -> int:
        chars = len(self.content or "") + len(self.refusal or "")
        chars += sum(
            len(orjson.dumps(call["arguments"])) + len(call["name"]) for call in self.calls
        )
        return estimate_tokens(chars + 16 * len(self.actions), 0)
