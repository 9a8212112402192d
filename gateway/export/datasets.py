"""One exported line per task (or per session), for each export format.

- ``sft`` (alias ``openai-chat``): OpenAI chat fine-tuning: the conversation the
  agent sent, then the person's answer as the last assistant turn, ``tools``
  when declared; Responses-API tasks are converted (``convert.py``).
- ``dpo``: OpenAI preference fine-tuning, for drafts a person edited or replaced:
  ``input`` (messages, tools), ``preferred_output`` = the person's answer,
  ``non_preferred_output`` = the model's draft.
- ``eval``: one row per reviewed draft: the conversation, the model's answer, its
  confidence, the verdict and the person's answer. A permission task (MCP's
  ``request_permission``) is one too: the agent's proposed tool call stands for
  the draft, and ``allowed`` labels whether the call should run.
- ``records``: the task as stored, request included.
- ``trajectory``: one line per session (``trajectory.py``).

Messages give text as strings and use parts only where an image is;
``content=parts`` (``line_as_parts``) makes every message's content a list of
parts. Records keep the request as it was sent either way.

A builder returns ``None`` when a task does not belong in its format, and raises
``Unconvertible`` when its stored data cannot make the line; the stream skips
both and carries on.
"""

from __future__ import annotations

import contextlib
from typing import Any

import orjson

from gateway.export.convert import (
    Unconvertible,
    answer_message,
    as_parts,
    chat_tools,
    draft_message,
    request_messages,
)
from gateway.human.drafts import draft_verdict
from gateway.human.task import ANSWERED, REJECTED, Task

FORMATS = ("sft", "openai-chat", "dpo", "eval", "records", "trajectory")
CONTENT_SHAPES = ("strings", "parts")  # text as strings (the default), or every content as parts
ALIASES = {"openai-chat": "sft"}
VERDICTS = ("approved", "edited", "replaced", "rejected")
PERMISSION = "permission"  # the kind of MCP's request_permission tasks


def verdict(task: Task) -> str | None:
    """What the reviewer did with the model's draft; ``None`` without a reviewed draft.

    ``approved``: accepted, or answered exactly as drafted. ``edited``: the same
    kind of answer (same tools called in order, same computer action types) with
    at least half of the text kept. ``replaced``: any other answer. ``rejected``:
    the reviewer refused the request.
    """
    if task.kind == PERMISSION:
        return permission_verdict(task)
    if task.draft is None:
        return None
    if task.status == REJECTED:
        return "rejected"
    if task.status != ANSWERED:
        return None
    try:
        return draft_verdict(task.draft, task.answer or {})
    except (TypeError, AttributeError, ValueError):  # a draft or answer stored in an odd shape
        return None


def permission_verdict(task: Task) -> str | None:
    """What the person did with a proposed tool call: ``approved`` (allowed as is),
    ``edited`` (allowed with an ``updatedInput``) or ``rejected`` (denied, or the
    task rejected)."""
    if task.status == REJECTED:
        return "rejected"
    if task.status != ANSWERED:
        return None
    content = (task.answer or {}).get("content")
    if isinstance(content, str):
        with contextlib.suppress(orjson.JSONDecodeError):
            content = orjson.loads(content)
    decision = content if isinstance(content, dict) else {}
    if decision.get("behavior") != "allow":
        return "rejected"
    return "edited" if "updatedInput" in decision else "approved"


def conversation(task: Task, request: dict[str, Any]) -> dict[str, Any]:
    """``messages`` (and ``tools``, ``parallel_tool_calls``) of the request, chat-shaped."""
    if not isinstance(request, dict):
        raise Unconvertible("the stored request is not an object")
    shaped: dict[str, Any] = {"messages": request_messages(task.api, request)}
    tools = chat_tools(task.api, request.get("tools"))
    if tools:
        shaped["tools"] = tools
        parallel = request.get("parallel_tool_calls", True)
        shaped["parallel_tool_calls"] = parallel if isinstance(parallel, bool) else True
    return shaped


def sft_line(task: Task, request: dict[str, Any]) -> dict[str, Any] | None:
    if task.status != ANSWERED or not isinstance(task.result, dict):
        return None
    line = conversation(task, request)
    line["messages"].append(answer_message(task.api, task.result))
    return line


def dpo_line(task: Task, request: dict[str, Any]) -> dict[str, Any] | None:
    if verdict(task) not in ("edited", "replaced") or not isinstance(task.result, dict):
        return None
    given = conversation(task, request)
    given.pop("parallel_tool_calls", None)
    return {
        "input": given,
        "preferred_output": [answer_message(task.api, task.result)],
        "non_preferred_output": [draft_message(task.draft or {}, "draft_call")],
    }


def eval_head(task: Task, request: Any, proposed: dict[str, Any]) -> dict[str, Any]:
    """An eval row's first fields: the task, the conversation, the model's answer."""
    return {
        "task_id": task.id,
        "model": task.model,
        "api": task.api,
        "session": task.session,
        "reason": task.reason,
        "created_at": task.created_at,
        "answered_at": task.answered_at,
        "reviewer": task.answered_by,
        "input": conversation(task, request),
        "model_answer": draft_message(proposed, "draft_call"),
        "confidence": task.confidence,
    }


def eval_line(task: Task, request: dict[str, Any]) -> dict[str, Any] | None:
    judged = verdict(task)
    if judged is None:
        return None
    person = None
    if task.status == ANSWERED:
        if not isinstance(task.result, dict):
            raise Unconvertible("an answered task without its answer")
        person = answer_message(task.api, task.result)
    proposed = task.draft or {}
    if task.kind == PERMISSION:
        proposed = {"tool_calls": [_proposed_call(request)]}
    return {
        **eval_head(task, request, proposed),
        "verdict": judged,
        "correct": judged == "approved",
        # Permission tasks: should the tool call run (allowed as is or edited)?
        "allowed": judged != "rejected" if task.kind == PERMISSION else None,
        "human_answer": person,
        "reject_reason": task.reject_reason,
    }


def _proposed_call(request: dict[str, Any]) -> dict[str, Any]:
    """The tool call a permission task asked about, as the call a draft would make."""
    asked = request.get("mcp") if isinstance(request, dict) else None
    if not isinstance(asked, dict) or not isinstance(asked.get("tool_name"), str):
        raise Unconvertible("a permission task without its tool call")
    return {"name": asked["tool_name"], "arguments": asked.get("input") or {}}


def record_line(task: Task, request: Any) -> dict[str, Any]:
    """The task as stored, request included, for evaluation sets and archives."""
    return {
        **task.summary(),
        "verdict": verdict(task),
        "request": request,
        "answer": task.answer,
        "draft": task.draft,
        "result": task.result,
        "reject_reason": task.reject_reason,
    }


def line_as_parts(kind: str, line: dict[str, Any]) -> dict[str, Any]:
    """The line with every message's content a list of parts, in place."""
    if kind == "sft":
        as_parts(line["messages"])
    elif kind == "dpo":
        given = line["input"]["messages"]
        as_parts([*given, *line["preferred_output"], *line["non_preferred_output"]])
    elif kind == "eval":  # graded rows (export/graded.py): no human_answer, corrections
        corrections = [grade.get("correction") for grade in line.get("grades") or []]
        answers = [line["model_answer"], line.get("human_answer"), *corrections]
        as_parts([*line["input"]["messages"], *answers])
    elif kind == "trajectory":  # one step of a trajectory line
        as_parts([*(line["input"] or []), line["answer"], line["draft"]])
    return line


BUILDERS = {"sft": sft_line, "dpo": dpo_line, "eval": eval_line, "records": record_line}
