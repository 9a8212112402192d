"""Figures for the dashboard's header and ``GET /api/stats``."""

from __future__ import annotations

import statistics
import time
from typing import Any

from gateway.human.queue import TaskQueue

HOUR = 3600.0


class Stats:
    def __init__(self, queue: TaskQueue) -> None:
        self.queue = queue

    async def summary(self) -> dict[str, Any]:
        counts = self.queue.counts()
        recent = await self.queue.store.stats(time.time() - HOUR)
        durations = recent["answer_seconds"]
        return {
            "pending": counts["pending"],
            "claimed": counts["claimed"],
            "counts": counts,
            "answered_last_hour": len(durations),
            "median_answer_s": statistics.median(durations) if durations else None,
        }
