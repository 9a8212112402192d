"""How a person's answer compares with the model's draft: approved, edited or replaced."""

from __future__ import annotations

import contextlib
import difflib
from typing import Any

import orjson

SIMILAR = 0.5  # share of an answer's text kept from the draft for it to count as edited
_COMPARED_CHARS = 4000  # difflib is quadratic: compare the start of long texts only


def draft_verdict(draft: dict[str, Any], answer: dict[str, Any]) -> str:
    """``approved``, ``edited`` or ``replaced``: a recorded answer against the draft."""
    if answer.get("accept_draft"):
        return "approved"
    mine, theirs = _canonical(answer), _canonical(draft)
    if mine == theirs:
        return "approved"
    return "edited" if _similar(mine, theirs) else "replaced"


def _canonical(answer: dict[str, Any]) -> dict[str, Any]:
    choices = answer.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        answer = choices[0]
    content = answer.get("content")
    if content is not None and not isinstance(content, str):
        content = orjson.dumps(content, option=orjson.OPT_SORT_KEYS).decode()
    calls = []
    for call in answer.get("tool_calls") or []:
        arguments = call.get("arguments")
        if isinstance(arguments, str):
            with contextlib.suppress(orjson.JSONDecodeError):
                arguments = orjson.loads(arguments or "{}")
        calls.append((call.get("name"), orjson.dumps(arguments, option=orjson.OPT_SORT_KEYS)))
    actions = [
        orjson.dumps(action, option=orjson.OPT_SORT_KEYS)
        for action in answer.get("computer_actions") or []
    ]
    refusal = answer.get("refusal") or None
    return {"content": content or None, "refusal": refusal, "calls": calls, "actions": actions}


def _similar(mine: dict[str, Any], draft: dict[str, Any]) -> bool:
    if [name for name, _ in mine["calls"]] != [name for name, _ in draft["calls"]]:
        return False
    kinds = [orjson.loads(action).get("type") for action in mine["actions"]]
    if kinds != [orjson.loads(action).get("type") for action in draft["actions"]]:
        return False
    if (mine["refusal"] is None) != (draft["refusal"] is None):
        return False
    a, b = mine["content"], draft["content"]
    if (a is None) != (b is None):
        return False
    if a is None:
        return True
    matcher = difflib.SequenceMatcher(None, a[:_COMPARED_CHARS], b[:_COMPARED_CHARS], False)
    return matcher.ratio() >= SIMILAR
