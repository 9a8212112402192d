"""A reviewer's answer: its shape, and its check against what the agent asked for.

An answer is one choice (content, refusal, tool calls, computer actions) or, for a
request with ``n > 1``, ``{"choices": [...]}`` with exactly ``n`` of them. Each
is checked against the declared tools, ``tool_choice`` and the output format.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gateway.errors import GatewayError, unprocessable
from gateway.human.answers import Reply
from gateway.human.output_formats import check_schema, checked_content, strict_schema
from gateway.human.request import COMPUTER_TOOL_TYPES
from gateway.human.schemas import json_too_deep, too_deep
from gateway.human.task import Task


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Click(_Action):
    type: Literal["click"]
    button: Literal["left", "right", "wheel", "back", "forward"] = "left"
    x: int
    y: int

    @field_validator("button", mode="before")
    @classmethod
    def _middle_is_wheel(cls, value: Any) -> Any:
        return "wheel" if value == "middle" else value


class DoubleClick(_Action):
    type: Literal["double_click"]
    x: int
    y: int


class Point(_Action):
    x: int
    y: int


class Drag(_Action):
    type: Literal["drag"]
    path: list[Point] = Field(min_length=2)


class Keypress(_Action):
    type: Literal["keypress"]
    keys: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)


class Move(_Action):
    type: Literal["move"]
    x: int
    y: int


class Screenshot(_Action):
    type: Literal["screenshot"]


class Scroll(_Action):
    type: Literal["scroll"]
    x: int
    y: int
    scroll_x: int
    scroll_y: int


class Type(_Action):
    type: Literal["type"]
    text: str


class Wait(_Action):
    type: Literal["wait"]


ComputerAction = Annotated[
    Click | DoubleClick | Drag | Keypress | Move | Screenshot | Scroll | Type | Wait,
    Field(discriminator="type"),
]


class ToolCallAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    arguments: dict[str, Any] | str = Field(default_factory=dict)


class Choice(BaseModel):
    """One answer, as one of a model's choices: text (or JSON), a refusal, or actions."""

    model_config = ConfigDict(extra="forbid")

    # A JSON value is taken where the request asked for JSON (it is sent serialised).
    content: str | dict[str, Any] | list[Any] | None = None
    refusal: str | None = None
    tool_calls: list[ToolCallAnswer] = []
    computer_actions: list[ComputerAction] = []

    @property
    def is_empty(self) -> bool:
        return not (self.content or self.refusal or self.is_acting)

    @property
    def is_acting(self) -> bool:
        return bool(self.tool_calls or self.computer_actions)

    def record(self) -> dict[str, Any]:
        """The answer as stored: as sent, each computer action whole (defaults included)."""
        recorded = self.model_dump(exclude_defaults=True, exclude={"computer_actions", "choices"})
        if self.computer_actions:
            recorded["computer_actions"] = [action.model_dump() for action in self.computer_actions]
        return recorded


class Answer(Choice):
    """What a reviewer sends to ``POST /api/tasks/{id}/answer``."""

    choices: list[Choice] | None = None
    accept_draft: bool = False

    def record(self) -> dict[str, Any]:
        recorded = super().record()
        if self.choices is not None:
            recorded["choices"] = [choice.record() for choice in self.choices]
        return recorded


def parse_answer(body: bytes) -> Answer:
    """Parse an answer body, with a 400 for bad JSON and a field-level 422 for bad shapes."""
    try:
        data = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError:
        raise GatewayError(400, "The answer is not valid JSON.") from None
    if json_too_deep(data):
        raise too_deep("The answer")
    try:
        return Answer.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise unprocessable(
            f"{where}: {error['msg']}", param=where, code="invalid_answer"
        ) from None


def checked_replies(answer: Answer, task: Task, parallel_tool_calls: bool = True) -> list[Reply]:
    """The task's ``n`` replies, each checked; a 422 naming the field at fault."""
    refusing = answer.refusal is not None and answer.content is None and not answer.is_acting
    if answer.choices is None and task.n > 1 and refusing:
        # One refusal of the whole request (the dashboard's Refuse): every choice refuses.
        return [_checked_reply(answer, task, parallel_tool_calls, "")] * task.n
    if answer.choices is None:
        if task.n > 1:
            raise unprocessable(
                f"choices: this request asked for n={task.n} answers; "
                f'send {{"choices": [...]}} with {task.n} entries',
                param="choices",
            )
        choices: list[Choice] = [answer]
        prefix = ""
    else:
        if not answer.is_empty or answer.content is not None:
            raise unprocessable(
                "choices: send either choices or one answer, not both", param="choices"
            )
        if len(answer.choices) != task.n:
            raise unprocessable(
                f"choices: this request asked for exactly {task.n} answers, "
                f"got {len(answer.choices)}",
                param="choices",
            )
        choices, prefix = answer.choices, "choices."
    replies = []
    for index, choice in enumerate(choices):
        where = f"{prefix}{index}." if prefix else ""
        try:
            replies.append(_checked_reply(choice, task, parallel_tool_calls, where))
        except GatewayError as error:
            if where and not error.message.startswith(where):  # say which choice is at fault
                if error.param and error.message.startswith(error.param):
                    error.message, error.param = where + error.message, where + error.param
                else:
                    error.message = f"{where[:-1]}: {error.message}"
            raise
    return replies


def _checked_reply(choice: Choice, task: Task, parallel_tool_calls: bool, where: str) -> Reply:
    if choice.refusal is not None:
        if not choice.refusal.strip():
            where = f"{where}refusal"
            raise unprocessable(f"{where}: a refusal needs its text", param=where)
        if choice.content is not None or choice.tool_calls or choice.computer_actions:
            raise unprocessable(
                f"{where}refusal: a refusal stands alone (no content, tool_calls or actions)",
                param=f"{where}refusal",
            )
        return Reply(None, [], refusal=choice.refusal)
    calls = check_answer(choice, task.api, task.tools, task.tool_choice, parallel_tool_calls)
    content = checked_content(choice.content, task.output_format, f"{where}content")
    actions = [action.model_dump() for action in choice.computer_actions]
    return Reply(content, calls, actions if task.api == "responses" else [])


def check_answer(
    answer: Choice,
    api: str,
    tools: list[dict[str, Any]],
    tool_choice: Any,
    parallel_tool_calls: bool = True,
) -> list[dict[str, Any]]:
    """Check an answer against the declared tools; return the tool calls as sent.

    Each returned call is ``{"name", "arguments"}`` with ``arguments`` a dict. On a
    chat request, computer actions become calls of the client's computer function.
    Raises a 422 naming the field at fault.
    """
    if answer.is_empty:
        raise unprocessable("An answer needs content, a refusal, tool_calls or computer_actions.")
    functions = {tool["name"]: tool for tool in tools if tool["type"] == "function"}
    calls = []
    for index, call in enumerate(answer.tool_calls):
        where = f"tool_calls.{index}"
        tool = functions.get(call.name)
        if tool is None:
            declared = ", ".join(sorted(functions)) or "none"
            raise unprocessable(
                f"{where}.name: tool '{call.name}' was not declared (declared: {declared})",
                param=f"{where}.name",
            )
        arguments = _arguments(call.arguments, f"{where}.arguments")
        # A strict tool's arguments are read as strict mode reads them (the SDK's
        # .parse() turns them into the tool's pydantic model on the client's side).
        schema = strict_schema(tool["parameters"]) if tool.get("strict") else tool["parameters"]
        check_schema(arguments, schema, f"{where}.arguments")
        calls.append({"name": call.name, "arguments": arguments})
    if answer.computer_actions:
        computer = next((tool for tool in tools if tool["type"] == "computer"), None)
        _check_bounds(answer.computer_actions, computer)
        if api == "chat.completions":
            calls.extend(_computer_calls(answer.computer_actions, functions))
        elif computer is None:
            raise unprocessable(
                "computer_actions: the request declared no computer tool",
                param="computer_actions",
            )
    _check_tool_choice(answer, api, calls, tool_choice)
    # Computer actions that became calls of a chat computer function count: on a chat
    # request (Anthropic's door included) each one is a tool call the client must run.
    if not parallel_tool_calls and len(calls) > 1:
        raise unprocessable(
            "tool_calls: the request set parallel_tool_calls to false; send one call",
            param="tool_calls",
        )
    return calls


def _arguments(value: dict[str, Any] | str, where: str) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    try:
        parsed = orjson.loads(value or "{}")
    except orjson.JSONDecodeError:
        raise unprocessable(f"{where}: not valid JSON", param=where) from None
    if not isinstance(parsed, dict):
        raise unprocessable(f"{where}: must be a JSON object", param=where)
    return parsed


def _check_bounds(actions: list[Any], computer: dict[str, Any] | None) -> None:
    width = (computer or {}).get("display_width")
    height = (computer or {}).get("display_height")
    if not isinstance(width, int) or not isinstance(height, int):
        return
    for index, action in enumerate(actions):
        points = action.path if isinstance(action, Drag) else [action]
        for point in points:
            x, y = getattr(point, "x", 0), getattr(point, "y", 0)
            if not (0 <= x < width and 0 <= y < height):
                where = f"computer_actions.{index}"
                raise unprocessable(
                    f"{where}: ({x}, {y}) is outside the {width}x{height} display", param=where
                )


def computer_function(functions: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The chat function tool that stands for the computer: ``computer``, else one naming it."""
    if "computer" in functions:
        return functions["computer"]
    return next((tool for name, tool in functions.items() if "computer" in name.lower()), None)


def action_arguments(action: dict[str, Any], tool: dict[str, Any]) -> dict[str, Any]:
    """Shape one action as arguments for the client's computer function.

    A schema with an object ``action`` property gets ``{"action": {...}}``; one
    with a string ``action`` gets ``{"action": "click", "x": ...}``; otherwise the
    action's own fields, ``type`` included.
    """
    properties = (tool.get("parameters") or {}).get("properties") or {}
    declared = properties.get("action")
    if isinstance(declared, dict) and declared.get("type") == "object":
        return {"action": action}
    if isinstance(declared, dict) and declared.get("type") == "string":
        rest = {key: value for key, value in action.items() if key != "type"}
        return {"action": action["type"], **rest}
    return dict(action)


def _computer_calls(actions: list[Any], functions: dict[str, dict[str, Any]]) -> list[dict]:
    tool = computer_function(functions)
    if tool is None:
        raise unprocessable(
            "computer_actions: the request declared no computer function tool",
            param="computer_actions",
        )
    calls = []
    for index, action in enumerate(actions):
        arguments = action_arguments(action.model_dump(), tool)
        check_schema(arguments, tool["parameters"], f"computer_actions.{index}")
        calls.append({"name": tool["name"], "arguments": arguments})
    return calls


def _check_tool_choice(answer: Choice, api: str, calls: list[dict], tool_choice: Any) -> None:
    acting = bool(calls or answer.computer_actions)
    if tool_choice == "none" and acting:
        raise unprocessable("tool_choice is 'none': answer with content only", param="tool_choice")
    if tool_choice == "required" and not acting:
        raise unprocessable(
            "tool_choice is 'required': answer with a tool call or an action",
            param="tool_choice",
        )
    if not isinstance(tool_choice, dict):
        return
    kind = tool_choice.get("type")
    if kind == "function":
        name = (tool_choice.get("function") or {}).get("name") or tool_choice.get("name")
        if not calls or any(call["name"] != name for call in calls):
            raise unprocessable(
                f"tool_choice names '{name}': answer with calls of that tool only",
                param="tool_choice",
            )
    elif kind in COMPUTER_TOOL_TYPES and not answer.computer_actions:
        raise unprocessable(
            "tool_choice names the computer: answer with computer actions",
            param="tool_choice",
        )
