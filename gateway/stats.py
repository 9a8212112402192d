"""Figures for the dashboard's header and ``GET /api/stats``.

Escalation rates divide the tasks a hybrid model escalated (from the store) by
the calls it served (counted here, in memory, by the minute for a day: a restart
starts those counts afresh).
"""

from __future__ import annotations

import statistics
import time
from collections import Counter, deque
from typing import Any

from gateway.export.formats import draft_verdict
from gateway.human.queue import TaskQueue

HOUR = 3600.0
DAY = 24 * HOUR


class Stats:
    def __init__(self, queue: TaskQueue) -> None:
        self.queue = queue
        self._minutes: deque[tuple[int, Counter[str]]] = deque()

    def hybrid_request(self, model: str) -> None:
        """Count one call on a hybrid route (cheap: one counter bump)."""
        minute = int(time.time() // 60)
        if not self._minutes or self._minutes[-1][0] != minute:
            self._minutes.append((minute, Counter()))
            while self._minutes and self._minutes[0][0] < minute - DAY / 60:
                self._minutes.popleft()
        self._minutes[-1][1][model] += 1

    def hybrid_requests_since(self, since: float) -> Counter[str]:
        first = int(since // 60)
        total: Counter[str] = Counter()
        for minute, counts in self._minutes:
            if minute >= first:
                total.update(counts)
        return total

    async def summary(self) -> dict[str, Any]:
        now = time.time()
        counts = self.queue.counts()
        recent = await self.queue.store.stats(now - HOUR)
        durations = recent["answer_seconds"]
        return {
            "pending": counts["pending"],
            "claimed": counts["claimed"],
            "counts": counts,
            "answered_last_hour": len(durations),
            "median_answer_s": statistics.median(durations) if durations else None,
            "escalation": {
                "hour": await self._escalation(now - HOUR),
                "day": await self._escalation(now - DAY),
            },
            "drafts": await self._drafts(now - DAY),
        }

    async def _escalation(self, since: float) -> dict[str, Any]:
        """Per hybrid model: calls, escalations by reason, and the escalation rate."""
        calls = self.hybrid_requests_since(since)
        escalated = await self.queue.store.escalations_since(since)
        out: dict[str, Any] = {}
        for model in sorted(set(calls) | {model for model, _ in escalated}):
            reasons = {reason: n for (m, reason), n in escalated.items() if m == model}
            total = sum(reasons.values())
            served = calls.get(model, 0)
            out[model] = {
                "requests": served,
                "escalations": reasons,
                "rate": total / served if served else None,
            }
        return out

    async def _drafts(self, since: float) -> dict[str, Any]:
        """How reviewers treated model drafts: approved as is, edited, or replaced."""
        shares: Counter[str] = Counter()
        for draft, answer in await self.queue.store.drafted_answers_since(since):
            shares[draft_outcome(draft, answer)] += 1
        total = sum(shares.values())
        return {
            "total": total,
            **{kind: shares.get(kind, 0) for kind in ("approve", "edit", "replace")},
            "shares": {
                kind: (shares.get(kind, 0) / total if total else None)
                for kind in ("approve", "edit", "replace")
            },
        }


def draft_outcome(draft: dict[str, Any], answer: dict[str, Any]) -> str:
    """``approve``, ``edit`` or ``replace``: the export's verdict on a draft (one rule for
    both, see ``gateway.export.formats.draft_verdict``)."""
    return _OUTCOMES[draft_verdict(draft, answer)]


_OUTCOMES = {"approved": "approve", "edited": "edit", "replaced": "replace"}
