"""The calibration report and retention, read from (and applied to) the store."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import replace
from typing import Any, Protocol

from gateway.config import Config
from gateway.export.calibration import Calibration, calibrate
from gateway.export.formats import verdict
from gateway.export.stream import ExportStore, finished_tasks
from gateway.human.query import Purged, TaskFilter
from gateway.human.task import ANSWERED, REJECTED

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
    async for task, _ in finished_tasks(store, wanted):
        judged = verdict(task)
        if task.confidence is not None and judged is not None:
            points[task.model].append((task.confidence, judged == "approved"))
    models = {
        name for name, model in config.models.items() if model.kind == "hybrid"
    } | points.keys()
    if wanted.model is not None:
        models = {wanted.model}
    return [
        calibrate(
            name,
            points.get(name, []),
            target_escalation=target_escalation,
            target_error=target_error,
            current=config.models[name].min_confidence if name in config.models else None,
        )
        for name in sorted(models)
    ]


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
