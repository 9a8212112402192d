"""Export lines for grade tasks (shadow review): the model's answer and its grades.

- ``eval``: the conversation, the model's answer, its confidence, every grade
  (reviewer, verdict, rubric scores, comment, correction) and the verdict of
  the majority (a tie counts as ``bad``: a disputed answer is not a good one).
- ``dpo``: a ``bad`` grade with a correction: the correction preferred, the
  model's answer not (the first such grade when several reviewers corrected).
- ``records``: the stored task with its grades.
- ``sft``: none (a grade is not an answer the client received).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.export.convert import draft_message
from gateway.export.datasets import conversation, eval_head, record_line
from gateway.human.grades import Grade
from gateway.human.task import ANSWERED, Task


def majority(grades: Sequence[Grade]) -> str | None:
    """``good`` when more grades say good than bad, else ``bad``; ``None`` without grades."""
    if not grades:
        return None
    good = sum(1 for grade in grades if grade.verdict == "good")
    return "good" if good > len(grades) - good else "bad"


def grade_views(grades: Sequence[Grade]) -> list[dict[str, Any]]:
    views = []
    for grade in grades:
        view = grade.view()
        if grade.correction is not None:
            view["correction"] = draft_message(grade.correction, "correction_call")
        views.append(view)
    return views


def eval_line(task: Task, request: Any, grades: Sequence[Grade]) -> dict[str, Any] | None:
    judged = majority(grades)
    if task.status != ANSWERED or judged is None:
        return None
    return {
        **eval_head(task, request, task.draft or {}),  # reviewer: the last grader
        "verdict": judged,
        "correct": judged == "good",
        "rubric": task.rubric,
        "grades": grade_views(grades),
    }


def dpo_line(task: Task, request: Any, grades: Sequence[Grade]) -> dict[str, Any] | None:
    corrected = next((g for g in grades if g.verdict == "bad" and g.correction is not None), None)
    if task.status != ANSWERED or corrected is None or corrected.correction is None:
        return None
    given = conversation(task, request)
    given.pop("parallel_tool_calls", None)
    return {
        "input": given,
        "preferred_output": [draft_message(corrected.correction, "correction_call")],
        "non_preferred_output": [draft_message(task.draft or {}, "draft_call")],
    }


def records_line(task: Task, request: Any, grades: Sequence[Grade]) -> dict[str, Any]:
    return {**record_line(task, request), "grades": [grade.view() for grade in grades]}


def sft_line(task: Task, request: Any, grades: Sequence[Grade]) -> None:
    return None


GRADED_BUILDERS = {"sft": sft_line, "dpo": dpo_line, "eval": eval_line, "records": records_line}
