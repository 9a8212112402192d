"""The calibration report and retention, read from (and applied to) the store."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import replace
from typing import Any, Protocol

from gateway.config.root import Config
from gateway.export.calibration import ADVISED_ERROR, Calibration, calibrate
from gateway.export.datasets import verdict
from gateway.export.graded import majority
from gateway.export.stream import ExportStore, finished_tasks
from gateway.human.query import Purged, TaskFilter
from gateway.human.task import ANSWERED, GRADE, REJECTED, Task

PURGE_BATCH = 500
DAY_S = 86_400.0


async def calibrations(
    store: ExportStore,
    config: Config,
    filter: TaskFilter | None = None,
    *,
    target_escalation: float | None = None,
    target_error: float | None = None,
) -> list[Calibration]:
    """Per hybrid model (configured, or found in the reviewed drafts): its calibration."""
    wanted = replace(filter or TaskFilter(), statuses=(ANSWERED, REJECTED), drafted=True)
    points: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    sampled: list[Task] = []  # shadow samples: judged by their grades
    async for task, _ in finished_tasks(store, wanted):
        if task.kind == GRADE:
            if task.confidence is not None and task.status == ANSWERED:
                sampled.append(task)
            continue
        judged = verdict(task)
        if task.confidence is not None and judged is not None:
            points[task.model].append((task.confidence, judged == "approved"))
    shadow: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for start in range(0, len(sampled), PURGE_BATCH):
        batch = sampled[start : start + PURGE_BATCH]
        grades = await store.grades([task.id for task in batch])
        for task in batch:
            judged = majority(grades.get(task.id, []))
            if judged is not None and task.confidence is not None:
                shadow[task.model].append((task.confidence, judged == "good"))
    models = (
        {name for name, model in config.models.items() if model.kind == "hybrid"}
        | points.keys()
        | shadow.keys()
    )
    if wanted.model is not None:
        models = {wanted.model}
    advised_error = target_error
    if target_error is None and target_escalation is None:
        advised_error = ADVISED_ERROR
    reports = []
    for name in sorted(models):
        current = config.models[name].min_confidence if name in config.models else None
        report = calibrate(
            name,
            points.get(name, []),
            target_escalation=target_escalation,
            target_error=target_error,
            current=current,
        )
        if shadow.get(name):
            report.shadow = calibrate(
                name,
                shadow[name],
                target_escalation=target_escalation,
                target_error=advised_error,
                current=current,
            )
        reports.append(report)
    return reports


class PurgeStore(Protocol):
    async def purge(self, before: float, limit: int) -> Purged: ...


async def purge(store: PurgeStore, before: float) -> Purged:
    """Delete finished tasks that finished before ``before``, with their requests (and
    so their images), audit entries and stored responses, a batch at a time."""
    total = Purged()
    while True:
        batch = await store.purge(before, PURGE_BATCH)
        total.add(batch)
        if batch.tasks < PURGE_BATCH:
            return total


def retention_cutoff(retain_days: float, now: float | None = None) -> float:
    return (time.time() if now is None else now) - retain_days * DAY_S


def describe(purged: Purged) -> str:
    """One line saying what a purge removed."""
    p = purged
    return (
        f"removed {p.tasks} finished tasks, {p.requests} requests ({p.images} images, "
        f"{p.bytes / 1e6:.1f} MB), {p.audit} audit entries, {p.responses} stored responses"
    )


def calibration_dicts(reports: list[Calibration]) -> list[dict[str, Any]]:
    return [report.as_dict() for report in reports]


def agreement_table(figures: dict[str, dict[str, Any]]) -> str:
    """The reviewers' agreement per model (``grade_agreement``), for the terminal."""
    lines = []
    for model, each in figures.items():
        verdicts = each["verdicts"]
        lines.append(
            f"model {model}: {each['grades']} grades of {each['tasks']} answers "
            f"({verdicts['good']} good, {verdicts['bad']} bad)"
        )
        lines.append("  agreement on   method               value   items  reviewers")
        for name, figure in [("verdict", each["verdict"]), *each["items"].items()]:
            value = "-" if figure["value"] is None else f"{figure['value']:.3f}"
            lines.append(
                f"  {name:<13} {figure['method']:<20} {value:>6}  {figure['items']:6d}"
                f"  {figure['reviewers']:9d}"
            )
    return "\n".join(lines)
