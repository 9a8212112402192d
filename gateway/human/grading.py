"""Grading a model's answer: a reviewer's verdict, rubric scores and correction.

A grade task (kind ``grade``) holds a conversation and the model's answer as its
draft. ``Grading.grade`` checks a grade against the model's rubric (the
correction like an answer, against the task's tools and output format) and
records it through the store, which takes one grade per reviewer and finishes
the task with the last of ``task.reviews``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace

import orjson

from gateway.config.rubrics import RubricConfig
from gateway.errors import GatewayError, conflict, not_found, unprocessable
from gateway.human.grades import Grade, read_grade
from gateway.human.patterns import bounded_patterns
from gateway.human.store import AuditEntry, Store
from gateway.human.task import GRADE, Task
from gateway.human.validate import checked_replies, parse_answer
from gateway.metrics import Metrics


class Grading:
    """Takes reviewers' grades of grade tasks."""

    def __init__(self, store: Store, metrics: Metrics, rubrics: Mapping[str, RubricConfig]) -> None:
        self.store = store
        self.metrics = metrics
        self.rubrics = dict(rubrics)

    async def grade(self, task: Task, reviewer: str, body: bytes) -> Task:
        """Check a grade against the task's rubric (a correction like an answer) and record it."""
        if task.kind != GRADE:
            raise conflict(
                f"Task {task.id} is not a grade task: answer it instead.", code="not_a_grade_task"
            )
        if not task.is_open:
            raise conflict(f"Task {task.id} is no longer open.", code="task_not_open")
        checked = read_grade(body, self.rubrics.get(task.rubric or ""), task.rubric)
        if checked.correction is not None:
            request = orjson.loads(await self.store.request(task.id) or b"{}")
            parallel = request.get("parallel_tool_calls", True) is not False
            try:
                answer = parse_answer(orjson.dumps(checked.correction))
                with bounded_patterns():
                    checked_replies(answer, task, parallel)
            except GatewayError as error:  # named from the grade's body: correction.<field>
                param = f"correction.{error.param}" if error.param else "correction"
                raise unprocessable(
                    f"correction.{error.message}"
                    if error.param
                    else f"correction: {error.message}",
                    param=param,
                    code=error.code or "invalid_answer",
                ) from None
            checked = replace(checked, correction=answer.record())
        grade = Grade(
            task.id,
            reviewer,
            checked.verdict,
            checked.scores,
            checked.comment,
            checked.correction,
            time.time(),
        )
        # The audit says who graded, never the verdict: the history is shown to every
        # reviewer, and grades are blind until the task is done.
        entry = AuditEntry(task.id, grade.at, "graded", reviewer, None)
        graded = await self.store.grade(grade, entry)
        if graded.task is None:
            raise not_found(f"No task with id '{task.id}'.", code="task_not_found")
        if not graded.added:
            if not graded.task.is_open:
                raise conflict(f"Task {task.id} is no longer open.", code="task_not_open")
            raise conflict(f"You have graded task {task.id} already.", code="already_graded")
        self.metrics.graded(task.model, checked.verdict)
        return graded.task
