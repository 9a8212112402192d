"""How far reviewers agree: Cohen's kappa, Fleiss' kappa and Krippendorff's alpha.

Pure functions over ratings; :func:`agreement` picks the statistic the data
allows. The input is a list of items, each a mapping of reviewer to the value
that reviewer gave (a verdict, a rubric score). Items with fewer than two
ratings say nothing about agreement and are left out.

- Exactly two reviewers over every item rated twice: Cohen's kappa.
- More reviewers, every item rated by the same number of them: Fleiss' kappa.
- Otherwise (uneven numbers of ratings), or for numbers on a scale:
  Krippendorff's alpha (nominal, or interval for a scale, where 4 against 5
  is a smaller disagreement than 1 against 5).

Each returns ``None`` where the statistic is undefined: when every rating is
the same value the chance agreement is 1 and the ratio is 0/0.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from itertools import permutations
from typing import Any, Literal

from gateway.config.rubrics import RubricConfig
from gateway.human.grades import Grade

Metric = Literal["nominal", "interval"]
AGREEMENT_DAYS = 30  # grades read for the agreement figures (stats, report): a month's work


@dataclass(frozen=True, slots=True)
class Agreement:
    method: str  # "cohen_kappa", "fleiss_kappa" or "krippendorff_alpha"
    value: float | None
    items: int  # items rated by at least two reviewers, the ones counted
    reviewers: int  # different reviewers among them

    def view(self) -> dict[str, object]:
        value = None if self.value is None else round(self.value, 4)
        return {
            "method": self.method,
            "value": value,
            "items": self.items,
            "reviewers": self.reviewers,
        }


def cohen_kappa(pairs: Sequence[tuple[Hashable, Hashable]]) -> float | None:
    """Cohen's kappa for two raters; ``pairs`` holds (first rater's, second rater's) value."""
    if not pairs:
        return None
    total = len(pairs)
    observed = sum(1 for a, b in pairs if a == b) / total
    first = Counter(a for a, _ in pairs)
    second = Counter(b for _, b in pairs)
    expected = sum(first[value] * second[value] for value in first) / (total * total)
    if expected >= 1:
        return None
    return (observed - expected) / (1 - expected)


def fleiss_kappa(counts: Sequence[Mapping[Hashable, int]]) -> float | None:
    """Fleiss' kappa; each item maps a category to how many raters chose it (same total each)."""
    if not counts:
        return None
    raters = sum(counts[0].values())
    if raters < 2 or any(sum(item.values()) != raters for item in counts):
        raise ValueError("Fleiss' kappa needs the same number (two or more) of ratings per item")
    items = len(counts)
    per_item = [
        (sum(n * n for n in item.values()) - raters) / (raters * (raters - 1)) for item in counts
    ]
    observed = sum(per_item) / items
    totals: Counter[Hashable] = Counter()
    for item in counts:
        totals.update(item)
    expected = sum((n / (items * raters)) ** 2 for n in totals.values())
    if expected >= 1:
        return None
    return (observed - expected) / (1 - expected)


def krippendorff_alpha(
    units: Sequence[Sequence[Hashable]], metric: Metric = "nominal"
) -> float | None:
    """Krippendorff's alpha over units of any number of values (units of one are skipped)."""
    coincidences: defaultdict[tuple[Hashable, Hashable], float] = defaultdict(float)
    for values in units:
        m = len(values)
        if m < 2:
            continue
        for a, b in permutations(values, 2):
            coincidences[(a, b)] += 1 / (m - 1)
    margins: defaultdict[Hashable, float] = defaultdict(float)
    for (a, _), weight in coincidences.items():
        margins[a] += weight
    n = sum(margins.values())
    if n <= 1:
        return None

    def distance(a: Hashable, b: Hashable) -> float:
        if metric == "interval":
            return (float(a) - float(b)) ** 2  # type: ignore[arg-type]
        return 0.0 if a == b else 1.0

    observed = sum(w * distance(a, b) for (a, b), w in coincidences.items()) / n
    expected = sum(margins[a] * margins[b] * distance(a, b) for a in margins for b in margins) / (
        n * (n - 1)
    )
    if expected == 0:
        return None
    return 1 - observed / expected


def agreement(items: Sequence[Mapping[str, Hashable]], metric: Metric = "nominal") -> Agreement:
    """The agreement over ``items`` (reviewer -> value each), by the method the data allows."""
    rated = [item for item in items if len(item) >= 2]
    reviewers = {name for item in rated for name in item}
    if metric == "nominal" and len(reviewers) == 2:
        first, second = sorted(reviewers)
        pairs = [(item[first], item[second]) for item in rated]
        return Agreement("cohen_kappa", cohen_kappa(pairs), len(pairs), 2)
    if metric == "nominal" and rated and len({len(item) for item in rated}) == 1:
        counts = [Counter(item.values()) for item in rated]
        return Agreement("fleiss_kappa", fleiss_kappa(counts), len(rated), len(reviewers))
    value = krippendorff_alpha([list(item.values()) for item in rated], metric)
    return Agreement("krippendorff_alpha", value, len(rated), len(reviewers))


def grade_agreement(
    rows: Sequence[tuple[str, str | None, Grade]], rubrics: Mapping[str, RubricConfig]
) -> dict[str, dict[str, Any]]:
    """Per model: grade and verdict counts, and agreement on the verdict and on each
    rubric item (scales as intervals, text items left out) over the tasks graded twice or more."""
    by_model: dict[str, dict[str, dict[str, Grade]]] = {}
    rubric_of: dict[str, str | None] = {}
    for model, rubric_name, grade in rows:
        by_model.setdefault(model, {}).setdefault(grade.task_id, {})[grade.reviewer] = grade
        rubric_of.setdefault(model, rubric_name)
    out: dict[str, dict[str, Any]] = {}
    for model, tasks in sorted(by_model.items()):
        grades = [grade for graded in tasks.values() for grade in graded.values()]
        verdicts = Counter(grade.verdict for grade in grades)
        items: dict[str, Any] = {}
        rubric = rubrics.get(rubric_of[model] or "")
        for item in rubric.items if rubric else []:
            if item.type == "text":
                continue
            values = [
                {name: g.scores[item.name] for name, g in graded.items() if item.name in g.scores}
                for graded in tasks.values()
            ]
            metric: Metric = "interval" if item.type == "scale" else "nominal"
            items[item.name] = agreement(values, metric).view()
        out[model] = {
            "grades": len(grades),
            "tasks": len(tasks),
            "verdicts": {verdict: verdicts.get(verdict, 0) for verdict in ("good", "bad")},
            "verdict": agreement(
                [{name: g.verdict for name, g in graded.items()} for graded in tasks.values()]
            ).view(),
            "items": items,
        }
    return out
