"""A Messages request translated into the core's conversation form (Chat Completions).

What becomes what:
- ``system`` (a string or text blocks), ``role: "system"`` messages and a user turn's
  ``<system-reminder>`` text blocks (Claude Code's added context) -> system messages;
- text -> text parts; images (``base64`` and ``url`` sources) -> ``image_url`` parts;
- an assistant's ``tool_use`` blocks -> its ``tool_calls`` (``input`` as JSON arguments);
- ``tool_result`` blocks -> ``tool`` messages; the images in a result follow as a
  user message, so the newest screenshot is the one the person acts on;
- ``thinking`` blocks -> the assistant message's ``reasoning_content`` (the name
  vLLM and DeepSeek use), shown collapsed on the dashboard;
- tools with ``input_schema`` -> function tools; a ``computer_*`` tool -> a computer
  tool with its display size (clicks are scaled to it) and a function of its name;
  Anthropic's other client tools (``bash_*``, ``text_editor_*``) -> function tools
  taking any object; server tools (``web_search_*``) are listed, not callable;
- ``tool_choice`` any / tool / none -> required / a named function / none, and
  ``disable_parallel_tool_use`` -> ``parallel_tool_calls: false``;
- structured outputs (``output_config.format``, the beta's ``output_format``) -> a
  ``json_schema`` response format: the person's answer must fit the schema, and goes
  back as a text block holding the JSON, as Claude's does.
"""

from __future__ import annotations

import contextlib
from typing import Any

import orjson

from gateway.doors.anthropic.models import (
    Base64Source,
    Block,
    CountTokensRequest,
    DocumentBlock,
    ImageBlock,
    Message,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    Tool,
    ToolChoice,
    ToolResultBlock,
    ToolUseBlock,
    UrlSource,
)

COMPUTER_PREFIX = "computer_"
# Anthropic's client tools with a fixed schema of their own: a person may call them.
CLIENT_TOOL_PREFIXES = ("bash_", "text_editor_")
COMPUTER_TOOL = "computer_use_preview"  # the conversation form's computer tool type
# The computer function's arguments: one action, in the dashboard's words (``click``
# with x and y) or Claude's (``left_click`` with a coordinate); shapes.py turns the
# first into the second.
COMPUTER_SCHEMA = {
    "type": "object",
    "properties": {"action": {"type": "string"}},
    "required": ["action"],
}
# Claude Code wraps the context it adds to a user turn in these; such a block is the
# harness speaking, so it becomes a system message (and the queue row shows the
# person's own words).
REMINDER_OPEN, REMINDER_CLOSE = "<system-reminder>", "</system-reminder>"
# Top-level fields that mean the same in the conversation form.
_SAME_FIELDS = ("max_tokens", "stream", "temperature", "top_p", "stop_sequences")


def conversation(request: CountTokensRequest) -> dict[str, Any]:
    """The request in Chat Completions form, as the dashboard, checks and exports read it."""
    data: dict[str, Any] = {"model": request.model, "messages": _messages(request)}
    raw = request.model_dump(include=set(_SAME_FIELDS), exclude_none=True)
    if "stop_sequences" in raw:
        raw["stop"] = raw.pop("stop_sequences")
    data.update(raw)
    if request.tools:
        data["tools"] = [entry for tool in request.tools for entry in _tools(tool)]
    schema = request.output_schema
    if schema is not None:  # checked as a Chat Completions json_schema would be
        spec = {"name": "output", "schema": schema}
        data["response_format"] = {"type": "json_schema", "json_schema": spec}
    if request.tool_choice is not None:
        data["tool_choice"] = _tool_choice(request.tool_choice)
        if request.tool_choice.disable_parallel_tool_use:
            data["parallel_tool_calls"] = False
    return data


def session_hint(metadata: dict[str, Any] | None) -> str | None:
    """The session a request belongs to, from ``metadata.user_id``: Claude Code 2.1 sends
    JSON with a ``session_id``, older versions ``user_<hash>_account_<id>_session_<uuid>``."""
    user = (metadata or {}).get("user_id")
    if not isinstance(user, str) or not user:
        return None
    if user.startswith("{"):
        with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
            session = orjson.loads(user).get("session_id")
            if isinstance(session, str) and session:
                return session[:128]
    _, marker, session = user.rpartition("_session_")
    return (session if marker and session else user)[:128]


def system_text(system: str | list[TextBlock] | None) -> str | None:
    if system is None:
        return None
    if isinstance(system, str):
        return system
    return "\n\n".join(block.text for block in system)


def computer_name(data: dict[str, Any]) -> str | None:
    """The declared computer tool's name, from a request in conversation form."""
    tools = data.get("tools") or []
    computer = next((tool for tool in tools if tool.get("type") == COMPUTER_TOOL), None)
    return computer.get("name") if computer is not None else None


# -- messages ------------------------------------------------------------------------


def _messages(request: CountTokensRequest) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    system = system_text(request.system)
    if system:
        out.append({"role": "system", "content": system})
    for message in request.messages:
        if message.role == "assistant":
            out.append(_assistant(message))
        else:
            out.extend(_user_or_system(message))
    return out


def _user_or_system(message: Message) -> list[dict[str, Any]]:
    """Tool results first (each a ``tool`` message), then what else the turn holds."""
    if isinstance(message.content, str):
        return [{"role": message.role, "content": message.content}]
    results: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    reminders: list[str] = []
    for block in message.content:
        if isinstance(block, TextBlock) and message.role == "user" and _is_reminder(block.text):
            reminders.append(block.text)
        elif isinstance(block, ToolResultBlock):
            text, images = _result(block)
            results.append({"role": "tool", "tool_call_id": block.tool_use_id, "content": text})
            parts.extend(images)
        else:
            parts.extend(_parts(block))
    if reminders:  # the harness's words, not the person's: before the turn, as system
        results.append({"role": "system", "content": "\n\n".join(reminders)})
    if parts:
        results.append({"role": message.role, "content": parts})
    return results


def _is_reminder(text: str) -> bool:
    text = text.strip()
    return text.startswith(REMINDER_OPEN) and text.endswith(REMINDER_CLOSE)


def _result(block: ToolResultBlock) -> tuple[str, list[dict[str, Any]]]:
    """A tool result's text, and its images as parts of the user turn that follows."""
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    content = block.content
    if isinstance(content, str):
        texts.append(content)
    for inner in content if isinstance(content, list) else []:
        for part in _parts(inner):
            if part["type"] == "text":
                texts.append(part["text"])
            else:
                images.append(part)
    text = "\n".join(texts)
    if block.is_error:
        text = f"[error] {text}"
    if images and not text:
        text = (
            "[an image, shown next]" if len(images) == 1 else f"[{len(images)} images, shown next]"
        )
    return text, images


def _assistant(message: Message) -> dict[str, Any]:
    if isinstance(message.content, str):
        return {"role": "assistant", "content": message.content}
    texts: list[str] = []
    thinking: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in message.content:
        if isinstance(block, ToolUseBlock):
            arguments = orjson.dumps(block.input).decode()
            calls.append(
                {
                    "id": block.id,
                    "type": "function",
                    "function": {"name": block.name, "arguments": arguments},
                }
            )
        elif isinstance(block, ThinkingBlock):
            thinking.append(block.thinking)
        elif isinstance(block, RedactedThinkingBlock):
            thinking.append("[redacted thinking]")
        else:
            texts.extend(part["text"] for part in _parts(block) if part["type"] == "text")
    out: dict[str, Any] = {"role": "assistant", "content": "\n\n".join(texts) or None}
    if calls:
        out["tool_calls"] = calls
    if thinking:
        out["reasoning_content"] = "\n\n".join(thinking)
    return out


def _parts(block: Block) -> list[dict[str, Any]]:
    """One content block as Chat Completions content parts."""
    if isinstance(block, TextBlock):
        return [{"type": "text", "text": block.text}]
    if isinstance(block, ImageBlock):
        return [_image(block.source)]
    if isinstance(block, DocumentBlock):
        return _document(block)
    if isinstance(block, ToolUseBlock):  # a server tool use inside a user turn: shown as text
        return [{"type": "text", "text": f"[{block.name}] {orjson.dumps(block.input).decode()}"}]
    if isinstance(block, ThinkingBlock):
        return [{"type": "text", "text": f"[thinking] {block.thinking}"}]
    if isinstance(block, ToolResultBlock):  # nested results: their text only
        return [{"type": "text", "text": _result(block)[0]}]
    kind = block.get("type") if isinstance(block, dict) else getattr(block, "type", "?")
    return [{"type": "text", "text": f"[{kind} block]"}]


def _image(source: Any) -> dict[str, Any]:
    if isinstance(source, Base64Source):
        url = f"data:{source.media_type};base64,{source.data}"
    elif isinstance(source, UrlSource):
        url = source.url
    else:
        return {"type": "text", "text": f"[image from a {source.type} source]"}
    return {"type": "image_url", "image_url": {"url": url}}


def _document(block: DocumentBlock) -> list[dict[str, Any]]:
    source = block.source
    title = block.title or "document"
    data = getattr(source, "data", None)
    if getattr(source, "type", None) == "text" and isinstance(data, str):
        return [{"type": "text", "text": f"[{title}]\n{data}"}]
    if isinstance(source, Base64Source) and source.media_type.startswith("image/"):
        return [_image(source)]
    if isinstance(source, UrlSource):
        return [{"type": "text", "text": f"[{title}: {source.url}]"}]
    return [{"type": "text", "text": f"[{title}: a {source.type} document]"}]


# -- tools ---------------------------------------------------------------------------


def _tools(tool: Tool) -> list[dict[str, Any]]:
    kind = tool.type or "custom"
    if kind.startswith(COMPUTER_PREFIX):
        # Two entries: the computer tool gives the display size (clicks are scaled to
        # it, actions checked against it); the function of the same name is what the
        # person's actions become calls of (as on a chat request with a computer
        # function), so the answer can name the declared tool.
        display = {
            "type": COMPUTER_TOOL,
            "name": tool.name,
            "display_width": tool.display_width_px,
            "display_height": tool.display_height_px,
            "environment": "linux",
            "declared_type": kind,
        }
        # The function first: the exports' chat tools then keep it, not a second one.
        return [_function(tool.name, f"Anthropic's {kind} tool", COMPUTER_SCHEMA), display]
    if kind == "custom" or tool.input_schema is not None:
        schema = tool.input_schema or {"type": "object", "properties": {}}
        return [_function(tool.name, tool.description, schema)]
    if kind.startswith(CLIENT_TOOL_PREFIXES):
        return [_function(tool.name, f"Anthropic's {kind} tool", {"type": "object"})]
    return [{"type": kind, "name": tool.name}]  # a server tool: Anthropic runs it, not the client


def _function(name: str, description: str | None, schema: dict[str, Any]) -> dict[str, Any]:
    function: dict[str, Any] = {"name": name, "parameters": schema}
    if description:
        function["description"] = description
    return {"type": "function", "function": function}


def _tool_choice(choice: ToolChoice) -> Any:
    if choice.type == "any":
        return "required"
    if choice.type == "none":
        return "none"
    if choice.type == "tool":
        return {"type": "function", "function": {"name": choice.name}}
    return "auto"
