"""The two tools the MCP door offers, and their arguments read strictly.

The input schemas are what ``tools/list`` shows a client (and its model); the
pydantic models check a call's arguments again, since a client need not honour
the schema. A bad argument is a tool error naming the field, so the calling
model can read it and try again (MCP's advice for argument errors).
"""

from __future__ import annotations

from typing import Any

import mcp_types as types
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gateway.human.images import oversized
from gateway.human.schemas import json_too_deep, schema_problem

ASK_HUMAN = "ask_human"
REQUEST_PERMISSION = "request_permission"
MAX_IMAGES = 16  # a question, not a video: more is a mistake worth naming
MAX_OPTIONS = 50  # buttons a person can still read at a glance

ASK_HUMAN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "question": {"type": "string", "minLength": 1, "description": "What to ask the person."},
        "context": {
            "type": "string",
            "description": "Background the person needs to answer, in markdown.",
        },
        "options": {
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "minItems": 1,
            "maxItems": MAX_OPTIONS,
            "description": "The answer must be one of these (the person gets a button each).",
        },
        "schema": {
            "type": "object",
            "description": "A JSON Schema (type object) the answer must fit; the result then "
            "carries it as structuredContent. Not together with options.",
        },
        "images": {
            "type": "array",
            "items": {"type": "string"},
            "maxItems": MAX_IMAGES,
            "description": "Images the person should see: https URLs or data:image/... URLs.",
        },
        "timeout_s": {
            "type": "number",
            "exclusiveMinimum": 0,
            "description": "Give up after this many seconds (at most the gateway's own limit).",
        },
    },
    "required": ["question"],
    "additionalProperties": False,
}

REQUEST_PERMISSION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "tool_name": {"type": "string", "minLength": 1, "description": "The tool to be run."},
        "input": {"type": "object", "description": "The input it would run with."},
        "tool_use_id": {"type": "string", "description": "The tool use this is for."},
    },
    "required": ["tool_name", "input"],
}

TOOLS = [
    types.Tool(
        name=ASK_HUMAN,
        title="Ask a person",
        description=(
            "Ask a person a question and wait for the answer (it may take minutes). "
            "With options the answer is one of them; with schema it is JSON fitting it."
        ),
        input_schema=ASK_HUMAN_SCHEMA,
        annotations=types.ToolAnnotations(read_only_hint=True, open_world_hint=True),
    ),
    types.Tool(
        name=REQUEST_PERMISSION,
        title="Ask a person to allow a tool call",
        description=(
            "Ask a person whether a tool call may run (Claude Code's --permission-prompt-tool). "
            'The result is one text block: {"behavior": "allow", "updatedInput": {...}} '
            'or {"behavior": "deny", "message": "..."}.'
        ),
        input_schema=REQUEST_PERMISSION_SCHEMA,
        annotations=types.ToolAnnotations(read_only_hint=True, open_world_hint=True),
    ),
]


class ArgumentError(ValueError):
    """A call's arguments cannot make a task; the message names the field."""


class AskHuman(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1)
    context: str | None = None
    options: list[str] | None = Field(None, min_length=1, max_length=MAX_OPTIONS)
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    images: list[str] = Field(default_factory=list, max_length=MAX_IMAGES)
    timeout_s: float | None = Field(None, gt=0)

    @field_validator("question")
    @classmethod
    def _not_blank(cls, question: str) -> str:
        if not question.strip():
            raise ValueError("must not be blank")
        return question

    @field_validator("options")
    @classmethod
    def _distinct(cls, options: list[str] | None) -> list[str] | None:
        if options is None:
            return None
        if any(not option.strip() for option in options):
            raise ValueError("an option must not be blank")
        if len(set(options)) != len(options):
            raise ValueError("options must differ from each other")
        return options

    @field_validator("schema_")
    @classmethod
    def _usable_schema(cls, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        if schema is None:
            return None
        if schema.get("type") != "object":
            # MCP's structuredContent is an object, so the answer must be one.
            raise ValueError('must describe an object ("type": "object")')
        problem = schema_problem(schema)  # so no task exists that no answer can fit
        if problem:
            raise ValueError(problem)
        return schema

    @field_validator("images")
    @classmethod
    def _image_urls(cls, images: list[str]) -> list[str]:
        for index, url in enumerate(images):
            if not url.startswith(("https://", "http://", "data:image/")):
                raise ValueError(f"images[{index}] is not an http(s) or data:image/ URL")
            too_large = oversized(url)  # the pixel cap every door keeps (human/images.py)
            if too_large:
                raise ValueError(f"images[{index}] is {too_large}")
        return images


class RequestPermission(BaseModel):
    model_config = ConfigDict(extra="ignore")  # what Claude Code adds later is no error

    tool_name: str = Field(min_length=1)
    input: dict[str, Any]
    tool_use_id: str | None = None


def parse_arguments(name: str, arguments: dict[str, Any] | None) -> AskHuman | RequestPermission:
    """The call's arguments, checked; ``ArgumentError`` naming the field, else."""
    model: type[AskHuman] | type[RequestPermission]
    model = AskHuman if name == ASK_HUMAN else RequestPermission
    arguments = arguments or {}
    if json_too_deep(arguments):
        raise ArgumentError("arguments: nested too deeply")
    if model is AskHuman and "options" in arguments and "schema" in arguments:
        raise ArgumentError("options, schema: give one of them, not both")
    try:
        return model.model_validate(arguments)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "arguments"
        message = str(error.get("ctx", {}).get("error") or error["msg"])
        raise ArgumentError(f"{where}: {message.removeprefix('Value error, ')}") from None
