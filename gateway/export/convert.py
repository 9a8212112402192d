"""Requests and answers in OpenAI's chat shape, whichever API they came through.

Fine-tuning data is chat-shaped, so Responses-API work is converted:
``instructions`` become the system message; input items become messages;
``function_call`` / ``function_call_output`` items become assistant tool calls
and ``tool`` messages; ``computer_call`` items become calls of a ``computer``
function tool (its schema is ``computer_tool``, written into the line's
``tools``); a screenshot sent back as ``computer_call_output`` becomes the
``tool`` message's text plus an ``image_url`` part in the user message that
follows, since images may only appear in user messages. Chat requests are
cleaned the same way (``developer`` becomes ``system``, unsupported parts are
named in text, images in tool messages move to a user message).

Text content is a string; a message that carries an image is a list of parts
(OpenAI's vision fine-tuning), and ``as_parts`` makes every content a list
(Hugging Face's vision convention, ``content=parts``).

Input that cannot be made into a conversation raises ``Unconvertible``; the
export skips that task and counts it, it never stops the stream.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from gateway.human.request import COMPUTER_TOOL_TYPES

COMPUTER = "computer"
ACTION_TYPES = (
    "click", "double_click", "drag", "keypress", "move", "screenshot", "scroll", "type", "wait",
)  # fmt: skip


class Unconvertible(ValueError):
    """A request or answer that does not make a chat conversation."""


def computer_tool(tool: dict[str, Any] | None = None) -> dict[str, Any]:
    """The chat function tool that stands for a Responses computer tool, schema written out."""
    tool = tool or {}
    size = ""
    if tool.get("display_width") and tool.get("display_height"):
        size = f" The display is {tool['display_width']}x{tool['display_height']} pixels"
        size += f" ({tool['environment']})." if tool.get("environment") else "."
    integer = {"type": "integer"}
    action = {
        "type": "object",
        "properties": {
            "type": {"type": "string", "enum": list(ACTION_TYPES)},
            "x": integer,
            "y": integer,
            "button": {"type": "string", "enum": ["left", "right", "wheel", "back", "forward"]},
            "keys": {"type": "array", "items": {"type": "string"}},
            "path": {
                "type": "array",
                "items": {"type": "object", "properties": {"x": integer, "y": integer}},
            },
            "scroll_x": integer,
            "scroll_y": integer,
            "text": {"type": "string"},
        },
        "required": ["type"],
    }
    return {
        "type": "function",
        "function": {
            "name": COMPUTER,
            "description": "Act on the computer's screen, one action per call; the result "
            "is a screenshot of the screen afterwards." + size,
            "parameters": {
                "type": "object",
                "properties": {"action": action},
                "required": ["action"],
            },
        },
    }


def chat_tools(api: str, tools: Any) -> list[dict[str, Any]]:
    """The request's tools as chat function tools; a computer tool becomes ``computer``."""
    out: list[dict[str, Any]] = []
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict):
            continue
        kind = tool.get("type")
        if kind == "function":
            spec = tool.get("function") if api == "chat.completions" else tool
            if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
                continue
            function = {"name": spec["name"]}
            for key in ("description", "parameters", "strict"):
                if spec.get(key) is not None:
                    function[key] = spec[key]
            out.append({"type": "function", "function": function})
        elif kind in COMPUTER_TOOL_TYPES and not any(
            t["function"]["name"] == COMPUTER for t in out
        ):
            out.append(computer_tool(tool))
    return out


def request_messages(api: str, request: dict[str, Any]) -> list[dict[str, Any]]:
    """The conversation a request carried, in chat shape."""
    if api == "chat.completions":
        messages = request.get("messages")
        if not isinstance(messages, list):
            raise Unconvertible("the request has no messages list")
        return chat_messages(messages)
    items = request.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    elif isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        raise Unconvertible("the request has no input")
    messages = items_to_messages(items)
    instructions = request.get("instructions")
    if isinstance(instructions, str) and instructions:
        messages.insert(0, {"role": "system", "content": instructions})
    return messages


def chat_messages(messages: Iterable[Any]) -> list[dict[str, Any]]:
    """Chat messages as fine-tuning accepts them: known keys, roles and parts only."""
    builder = _Builder()
    for message in messages:
        if not isinstance(message, dict):
            raise Unconvertible("a message is not an object")
        role = message.get("role")
        if role == "assistant":
            builder.assistant(_text(message.get("content")) or message.get("refusal"))
            for call in message.get("tool_calls") or []:
                function = call.get("function") or {} if isinstance(call, dict) else {}
                builder.call(call.get("id"), function.get("name"), function.get("arguments"))
        elif role == "tool":
            builder.tool(message.get("tool_call_id"), message.get("content"))
        elif role in ("system", "developer", "user"):
            builder.say("user" if role == "user" else "system", message.get("content"))
        else:
            raise Unconvertible(f"unknown role {role!r}")
    return builder.done()


def items_to_messages(items: Iterable[Any]) -> list[dict[str, Any]]:
    """Responses input or output items as chat messages (reasoning items are left out)."""
    builder = _Builder()
    for item in items:
        if not isinstance(item, dict):
            raise Unconvertible("an input item is not an object")
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role == "assistant":
                builder.assistant(_text(item.get("content")))
            elif role in ("user", "system", "developer"):
                builder.say("user" if role == "user" else "system", item.get("content"))
            else:
                raise Unconvertible(f"unknown role {role!r}")
        elif kind == "function_call":
            builder.call(item.get("call_id"), item.get("name"), item.get("arguments"))
        elif kind == "computer_call":
            actions = item.get("actions") or [item.get("action")]
            for index, action in enumerate(actions):
                call_id = item.get("call_id") if index == len(actions) - 1 else None
                call_id = call_id or f"{item.get('call_id')}_{index}"
                builder.call(call_id, COMPUTER, {"action": action})
                if index < len(actions) - 1:
                    builder.tool(call_id, "done")  # a batch: only the last gets the screenshot
        elif kind == "function_call_output":
            builder.tool(item.get("call_id"), item.get("output"))
        elif kind == "computer_call_output":
            output = item.get("output") or {}
            note = "Screenshot of the screen after the action."
            if isinstance(output, dict) and output.get("current_url"):
                note += f" Current URL: {output['current_url']}"
            builder.tool(item.get("call_id"), note)
            url = output.get("image_url") if isinstance(output, dict) else None
            if isinstance(url, str) and url:
                builder.images.append({"type": "image_url", "image_url": {"url": url}})
        # reasoning, item_reference and hosted tools' calls carry nothing to learn from here
    return builder.done()


def answer_message(api: str, result: dict[str, Any]) -> dict[str, Any]:
    """The assistant turn a stored result (chat completion, response, or a tool result
    the MCP door's shaper stored: its text blocks) holds."""
    if "choices" not in result and isinstance(result.get("content"), list):
        texts = [block.get("text") for block in result["content"] if isinstance(block, dict)]
        strings = [text for text in texts if isinstance(text, str)]
        if not texts or len(strings) != len(texts):
            raise Unconvertible("the tool result is not text")
        return {"role": "assistant", "content": "".join(strings)}
    if api == "chat.completions":
        choices = result.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise Unconvertible("the answer has no choices")
        messages = chat_messages([{**choices[0].get("message", {}), "role": "assistant"}])
    else:
        messages = items_to_messages(result.get("output") or [])
    if len(messages) != 1 or messages[0]["role"] != "assistant":
        raise Unconvertible("the answer is not one assistant turn")
    return messages[0]


def draft_message(answer: dict[str, Any], call_prefix: str = "call") -> dict[str, Any]:
    """A draft or a reviewer's answer (content, tool_calls, computer_actions) as a turn."""
    choices = answer.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        answer = choices[0]  # n > 1: the first choice stands for the answer
    content = answer.get("content")
    if content is not None and not isinstance(content, str):
        content = orjson.dumps(content).decode()  # a structured output given as a value
    builder = _Builder()
    builder.assistant(content or answer.get("refusal"))
    calls = answer.get("tool_calls") or []
    for index, call in enumerate(calls):
        builder.call(f"{call_prefix}_{index}", call.get("name"), call.get("arguments"))
    for index, action in enumerate(answer.get("computer_actions") or []):
        builder.call(f"{call_prefix}_{len(calls) + index}", COMPUTER, {"action": action})
    messages = builder.done()
    if len(messages) != 1:
        raise Unconvertible("the answer is empty")
    return messages[0]


class _Builder:
    """Collects chat messages, merging an assistant's text and calls into one turn."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.images: list[dict[str, Any]] = []  # screenshots waiting for the next user turn

    def _flush_images(self) -> None:
        if self.images:
            self.messages.append({"role": "user", "content": self.images})
            self.images = []

    def _turn(self) -> dict[str, Any]:
        last = self.messages[-1] if self.messages else None
        if last is None or last["role"] != "assistant" or self.images:
            self._flush_images()
            last = {"role": "assistant"}
            self.messages.append(last)
        return last

    def assistant(self, text: Any) -> None:
        turn = self._turn()
        if isinstance(text, str) and text:
            turn["content"] = turn.get("content", "") + text

    def call(self, call_id: Any, name: Any, arguments: Any) -> None:
        if not isinstance(call_id, str) or not call_id or not isinstance(name, str):
            raise Unconvertible("a tool call has no id or name")
        if not isinstance(arguments, str):
            arguments = orjson.dumps(arguments if arguments is not None else {}).decode()
        turn = self._turn()
        call = {
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": arguments},
        }
        turn.setdefault("tool_calls", []).append(call)

    def tool(self, call_id: Any, content: Any) -> None:
        if not isinstance(call_id, str):
            raise Unconvertible("a tool result has no call id")
        text = _text(content, self.images)
        self.messages.append(
            {"role": "tool", "tool_call_id": call_id, "content": text or "(empty)"}
        )

    def say(self, role: str, content: Any) -> None:
        self._flush_images()
        if isinstance(content, str):
            if content:
                self.messages.append({"role": role, "content": content})
            return
        if content is not None and not isinstance(content, list):
            raise Unconvertible(f"a {role} message's content is neither text nor parts")
        parts = []
        for part in content or []:
            converted = _part(part)
            if converted is not None and (role == "user" or converted["type"] == "text"):
                parts.append(converted)
        if parts:
            self.messages.append({"role": role, "content": parts})

    def done(self) -> list[dict[str, Any]]:
        """The messages: text as a string; parts only for a message that carries an image.

        OpenAI's fine-tuning examples give text as strings, and many chat
        templates of text models only render a string. Vision fine-tuning needs
        parts where an image is; the other messages of that line stay strings.
        """
        self._flush_images()
        for message in self.messages:
            content = message.get("content")
            if isinstance(content, list) and all(part["type"] == "text" for part in content):
                message["content"] = "\n".join(part["text"] for part in content)
            elif content is None:
                message["content"] = None  # an assistant turn of tool calls only
        return self.messages


def as_parts(messages: Iterable[dict[str, Any] | None]) -> None:
    """Every message's text content as a list of parts, in place (``content=parts``).

    Hugging Face's vision convention, and what ``datasets`` needs to load a file
    in which some messages carry images: one type for every ``content``.
    """
    for message in messages:
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            message["content"] = [{"type": "text", "text": message["content"]}]


def _part(part: Any) -> dict[str, Any] | None:
    """A content part as fine-tuning accepts it: text, or an image; others named in text."""
    if isinstance(part, str):
        return {"type": "text", "text": part} if part else None
    if not isinstance(part, dict):
        return None
    kind = part.get("type")
    if kind in ("text", "input_text", "output_text"):
        text = part.get("text")
        return {"type": "text", "text": text} if isinstance(text, str) and text else None
    if kind in ("image_url", "input_image"):
        url = part.get("image_url")
        url = url.get("url") if isinstance(url, dict) else url
        if not isinstance(url, str) or not url:
            return {"type": "text", "text": "[image given by file id, not exported]"}
        image: dict[str, Any] = {"url": url}
        detail = (part.get("image_url") or {}) if isinstance(part.get("image_url"), dict) else part
        if detail.get("detail") in ("low", "high", "auto"):
            image["detail"] = detail["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "refusal":
        return {"type": "text", "text": part.get("refusal") or ""} if part.get("refusal") else None
    return {"type": "text", "text": f"[{kind} not exported]"}


def _text(content: Any, images: list[dict[str, Any]] | None = None) -> str:
    """Plain text of a content value; image parts go to ``images`` when given."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return orjson.dumps(content).decode()
    texts = []
    for part in content:
        converted = _part(part)
        if converted is None:
            continue
        if converted["type"] == "text":
            texts.append(converted["text"])
        elif images is not None:
            images.append(converted)
    return "\n".join(texts)
