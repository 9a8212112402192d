"""Calibration of a hybrid model's confidence against reviewers' verdicts.

From the reviewed drafts (each a confidence and whether the reviewer approved
it unchanged) this computes:

- a reliability curve: the share approved in each confidence bin;
- for every candidate ``min_confidence`` t (0, each recorded confidence, 1):
  the escalation rate (drafts with confidence < t, which a person would have
  seen) and the error rate (drafts with confidence >= t that reviewers did not
  approve, which would have reached the client unreviewed), both as shares of
  all reviewed drafts;
- the threshold meeting a target: the highest t whose escalation rate is at
  most the target escalation, or the lowest t whose error rate is at most the
  target error.

A draft counts as correct only when approved; edited, replaced and rejected
drafts count as errors. The rates are over the drafts people reviewed: drafts
that passed unreviewed are not in the store, so a model with
``audit_sample_rate`` set gives the most faithful picture (``--reason audit``
restricts the report to audited drafts).

Shadow review (``shadow_sample``) gives the unbiased sample: answers that reached
the client, graded afterwards. Their calibration (an answer counts as correct when
most of its grades say ``good``) is reported beside the escalated sample as
``shadow``, and advises a threshold: the one meeting the target, or without a
target the lowest whose unreviewed error rate is at most ``ADVISED_ERROR``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

ADVISED_ERROR = 0.05  # without a target: at most 1 in 20 answers wrong and unreviewed


@dataclass(frozen=True, slots=True)
class Bin:
    low: float
    high: float
    count: int
    approved: int

    @property
    def rate(self) -> float | None:
        return self.approved / self.count if self.count else None


@dataclass(frozen=True, slots=True)
class Threshold:
    threshold: float
    escalation_rate: float
    error_rate: float


@dataclass(slots=True)
class Calibration:
    model: str
    samples: int
    approved: int
    bins: list[Bin]
    curve: list[Threshold]
    target: dict[str, float] = field(default_factory=dict)
    chosen: Threshold | None = None
    current: float | None = None  # the configured min_confidence, if any
    shadow: Calibration | None = None  # from shadow grades: answers that reached clients

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["bins"] = [{**asdict(b), "rate": b.rate} for b in self.bins]
        data["shadow"] = self.shadow.as_dict() if self.shadow is not None else None
        return data


def calibrate(
    model: str,
    points: Iterable[tuple[float, bool]],
    *,
    bins: int = 10,
    target_escalation: float | None = None,
    target_error: float | None = None,
    current: float | None = None,
) -> Calibration:
    """The calibration of one model from (confidence, approved) pairs."""
    data = sorted((min(max(float(c), 0.0), 1.0), bool(ok)) for c, ok in points)
    n = len(data)
    counts = [0] * bins
    approved = [0] * bins
    for confidence, ok in data:
        index = min(int(confidence * bins), bins - 1)
        counts[index] += 1
        approved[index] += ok
    shaped = [Bin(i / bins, (i + 1) / bins, counts[i], approved[i]) for i in range(bins)]
    curve = _curve(data)
    result = Calibration(model, n, sum(approved), shaped, curve, current=current)
    if target_escalation is not None:
        result.target = {"escalation_rate": target_escalation}
        fitting = [t for t in curve if t.escalation_rate <= target_escalation + 1e-12]
        result.chosen = fitting[-1] if fitting else None
    elif target_error is not None:
        result.target = {"error_rate": target_error}
        fitting = [t for t in curve if t.error_rate <= target_error + 1e-12]
        result.chosen = fitting[0] if fitting else None
    return result


def _curve(data: list[tuple[float, bool]]) -> list[Threshold]:
    """Rates at t = 0, each distinct confidence, and 1, in one pass over sorted data."""
    n = len(data)
    if n == 0:
        return []
    wrong_total = sum(1 for _, ok in data if not ok)
    candidates = sorted({0.0, 1.0, *(c for c, _ in data)})
    curve = []
    below = wrong_below = 0  # drafts with confidence < t, and the wrong ones among them
    index = 0
    for t in candidates:
        while index < n and data[index][0] < t:
            below += 1
            wrong_below += not data[index][1]
            index += 1
        curve.append(Threshold(t, below / n, (wrong_total - wrong_below) / n))
    return curve


def rate_at(curve: list[Threshold], threshold: float) -> Threshold | None:
    """The rates a given ``min_confidence`` gives (the last candidate at or below it)."""
    found = None
    for point in curve:
        if point.threshold <= threshold + 1e-12:
            found = point
    return found and Threshold(threshold, found.escalation_rate, found.error_rate)


def table(calibration: Calibration, steps: int = 10) -> str:
    """A plain-text summary for the terminal."""
    c = calibration
    lines = [f"model {c.model}: {c.samples} reviewed drafts, {c.approved} approved unchanged"]
    if c.samples:
        lines.append("  confidence   drafts  approved")
        for b in c.bins:
            if b.count:
                lines.append(f"  {b.low:.1f}-{b.high:.1f}    {b.count:7d}  {b.rate:8.0%}")
        lines.append("  min_confidence  escalation  error")
        for i in range(steps + 1):
            point = rate_at(c.curve, i / steps)
            if point:
                rates = f"{point.escalation_rate:10.1%}  {point.error_rate:5.1%}"
                lines.append(f"  {point.threshold:14.2f}  {rates}")
    if c.shadow is not None and c.shadow.samples:
        s = c.shadow
        lines.append(f"  shadow grades: {s.samples} answers graded, {s.approved} good")
        lines.append("  confidence  graded  good")
        for b in s.bins:
            if b.count:
                lines.append(f"  {b.low:.1f}-{b.high:.1f}    {b.count:6d}  {b.rate:4.0%}")
        if s.chosen:
            ((name, value),) = s.target.items()
            lines.append(
                f"  shadow grades advise min_confidence = {s.chosen.threshold:.4f} "
                f"({name} <= {value:.1%}: escalation {s.chosen.escalation_rate:.1%}, "
                f"error {s.chosen.error_rate:.1%})"
            )
    if c.target and c.samples:
        ((name, value),) = c.target.items()
        if c.chosen:
            lines.append(
                f"  target {name} <= {value:.1%}: min_confidence = {c.chosen.threshold:.4f} "
                f"(escalation {c.chosen.escalation_rate:.1%}, error {c.chosen.error_rate:.1%})"
            )
        else:
            lines.append(f"  target {name} <= {value:.1%}: no threshold meets it")
    return "\n".join(lines)
