"""Figures for the dashboard's header and ``GET /api/stats``.

Escalation rates divide the tasks a hybrid model escalated by the calls it
served. Both come from the store, so every process sees every process's calls:
a call is counted in memory (one counter bump on the hot path) and the counts
go to the store by the minute every few seconds, and before a summary is made.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from collections import Counter
from typing import Any

from gateway.config.rubrics import RubricConfig
from gateway.human.agreement import AGREEMENT_DAYS, grade_agreement
from gateway.human.drafts import draft_verdict
from gateway.human.queue import TaskQueue
from gateway.human.store import StoreUnavailable

HOUR = 3600.0
DAY = 24 * HOUR
FLUSH_S = 5.0
HYBRID_REQUESTS = "hybrid_requests"  # counter name in the store
log = logging.getLogger("gateway.human.stats")


class Stats:
    def __init__(self, queue: TaskQueue, rubrics: dict[str, RubricConfig] | None = None) -> None:
        self.queue = queue
        self.rubrics = rubrics or {}
        self.store = queue.store
        self._unsaved: Counter[tuple[str, int]] = Counter()  # (model, minute) -> calls
        self._flush_due: asyncio.TimerHandle | None = None
        self._flushing: asyncio.Task[None] | None = None

    def hybrid_request(self, model: str) -> None:
        """Count one call on a hybrid route (cheap: one counter bump)."""
        self._unsaved[model, int(time.time() // 60)] += 1
        if self._flush_due is None:
            loop = asyncio.get_running_loop()
            self._flush_due = loop.call_later(FLUSH_S, self._flush_soon)

    def _flush_soon(self) -> None:
        self._flush_due = None
        self._flushing = asyncio.get_running_loop().create_task(self.flush())

    async def flush(self) -> None:
        """Add the unsaved counts to the store's; kept for the next try if it fails."""
        counts, self._unsaved = self._unsaved, Counter()
        try:
            await self.store.add_counts(HYBRID_REQUESTS, counts)
        except StoreUnavailable as error:
            self._unsaved.update(counts)
            log.warning("hybrid call counts not saved yet: %s", error)

    async def hybrid_requests_since(self, since: float) -> dict[str, int]:
        return await self.store.counts_since(HYBRID_REQUESTS, int(since // 60))

    async def summary(self) -> dict[str, Any]:
        await self.flush()
        now = time.time()
        counts = await self.queue.counts()
        recent = await self.queue.store.stats(now - HOUR)
        durations = recent["answer_seconds"]
        return {
            "pending": counts["pending"],
            "claimed": counts["claimed"],
            "counts": counts,
            "answered_last_hour": len(durations),
            "median_answer_s": statistics.median(durations) if durations else None,
            # question, permission (MCP), text, tools, screen, structured: by status
            "kinds": {"hour": recent["kinds"]},
            "escalation": {
                "hour": await self._escalation(now - HOUR),
                "day": await self._escalation(now - DAY),
            },
            "drafts": await self._drafts(now - DAY),
            "agreement": await self.agreement(now - AGREEMENT_DAYS * DAY),
        }

    async def agreement(self, since: float) -> dict[str, Any]:
        """Per model: how far its graders agree (see ``gateway.human.agreement``)."""
        return grade_agreement(await self.store.grades_since(since), self.rubrics)

    async def _escalation(self, since: float) -> dict[str, Any]:
        """Per hybrid model: calls, escalations by reason, and the escalation rate."""
        calls = await self.hybrid_requests_since(since)
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
    both, see ``gateway.human.drafts.draft_verdict``)."""
    return _OUTCOMES[draft_verdict(draft, answer)]


_OUTCOMES = {"approved": "approve", "edited": "edit", "replaced": "replace"}
