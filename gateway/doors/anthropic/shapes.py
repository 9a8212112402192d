"""A person's answer as a Messages response: the JSON body and its SSE events.

Bodies follow ``shared/reference/anthropic-messages.md`` (§2, §3, §5) and are
checked in the tests with the ``anthropic`` SDK's own types. Token counts are the
same estimates the other doors give.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

TEXT_DELTA_CHARS = 64  # as the OpenAI shapes chunk their content
PING = b'event: ping\ndata: {"type":"ping"}\n\n'
# OpenAI-style key names (the dashboard's, and the Responses API's) -> xdotool's.
_KEYS = {
    "enter": "Return",
    "return": "Return",
    "esc": "Escape",
    "escape": "Escape",
    "tab": "Tab",
    "backspace": "BackSpace",
    "delete": "Delete",
    "space": "space",
    "arrowup": "Up",
    "up": "Up",
    "arrowdown": "Down",
    "down": "Down",
    "arrowleft": "Left",
    "left": "Left",
    "arrowright": "Right",
    "right": "Right",
    "home": "Home",
    "end": "End",
    "pageup": "Page_Up",
    "pagedown": "Page_Down",
    "insert": "Insert",
    "capslock": "Caps_Lock",
    "control": "ctrl",
    "ctrl": "ctrl",
    "alt": "alt",
    "option": "alt",
    "shift": "shift",
    "cmd": "super",
    "meta": "super",
    "super": "super",
    "win": "super",
}
_BUTTONS = {"left": "left_click", "right": "right_click", "wheel": "middle_click"}
_HISTORY_KEYS = {"back": "alt+Left", "forward": "alt+Right"}  # what those buttons do
DASHBOARD_ACTIONS = frozenset(
    {"click", "double_click", "drag", "keypress", "move", "screenshot", "scroll", "type", "wait"}
)
# Keys only Claude's own computer input has: arguments with them are sent as they are.
CLAUDE_ONLY = frozenset({"coordinate", "start_coordinate", "duration", "scroll_direction"})


def message(completion: dict[str, Any], computer: str | None) -> dict[str, Any]:
    """The ``message`` a person's answer makes, from the chat completion the human
    service stored for it (its ids give this message's, so a retry gets the same body).

    Text, then tool uses; calls of the computer function ``computer`` (the declared
    computer tool's name) carry the dashboard's actions, turned into Claude's (§5).
    """
    choice = completion["choices"][0]
    said = choice["message"]
    content: list[dict[str, Any]] = []
    refusal = said.get("refusal")
    text = refusal if refusal is not None else said.get("content")
    if text:
        content.append({"type": "text", "text": text})
    for call in said.get("tool_calls") or []:
        name, arguments = call["function"]["name"], orjson.loads(call["function"]["arguments"])
        if name == computer and is_dashboard_action(arguments):
            arguments = computer_input({**arguments, "type": arguments["action"]})
        use_id = call["id"]  # the shaper's toolu_ id (older tasks: the call_ id's tail)
        if not use_id.startswith("toolu_"):
            use_id = "toolu_" + use_id.removeprefix("call_")
        content.append({"type": "tool_use", "id": use_id, "name": name, "input": arguments})
    if refusal is not None:
        stop_reason = "refusal"
    elif any(block["type"] == "tool_use" for block in content):
        stop_reason = "tool_use"
    else:
        stop_reason = "end_turn"
    usage = completion["usage"]
    return {
        "id": "msg_" + completion["id"].removeprefix("chatcmpl-"),
        "type": "message",
        "role": "assistant",
        "model": completion["model"],
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": usage["prompt_tokens"],
            "output_tokens": usage["completion_tokens"],
        },
    }


def is_dashboard_action(arguments: dict[str, Any]) -> bool:
    """Whether a computer call's arguments are a dashboard action (``click`` at x, y)
    rather than Claude's own input (``left_click`` at a ``coordinate``)."""
    return arguments.get("action") in DASHBOARD_ACTIONS and not CLAUDE_ONLY & arguments.keys()


def computer_input(action: dict[str, Any]) -> dict[str, Any]:
    """One dashboard (OpenAI-style) computer action as a computer tool's ``input`` (§5)."""
    kind = action["type"]
    point: list[int] = []
    if kind in ("click", "double_click", "move", "scroll"):
        point = [action["x"], action["y"]]
    if kind == "click":
        button = action.get("button", "left")
        if button in _HISTORY_KEYS:  # Claude's computer has no back/forward button
            return {"action": "key", "text": _HISTORY_KEYS[button]}
        return {"action": _BUTTONS[button], "coordinate": point}
    if kind == "double_click":
        return {"action": "double_click", "coordinate": point}
    if kind == "move":
        return {"action": "mouse_move", "coordinate": point}
    if kind == "drag":
        first, last = action["path"][0], action["path"][-1]
        return {
            "action": "left_click_drag",
            "start_coordinate": [first["x"], first["y"]],
            "coordinate": [last["x"], last["y"]],
        }
    if kind == "keypress":
        return {"action": "key", "text": "+".join(_key(key) for key in action["keys"])}
    if kind == "type":
        return {"action": "type", "text": action["text"]}
    if kind == "scroll":
        across, down = action.get("scroll_x", 0), action.get("scroll_y", 0)
        if abs(across) > abs(down):
            direction, amount = ("right" if across > 0 else "left"), abs(across)
        else:
            direction, amount = ("down" if down >= 0 else "up"), abs(down)
        return {
            "action": "scroll",
            "coordinate": point,
            "scroll_direction": direction,
            "scroll_amount": max(amount, 1),
        }
    if kind == "wait":
        return {"action": "wait", "duration": 1}
    return {"action": "screenshot"}


def _key(key: str) -> str:
    lowered = key.lower()
    if lowered in _KEYS:
        return _KEYS[lowered]
    if lowered[:1] == "f" and lowered[1:].isdigit():
        return lowered.upper()  # xdotool's F1..F12
    return key if len(key) > 1 else lowered


# -- streaming -----------------------------------------------------------------------


def event(kind: str, body: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **body}) + b"\n\n"


def stream(result: dict[str, Any]) -> Iterator[bytes]:
    """The full event sequence of a finished message (§3), a ``ping`` after its start."""
    usage = result["usage"]
    started = {
        **result,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": usage["input_tokens"], "output_tokens": 1},
    }
    yield event("message_start", {"message": started})
    yield PING
    for index, block in enumerate(result["content"]):
        yield from _block_events(index, block)
    yield event(
        "message_delta",
        {
            "delta": {"stop_reason": result["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": usage["output_tokens"]},
        },
    )
    yield event("message_stop", {})


def _block_events(index: int, block: dict[str, Any]) -> Iterator[bytes]:
    if block["type"] == "text":
        yield event("content_block_start", {"index": index, "content_block": {**block, "text": ""}})
        text = block["text"]
        for start in range(0, len(text), TEXT_DELTA_CHARS):
            delta = {"type": "text_delta", "text": text[start : start + TEXT_DELTA_CHARS]}
            yield event("content_block_delta", {"index": index, "delta": delta})
    else:
        opening = {"index": index, "content_block": {**block, "input": {}}}
        yield event("content_block_start", opening)
        partial = orjson.dumps(block["input"]).decode()
        delta = {"type": "input_json_delta", "partial_json": partial}
        yield event("content_block_delta", {"index": index, "delta": delta})
    yield event("content_block_stop", {"index": index})
