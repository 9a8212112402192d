"""Checks for OpenAI fine-tuning lines, written from OpenAI's published rules.

The rules come from OpenAI's fine-tuning guides (supervised, vision, function
calling, preference) and the format checks of its cookbook notebook "Data
preparation and analysis for chat model fine-tuning" (error names such as
``missing_messages_list`` and ``unrecognized_role`` are the notebook's). On top
of the notebook's checks come the ones its upload-time validator applies to
tool use: every assistant tool call has an id, a declared function and JSON
object arguments in a string; every tool message answers a call of the
assistant turn before it; images only in user messages; no empty turns.

``sft_problems`` and ``dpo_problems`` return a list of problems (empty: the
line is fine), each ``"code: explanation"`` so tests can show what failed.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

ROLES = frozenset({"system", "user", "assistant", "tool"})
MESSAGE_KEYS = frozenset({"role", "content", "name", "weight", "tool_calls", "tool_call_id"})
SFT_KEYS = frozenset({"messages", "tools", "parallel_tool_calls"})
DPO_KEYS = frozenset({"input", "preferred_output", "non_preferred_output"})
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
IMAGE_DATA_URL = re.compile(r"^data:image/(png|jpeg|jpg|webp|gif);base64,[A-Za-z0-9+/=]+$")


def sft_problems(line: Any, *, local_images: bool = False) -> list[str]:
    """Problems with one supervised fine-tuning line (chat format).

    ``local_images`` accepts relative image paths (``export --images DIR``),
    which a loader resolves before upload; otherwise an image must be an
    ``http(s)`` URL or a base64 data URL.
    """
    if not isinstance(line, dict):
        return ["data_type: a line must be a JSON object"]
    problems = [f"unrecognized_key: {key!r}" for key in line if key not in SFT_KEYS]
    names, tool_problems = _tools(line.get("tools"))
    problems += tool_problems
    if "parallel_tool_calls" in line and not isinstance(line["parallel_tool_calls"], bool):
        problems.append("parallel_tool_calls: must be true or false")
    messages = line.get("messages")
    if not isinstance(messages, list) or not messages:
        return [*problems, "missing_messages_list: 'messages' must be a non-empty list"]
    problems += _conversation(messages, names, local_images, needs_answer=False)
    last = messages[-1] if isinstance(messages[-1], dict) else {}
    if last.get("role") != "assistant":
        problems.append("last_message_not_assistant: the example must end with the answer")
    return problems


def dpo_problems(line: Any, *, local_images: bool = False) -> list[str]:
    """Problems with one preference (DPO) line: ``input``, and the two outputs."""
    if not isinstance(line, dict):
        return ["data_type: a line must be a JSON object"]
    problems = [f"unrecognized_key: {key!r}" for key in line if key not in DPO_KEYS]
    given = line.get("input")
    if not isinstance(given, dict):
        return [*problems, "missing_input: 'input' must be an object with 'messages'"]
    problems += [f"unrecognized_key: input.{key}" for key in given if key not in SFT_KEYS]
    names, tool_problems = _tools(given.get("tools"))
    problems += tool_problems
    messages = given.get("messages")
    if not isinstance(messages, list) or not messages:
        return [*problems, "missing_messages_list: input.messages must be a non-empty list"]
    problems += _conversation(messages, names, local_images, needs_answer=False)
    last = messages[-1] if isinstance(messages[-1], dict) else {}
    if last.get("role") not in ("user", "tool"):
        problems.append("input_last_role: input.messages must end with a user or tool message")
    for key in ("preferred_output", "non_preferred_output"):
        output = line.get(key)
        if not isinstance(output, list) or len(output) != 1:
            problems.append(f"{key}: must be a list of exactly one assistant message")
            continue
        message = output[0]
        if not isinstance(message, dict) or message.get("role") != "assistant":
            problems.append(f"{key}: the message must have role 'assistant'")
            continue
        problems += _assistant(message, names, set(), key)
    return problems


def _tools(tools: Any) -> tuple[set[str] | None, list[str]]:
    """The declared function names (``None``: no tools given), and problems."""
    if tools is None:
        return None, []
    if not isinstance(tools, list):
        return set(), ["tools: must be a list"]
    names: set[str] = set()
    problems = []
    for index, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function" or not function:
            problems.append(f"tools[{index}]: must be {{'type': 'function', 'function': {{...}}}}")
            continue
        name = function.get("name")
        if not isinstance(name, str) or not TOOL_NAME.match(name):
            problems.append(f"tools[{index}]: function name {name!r} is not [a-zA-Z0-9_-]{{1,64}}")
            continue
        if name in names:
            problems.append(f"tools[{index}]: function {name!r} is declared twice")
        parameters = function.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            problems.append(f"tools[{index}]: parameters must be a JSON Schema object")
        names.add(name)
    return names, problems


def _conversation(
    messages: list[Any], names: set[str] | None, local_images: bool, needs_answer: bool = True
) -> list[str]:
    problems: list[str] = []
    open_calls: set[str] = set()  # calls of the last assistant turn, not yet answered
    seen_assistant = False
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            problems.append(f"data_type: {where} must be an object")
            continue
        role = message.get("role")
        extra = [key for key in message if key not in MESSAGE_KEYS]
        if extra:
            problems.append(f"message_unrecognized_key: {where} has {extra}")
        if role not in ROLES:
            problems.append(f"unrecognized_role: {where} has role {role!r}")
            continue
        if "weight" in message and (role != "assistant" or message["weight"] not in (0, 1)):
            problems.append(f"invalid_weight: {where}: weight is 0 or 1, on assistant turns only")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in open_calls:
                problems.append(
                    f"tool_without_call: {where} answers {call_id!r}, "
                    "which the assistant turn before it did not call"
                )
            open_calls.discard(call_id)
            if not _text_of(message.get("content")):
                problems.append(f"missing_content: {where} (tool) has no content")
            continue
        if open_calls:
            problems.append(
                f"unanswered_tool_call: {where}: calls {sorted(open_calls)} have no tool message"
            )
            open_calls = set()
        if role == "assistant":
            seen_assistant = True
            ids: set[str] = set()
            problems += _assistant(message, names, ids, where)
            open_calls = ids
        else:
            problems += _content(message.get("content"), role, where, local_images)
    if needs_answer and not seen_assistant:
        problems.append("example_missing_assistant_message: no assistant turn to learn from")
    # Calls of the final assistant turn have no outputs: that turn is the answer.
    return problems


def _assistant(
    message: dict[str, Any], names: set[str] | None, ids: set[str], at: str
) -> list[str]:
    problems = []
    content = message.get("content")
    calls = message.get("tool_calls")
    if content is not None and not isinstance(content, str | list):
        problems.append(f"missing_content: {at}: assistant content must be a string")
    if isinstance(content, list) and any(
        not isinstance(part, dict) or part.get("type") != "text" for part in content
    ):
        problems.append(f"assistant_content_parts: {at}: assistant content must be text")
    if not _text_of(content) and not calls:
        problems.append(f"empty_assistant: {at}: an assistant turn needs content or tool_calls")
    if calls is None:
        return problems
    if not isinstance(calls, list) or not calls:
        return [*problems, f"invalid_tool_calls: {at}: tool_calls must be a non-empty list"]
    for index, call in enumerate(calls):
        where = f"{at}.tool_calls[{index}]"
        if not isinstance(call, dict) or call.get("type") != "function":
            problems.append(f"invalid_tool_calls: {where} must have type 'function'")
            continue
        call_id = call.get("id")
        if not isinstance(call_id, str) or not call_id:
            problems.append(f"invalid_tool_calls: {where} has no id")
        elif call_id in ids:
            problems.append(f"invalid_tool_calls: {where}: id {call_id!r} is used twice")
        else:
            ids.add(call_id)
        function = call.get("function") or {}
        name = function.get("name")
        if not isinstance(name, str) or not TOOL_NAME.match(name):
            problems.append(f"invalid_tool_calls: {where}: function name {name!r} is not valid")
        elif names is not None and name not in names:
            problems.append(f"undeclared_function: {where} calls {name!r}, not in tools")
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            problems.append(f"arguments_not_string: {where}: arguments must be a JSON string")
            continue
        try:
            parsed = orjson.loads(arguments)
        except orjson.JSONDecodeError:
            problems.append(f"invalid_arguments: {where}: arguments are not valid JSON")
            continue
        if not isinstance(parsed, dict):
            problems.append(f"invalid_arguments: {where}: arguments must be a JSON object")
    return problems


def _content(content: Any, role: str, where: str, local_images: bool) -> list[str]:
    if isinstance(content, str):
        return [] if content else [f"missing_content: {where} ({role}) is empty"]
    if not isinstance(content, list) or not content:
        return [f"missing_content: {where} ({role}) has no content"]
    problems = []
    for index, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if not isinstance(part.get("text"), str) or not part["text"]:
                problems.append(f"missing_content: {where}.content[{index}] has no text")
        elif kind == "image_url":
            if role != "user":
                problems.append(f"image_not_in_user_message: {where} is a {role} message")
            url = (part.get("image_url") or {}).get("url")
            if not _image_url_ok(url, local_images):
                problems.append(f"invalid_image_url: {where}.content[{index}]")
        else:
            problems.append(f"unsupported_content_part: {where}.content[{index}] is {kind!r}")
    return problems


def _image_url_ok(url: Any, local_images: bool) -> bool:
    if not isinstance(url, str) or not url:
        return False
    if url.startswith(("http://", "https://")):
        return True
    if url.startswith("data:"):
        return IMAGE_DATA_URL.match(url) is not None
    return local_images and not url.startswith("/") and ".." not in url.split("/")


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text") or "" for part in content if isinstance(part, dict))
    return ""
