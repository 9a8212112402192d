"""A session's tasks as an ordered trajectory of steps.

Order: where tasks carry ``follows`` (the task whose answer this request
continues) the chain is walked from its first task; where they carry ``step``
that number orders them; otherwise creation time. Each step holds what was new
in its request (the messages after those the previous step already had, its
answer included), the person's answer, the model's draft, who answered and
when, and the outcome, so a conversation of fifty screenshots carries each
screenshot once, not fifty times over.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from gateway.export.convert import answer_message, chat_tools, draft_message
from gateway.export.datasets import conversation, verdict
from gateway.human.task import Task


def order_steps(tasks: Sequence[Task]) -> list[Task]:
    """Tasks in trajectory order: ``follows`` links, else ``step``, else creation time."""
    by_time = sorted(tasks, key=lambda t: (t.created_at, t.id))
    ids = {task.id for task in by_time}
    follows = {task.id: getattr(task, "follows", None) for task in by_time}
    if any(parent in ids for parent in follows.values()):
        children: dict[str | None, list[Task]] = {}
        for task in by_time:
            parent = follows[task.id] if follows[task.id] in ids else None
            children.setdefault(parent, []).append(task)
        ordered: list[Task] = []
        stack = list(reversed(children.get(None, [])))
        while stack:
            task = stack.pop()
            ordered.append(task)
            stack.extend(reversed(children.get(task.id, [])))
        seen = {task.id for task in ordered}  # a cycle's members, by time, at the end
        return ordered + [task for task in by_time if task.id not in seen]

    def key(task: Task) -> tuple[float, float, str]:
        step = getattr(task, "step", None)
        return (step if isinstance(step, int | float) else math.inf, task.created_at, task.id)

    return sorted(by_time, key=key) if any(getattr(t, "step", None) for t in by_time) else by_time


class StepBuilder:
    """Builds the steps of one session in order, keeping only the previous step's messages."""

    def __init__(self) -> None:
        self.previous: list[dict[str, Any]] = []
        self.index = 0

    def step(self, task: Task, request: Any) -> dict[str, Any]:
        step: dict[str, Any] = {
            "step": self.index,
            "task_id": task.id,
            "api": task.api,
            "model": task.model,
            "reason": task.reason,
            "status": task.status,
            "verdict": verdict(task),
            "created_at": task.created_at,
            "claimed_at": task.claimed_at,
            "answered_at": task.answered_at,
            "finished_at": task.finished_at,
            "seconds": None if task.answered_at is None else task.answered_at - task.created_at,
            "claimed_by": task.claimed_by,
            "reviewer": task.answered_by,
            "confidence": task.confidence,
            "reject_reason": task.reject_reason,
            "input": None,
            "tools": None,
            "answer": None,
            "draft": None,
            "error": None,
        }
        self.index += 1
        try:
            messages = conversation(task, request)["messages"]
            step["tools"] = chat_tools(task.api, request.get("tools")) or None
            if isinstance(task.result, dict):
                step["answer"] = answer_message(task.api, task.result)
            if task.draft is not None:
                step["draft"] = draft_message(task.draft, "draft_call")
        except Exception as exc:  # a step that cannot be shown says why
            step["error"] = f"unconvertible: {type(exc).__name__}: {exc}"
            self.previous = []
            return step
        shared = 0
        for mine, theirs in zip(messages, self.previous, strict=False):
            if mine != theirs:
                break
            shared += 1
        step["input"] = messages[shared:]
        self.previous = [*messages, step["answer"]] if step["answer"] else messages
        return step


def session_head(session: str, tasks: Sequence[Task]) -> dict[str, Any]:
    """The session-level fields of a trajectory line."""
    return {
        "session": session,
        "steps_count": len(tasks),
        "models": sorted({task.model for task in tasks}),
        "reviewers": sorted({task.answered_by for task in tasks if task.answered_by}),
        "started_at": min((task.created_at for task in tasks), default=None),
        "finished_at": max((task.finished_at or 0 for task in tasks), default=None) or None,
        "answered": sum(task.status == "answered" for task in tasks),
    }
