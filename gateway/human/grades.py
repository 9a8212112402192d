"""A reviewer's grade of a model's answer, and checking one against the model's rubric.

``POST /api/tasks/{id}/grade`` takes ``{"verdict": "good"|"bad", "scores": {item: value},
"comment": str?, "correction": answer?}``. :func:`read_grade` checks everything but
the correction (the answer validator checks that against the task) and raises a 422
whose ``param`` names the offending key, ``scores.<item>`` for a rubric item.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from gateway.config.rubrics import RubricConfig, RubricItem
from gateway.errors import GatewayError, bad_request, unprocessable

VERDICTS = ("good", "bad")
MAX_TEXT = 4000  # characters in a comment or a text score: a paragraph, not a document
_KEYS = frozenset({"verdict", "scores", "comment", "correction"})


@dataclass(frozen=True, slots=True)
class Grade:
    """One reviewer's grade of one task, as stored."""

    task_id: str
    reviewer: str
    verdict: str
    scores: dict[str, Any]
    comment: str | None
    correction: dict[str, Any] | None  # the answer body, as /answer takes it
    at: float

    def view(self) -> dict[str, Any]:
        return {
            "reviewer": self.reviewer,
            "verdict": self.verdict,
            "scores": self.scores,
            "comment": self.comment,
            "correction": self.correction,
            "at": self.at,
        }


@dataclass(frozen=True, slots=True)
class GradeInput:
    """A grade as a reviewer sent it, checked against the rubric."""

    verdict: str
    scores: dict[str, Any]
    comment: str | None
    correction: dict[str, Any] | None


def invalid(param: str, message: str) -> GatewayError:
    return unprocessable(f"{param}: {message}", param=param, code="invalid_grade")


def read_grade(body: bytes, rubric: RubricConfig | None, rubric_name: str | None) -> GradeInput:
    """Parse and check a grade body; a 400 for bad JSON, a 422 naming the key otherwise."""
    try:
        data = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError:
        raise bad_request("The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise invalid("body", "a grade is a JSON object")
    for key in data:
        if key not in _KEYS:
            raise invalid(str(key)[:64], "unknown key (verdict, scores, comment, correction)")
    verdict = data.get("verdict")
    if verdict not in VERDICTS:
        raise invalid("verdict", "must be 'good' or 'bad'")
    comment = data.get("comment")
    if comment is not None and (not isinstance(comment, str) or len(comment) > MAX_TEXT):
        raise invalid("comment", f"must be text of at most {MAX_TEXT} characters")
    correction = data.get("correction")
    if correction is not None and not isinstance(correction, dict):
        raise invalid("correction", "must be an answer object, as /answer takes")
    scores = check_scores(data.get("scores") or {}, rubric, rubric_name)
    return GradeInput(verdict, scores, comment or None, correction)


def check_scores(
    scores: Any, rubric: RubricConfig | None, rubric_name: str | None
) -> dict[str, Any]:
    """The scores, checked item by item against the rubric (none allowed without one)."""
    if not isinstance(scores, dict):
        raise invalid("scores", "must be an object of rubric item to value")
    items = {item.name: item for item in rubric.items} if rubric else {}
    for name in scores:
        if name not in items:
            where = f"rubric '{rubric_name}'" if rubric else "this model, which has no rubric"
            raise invalid(f"scores.{str(name)[:64]}", f"not an item of {where}")
    checked: dict[str, Any] = {}
    for name, item in items.items():
        value = scores.get(name)
        if value is None or value == "":
            if item.needed:
                raise invalid(f"scores.{name}", f"missing: {describe(item)}")
            continue
        checked[name] = check_value(item, value)
    return checked


def check_value(item: RubricItem, value: Any) -> Any:
    param = f"scores.{item.name}"
    if item.type == "bool":
        if not isinstance(value, bool):
            raise invalid(param, "must be true or false")
    elif item.type == "scale":
        assert item.min is not None and item.max is not None  # the config checked it
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid(param, f"must be a whole number from {item.min} to {item.max}")
        if not item.min <= value <= item.max:
            raise invalid(param, f"{value} is outside {item.min} to {item.max}")
    elif item.type == "choice":
        if value not in item.options:
            raise invalid(param, f"must be one of {', '.join(item.options)}")
    elif not isinstance(value, str) or len(value) > MAX_TEXT:
        raise invalid(param, f"must be text of at most {MAX_TEXT} characters")
    return value


def describe(item: RubricItem) -> str:
    """What an item takes, in words (error messages, the dashboard's hints)."""
    if item.type == "bool":
        return "true or false"
    if item.type == "scale":
        return f"a whole number from {item.min} to {item.max}"
    if item.type == "choice":
        return "one of " + ", ".join(item.options)
    return "text"
