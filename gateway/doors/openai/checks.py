"""A model request's fields, checked once at the door before any task is made.

A forwarded request is the upstream's to judge: the gateway reads only
``model`` and ``stream`` from it (``gateway.http.body``). A request that may become
a task (human and hybrid routes) is read much further: its messages, tools and
tool choice are shown to a person and its answer is checked against them. So
those fields are checked here, and a wrong type is a 400 whose ``param`` names
the field, rather than a 500 later or a task no answer can satisfy.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from gateway.errors import GatewayError, bad_request
from gateway.human.images import check_image_sizes
from gateway.human.request import COMPUTER_TOOL_TYPES
from gateway.human.schemas import json_too_deep, schema_problem, too_deep

TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # OpenAI's rule for function names

JsonObject = dict[str, Any]


class ModelRequest(BaseModel):
    """The fields a human or hybrid route reads, in the types OpenAI accepts."""

    model_config = ConfigDict(extra="ignore", strict=True)

    model: StrictStr
    messages: list[JsonObject] | None = None
    input: StrictStr | list[JsonObject] | None = None
    instructions: StrictStr | None = None
    tools: list[JsonObject] | None = None
    tool_choice: Literal["none", "auto", "required"] | JsonObject | None = None
    previous_response_id: StrictStr | None = None
    stream: StrictBool | None = None
    stream_options: JsonObject | None = None
    n: StrictInt | None = Field(None, ge=1, le=128)
    user: StrictStr | None = None
    metadata: dict[str, StrictStr] | None = None
    parallel_tool_calls: StrictBool | None = None


def check_model_request(api: str, data: dict[str, Any]) -> None:
    """Raise a 400 naming the first field a human or hybrid route cannot use."""
    if json_too_deep(data):
        raise too_deep()
    try:
        request = ModelRequest.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else None
        raise bad_request(f"Invalid '{field}': {error['msg']}.", param=field) from None
    if api == "chat.completions" and not request.messages:
        raise bad_request("'messages' must be a non-empty array of objects.", param="messages")
    if request.stream_options is not None:
        include = request.stream_options.get("include_usage")
        if include is not None and not isinstance(include, bool):
            raise bad_request(
                "Invalid 'stream_options.include_usage': must be a boolean.",
                param="stream_options",
            )
    names = [check_tool(api, index, tool) for index, tool in enumerate(request.tools or [])]
    check_tool_choice(api, request.tool_choice, names)
    check_image_sizes(data)


def check_tool(api: str, index: int, tool: JsonObject) -> str | None:
    """Check one declared tool; its function name, if it is a function."""
    where = f"tools[{index}]"
    kind = tool.get("type")
    if not isinstance(kind, str):
        raise _tool_error(where, "needs a string 'type'")
    if kind in COMPUTER_TOOL_TYPES:
        for key in ("display_width", "display_height"):
            value = tool.get(key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise _tool_error(where, f"'{key}' must be a whole number")
        return None
    if kind != "function":
        name = tool.get("name")
        if name is not None and not isinstance(name, str):
            raise _tool_error(where, "'name' must be a string")
        return None
    spec = tool.get("function") if api == "chat.completions" else tool
    if not isinstance(spec, dict):
        raise _tool_error(where, "a function tool needs a 'function' object")
    name = spec.get("name")
    if not isinstance(name, str) or not TOOL_NAME.fullmatch(name):
        raise _tool_error(where, "a function's 'name' must be 1-64 letters, digits, '_' or '-'")
    where = f"{where} ('{name}')"
    if spec.get("description") is not None and not isinstance(spec["description"], str):
        raise _tool_error(where, "'description' must be a string")
    if spec.get("strict") is not None and not isinstance(spec["strict"], bool):
        raise _tool_error(where, "'strict' must be a boolean")
    parameters = spec.get("parameters")
    if parameters is not None:
        if not isinstance(parameters, dict):
            raise _tool_error(where, "'parameters' must be a JSON Schema object")
        problem = schema_problem(parameters)
        if problem:
            raise _tool_error(where, f"'parameters' {problem}")
    return name


def check_tool_choice(api: str, choice: Any, names: list[str | None]) -> None:
    if not isinstance(choice, dict):
        return
    kind = choice.get("type")
    if not isinstance(kind, str):
        raise bad_request("Invalid 'tool_choice': needs a string 'type'.", param="tool_choice")
    if kind != "function":
        return
    spec = choice.get("function") if api == "chat.completions" else choice
    name = spec.get("name") if isinstance(spec, dict) else None
    if not isinstance(name, str):
        where = "'function.name'" if api == "chat.completions" else "'name'"
        raise bad_request(
            f"Invalid 'tool_choice': a function choice needs a string {where}.",
            param="tool_choice",
        )
    if name not in names:
        raise bad_request(
            f"Invalid 'tool_choice': no tool named '{name}' was declared.", param="tool_choice"
        )


def _tool_error(where: str, problem: str) -> GatewayError:
    return bad_request(f"Invalid tool {where}: {problem}.", param="tools", code="invalid_tool")
