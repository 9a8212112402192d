"""Cua's human-tool protocol as tasks: what ``/cua`` queues, reports and accepts.

Cua's ``HumanAdapter`` (cua-agent, ``HUMAN_BASE_URL``) queues chat messages with
no tools, then polls for the outcome once a second. Here such a request becomes
an ordinary task, stored and shown like any other, marked polled (no connection
is held, so nobody's leaving cancels it), that declares one function tool,
``computer``, standing for the screen in the messages' last image. A person's
computer actions come back as calls of that function with the arguments Cua's
own UI writes (``cua_agent/human_tool/ui.py``), so Cua's agent loop runs them
unchanged.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from gateway.human.outcome import HUMAN_ROUTE
from gateway.human.request import kind_of, normalise_tools, preview_of, prompt_tokens
from gateway.human.steps import Steps, session_name
from gateway.human.task import ANSWERED, CANCELLED, EXPIRED, OPEN, POLLED, REJECTED, Task

API = "chat.completions"  # a Cua task is a chat request to the dashboard and the export

_POINT = {"type": "integer", "minimum": 0}
_ACTIONS = ["click", "double_click", "move", "drag", "scroll", "type", "keypress", "wait"]
_ACTIONS += ["screenshot"]
COMPUTER_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": _ACTIONS, "description": "the action"},
        "x": {**_POINT, "description": "screenshot pixels from the left"},
        "y": {**_POINT, "description": "screenshot pixels from the top"},
        "button": {"type": "string", "enum": ["left", "right", "wheel", "back", "forward"]},
        "element_description": {
            "type": "string",
            "description": "the target in words, instead of x and y (Cua finds it)",
        },
        "text": {"type": "string", "description": "what to type"},
        "keys": {
            "anyOf": [
                {"type": "string", "description": "e.g. ctrl+s"},
                {"type": "array", "items": {"type": "string"}},
            ]
        },
        "scroll_x": {"type": "integer"},
        "scroll_y": {"type": "integer"},
        "path": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"x": _POINT, "y": _POINT},
                "required": ["x", "y"],
            },
        },
    },
    "required": ["type"],
    # What each action needs; a click may name its target in words instead of x, y.
    "allOf": [
        {
            "if": {"properties": {"type": {"enum": ["click", "double_click", "move"]}}},
            "then": {"anyOf": [{"required": ["x", "y"]}, {"required": ["element_description"]}]},
        },
        {
            "if": {"properties": {"type": {"const": "type"}}},
            "then": {"required": ["text"]},
        },
        {
            "if": {"properties": {"type": {"const": "keypress"}}},
            "then": {"required": ["keys"]},
        },
        {
            "if": {"properties": {"type": {"const": "scroll"}}},
            "then": {"required": ["x", "y", "scroll_x", "scroll_y"]},
        },
        {
            "if": {"properties": {"type": {"const": "drag"}}},
            "then": {"required": ["path"]},
        },
    ],
}
COMPUTER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "computer",
        "description": (
            "Act on the computer in the last screenshot: one call per action. "
            "Click by x, y, or by element_description in words."
        ),
        "parameters": COMPUTER_PARAMETERS,
    },
}


# orjson, which stores every request, writes integers from -2**63 to 2**64 - 1; a
# larger one in a body pydantic accepted would fail at the store (a 500 before).
_INT_RANGE = range(-(2**63), 2**64)


def oversized_integer(value: Any) -> str | None:
    """The path (``messages.0.x``) of the first integer orjson cannot write, if any."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, int) and not isinstance(node, bool) and node not in _INT_RANGE:
            return path or "body"
        if isinstance(node, dict):
            stack.extend((child, f"{path}.{key}".lstrip(".")) for key, child in node.items())
        elif isinstance(node, list):
            stack.extend((child, f"{path}.{index}".lstrip(".")) for index, child in enumerate(node))
    return None


class QueueBody(BaseModel):
    """``POST /queue``: what Cua's adapter sends."""

    model_config = ConfigDict(extra="ignore")

    messages: list[dict[str, Any]]
    model: str = Field(min_length=1, max_length=200)


class CompleteBody(BaseModel):
    """``POST /complete/{id}``: Cua's reviewer side answering."""

    model_config = ConfigDict(extra="ignore")

    response: str | None = None
    tool_calls: list[dict[str, Any]] | None = None

    def answer(self) -> bytes:
        """The same answer as the reviewer API takes it."""
        calls = []
        for call in self.tool_calls or []:
            function = call.get("function") if isinstance(call, dict) else None
            function = function if isinstance(function, dict) else {}
            calls.append({"name": function.get("name"), "arguments": function.get("arguments")})
        return orjson.dumps({"content": self.response, "tool_calls": calls})


def new_task(body: QueueBody, client: bytes, timeout_s: float, steps: Steps) -> tuple[Task, bytes]:
    """A polled task for a queued Cua call, and the request it stores.

    Cua's loop resends the whole history each step, so ``steps`` links the call
    to the task it continues, as for any chat client.
    """
    data = {"model": body.model, "messages": body.messages, "tools": [COMPUTER_TOOL]}
    owner = client.hex()
    earlier = steps.follow(owner, API, data)
    tools = normalise_tools(API, data)
    now = time.time()
    task_id = "task_" + secrets.token_hex(8)
    task = Task(
        id=task_id,
        status=OPEN[0],
        api=API,
        model=body.model,
        reason=HUMAN_ROUTE.reason,
        session=earlier.session if earlier else session_name(API, data),
        created_at=now,
        expires_at=now + timeout_s,
        dedup=POLLED + task_id,
        owner=owner,
        preview=preview_of(API, data),
        prompt_tokens=prompt_tokens(API, data),
        tools=tools,
        kind=kind_of(API, data, tools),
        step=earlier.step + 1 if earlier else 1,
        follows=earlier.task_id if earlier else None,
    )
    return task, orjson.dumps(data)


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat()


def status_of(task: Task) -> str:
    if task.is_open:
        return "pending"
    return "completed" if task.status == ANSWERED else "failed"


FAILURES = {
    REJECTED: "Rejected by the reviewer.",
    EXPIRED: "No one answered in time.",
    CANCELLED: "The task was cancelled.",
}


def status_body(task: Task, messages: list[Any]) -> dict[str, Any]:
    """``GET /status/{id}``: the call as Cua's own server reports it."""
    body: dict[str, Any] = {
        "id": task.id,
        "status": status_of(task),
        "created_at": iso(task.created_at),
        "model": task.model,
        "messages": messages,
    }
    if task.is_open:
        return body
    body["completed_at"] = iso(task.finished_at or task.answered_at or time.time())
    if task.status != ANSWERED:
        body["error"] = task.reject_reason or FAILURES.get(task.status, task.status)
        return body
    message = (task.result or {}).get("choices", [{}])[0].get("message", {})
    if message.get("content"):
        body["response"] = message["content"]
    calls = [cua_tool_call(call) for call in message.get("tool_calls") or []]
    if calls:
        body["tool_calls"] = calls
    return body


def pending_entry(task: Task, messages: list[Any]) -> dict[str, Any]:
    """One entry of ``GET /pending``."""
    return {
        "id": task.id,
        "model": task.model,
        "created_at": iso(task.created_at),
        "messages": messages,
    }


def cua_tool_call(call: dict[str, Any]) -> dict[str, Any]:
    """A chat tool call as Cua's UI writes it: keypress ``keys`` as one string."""
    function = call["function"]
    arguments = function["arguments"]
    if function["name"] == "computer":
        action = orjson.loads(arguments)
        if action.get("type") == "keypress" and isinstance(action.get("keys"), list):
            action["keys"] = "+".join(action["keys"])
        arguments = orjson.dumps(action).decode()
    return {
        "id": call["id"],
        "type": "function",
        "function": {"name": function["name"], "arguments": arguments},
    }
