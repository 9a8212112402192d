"""Reading an Anthropic-format model's reply (JSON or SSE) on a hybrid route.

The policy judges a ``ModelOutput`` whatever the wire format: ``stop_reason``
``max_tokens`` is a cut-off (``length``), ``refusal`` a refusal, tool uses are
tool calls (by name, for ``review_tools``), and tool uses of the declared
computer tool become computer actions, so the draft a reviewer sees is the one
the dashboard can edit.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.http.sse import sse_json
from gateway.hybrid.output import ModelOutput

_FINISH = {"max_tokens": "length", "tool_use": "tool_calls", "refusal": "stop"}
_CLICKS = {"left_click": "left", "right_click": "right", "middle_click": "wheel"}
_KEYS_BACK = {
    "Return": "enter",
    "Escape": "esc",
    "Tab": "tab",
    "BackSpace": "backspace",
    "Delete": "delete",
    "Up": "arrowup",
    "Down": "arrowdown",
    "Left": "arrowleft",
    "Right": "arrowright",
    "Page_Up": "pageup",
    "Page_Down": "pagedown",
    "super": "cmd",
}


def read_message(body: bytes, stream: bool, computer: str | None) -> ModelOutput:
    """Parse a whole reply; ``computer`` is the declared computer tool's name, if any.

    Raises ``ValueError`` when the body is not a Messages reply.
    """
    try:
        message = _rebuilt(body) if stream else orjson.loads(body)
        return _output(message, computer)
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise ValueError(f"unreadable model reply: {exc}") from None


def _rebuilt(body: bytes) -> dict[str, Any]:
    """The message a stream of events adds up to."""
    message: dict[str, Any] | None = None
    partial: dict[int, list[str]] = {}
    for event in sse_json(body):
        kind = event.get("type")
        if kind == "message_start":
            message = {**event["message"], "content": []}
        elif kind == "error":
            raise KeyError(f"the stream failed: {event.get('error')}")
        elif message is None:
            continue
        elif kind == "content_block_start":
            message["content"].append(dict(event["content_block"]))
        elif kind == "content_block_delta":
            block, delta = message["content"][event["index"]], event["delta"]
            if delta.get("type") == "text_delta":
                block["text"] = block.get("text", "") + delta["text"]
            elif delta.get("type") == "input_json_delta":
                partial.setdefault(event["index"], []).append(delta["partial_json"])
            elif delta.get("type") == "thinking_delta":
                block["thinking"] = block.get("thinking", "") + delta["thinking"]
        elif kind == "message_delta":
            message.update(event.get("delta") or {})
            message["usage"] = {**(message.get("usage") or {}), **(event.get("usage") or {})}
    if message is None:
        raise KeyError("the stream has no message_start event")
    for index, pieces in partial.items():
        message["content"][index]["input"] = orjson.loads("".join(pieces) or "{}")
    return message


def _output(message: dict[str, Any], computer: str | None) -> ModelOutput:
    answer = ModelOutput(usage=message.get("usage"), raw=message)
    texts: list[str] = []
    for block in message["content"]:
        if block["type"] == "text":
            texts.append(block["text"])
        elif block["type"] == "tool_use":
            action = action_of(block["input"]) if block["name"] == computer else None
            if action is not None:
                answer.computer_actions.append(action)
                answer.computer_tool = computer
            else:
                answer.tool_calls.append({"name": block["name"], "arguments": block["input"]})
    answer.content = "".join(texts) if texts else None
    stop = message.get("stop_reason")
    answer.finish_reason = _FINISH.get(stop or "", "stop")
    if stop == "refusal":
        answer.refusal, answer.content = answer.content or "The model declined to answer.", None
    return answer


def action_of(data: dict[str, Any]) -> dict[str, Any] | None:
    """A computer tool's ``input`` as the dashboard's action; ``None`` for actions it
    has no counterpart of (``hold_key``, ``left_mouse_down``, ``zoom`` ...)."""
    kind = data.get("action")
    point = data.get("coordinate") or [0, 0]
    x, y = point[0], point[1]
    if kind in _CLICKS:
        return {"type": "click", "button": _CLICKS[kind], "x": x, "y": y}
    if kind == "double_click":
        return {"type": "double_click", "x": x, "y": y}
    if kind == "mouse_move":
        return {"type": "move", "x": x, "y": y}
    if kind == "left_click_drag":
        start = data.get("start_coordinate") or point
        return {"type": "drag", "path": [{"x": start[0], "y": start[1]}, {"x": x, "y": y}]}
    if kind == "key":
        keys = str(data.get("text") or "").split("+")
        return {"type": "keypress", "keys": [_KEYS_BACK.get(key, key.lower()) for key in keys]}
    if kind == "type":
        return {"type": "type", "text": str(data.get("text") or "")}
    if kind == "scroll":
        amount = int(data.get("scroll_amount") or 1)
        direction = data.get("scroll_direction")
        across = amount if direction == "right" else -amount if direction == "left" else 0
        down = amount if direction == "down" else -amount if direction == "up" else 0
        return {"type": "scroll", "x": x, "y": y, "scroll_x": across, "scroll_y": down}
    if kind == "wait":
        return {"type": "wait"}
    if kind == "screenshot":
        return {"type": "screenshot"}
    return None
