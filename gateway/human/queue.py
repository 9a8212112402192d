"""The task life cycle: creation, re-attach, claims and leases, answers, timeouts.

Open tasks live in memory (and in the store); every change happens here, in one
synchronous step on the event loop, so two reviewers racing for a claim cannot
both win. Waiting clients are woken by a future, never by polling.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from gateway.config import HumanConfig
from gateway.errors import conflict, not_found
from gateway.events import Events
from gateway.human.task import (
    ANSWERED,
    CANCELLED,
    CLAIMED,
    EXPIRED,
    OPEN,
    PENDING,
    REJECTED,
    STATUSES,
    Task,
)
from gateway.metrics import Metrics
from gateway.store.base import AuditEntry, Guard, Store


@dataclass(slots=True, eq=False)
class Waiting:
    """An open task and the clients waiting on it."""

    task: Task
    done: asyncio.Future[Task]
    clients: int = 0
    timers: dict[str, asyncio.TimerHandle] = field(default_factory=dict)

    def cancel_timer(self, name: str) -> None:
        handle = self.timers.pop(name, None)
        if handle is not None:
            handle.cancel()


class TaskQueue:
    """Open tasks, their waiters and timers, backed by the store."""

    def __init__(
        self, store: Store, events: Events, metrics: Metrics, settings: HumanConfig
    ) -> None:
        self.store = store
        self.events = events
        self.metrics = metrics
        self.settings = settings
        self._open: dict[str, Waiting] = {}
        self._by_dedup: dict[str, Waiting] = {}
        self._undelivered: dict[str, Task] = {}  # dedup -> answered or rejected task
        self._counts: Counter[str] = Counter()
        self._timer_tasks: set[asyncio.Task[None]] = set()  # held so they are not collected

    # -- start and stop -----------------------------------------------------------

    async def start(self) -> None:
        """Reload open and undelivered tasks, so a restart loses nothing."""
        stats = await self.store.stats(0)
        self._counts.update(stats["counts"])
        for task in await self.store.list(OPEN, limit=1_000_000):
            waiting = self._track(task)
            if task.status == CLAIMED and task.lease_until:
                self._schedule(waiting, "lease", task.lease_until, self._lease_ran_out)
            if not task.polled:
                self._schedule_grace(waiting)
        since = time.time() - self.settings.keep_undelivered_s
        for task in await self.store.list((ANSWERED, REJECTED), limit=1_000_000):
            if not task.delivered and (task.answered_at or 0) >= since:
                self._keep_undelivered(task)

    def stop(self) -> None:
        for waiting in self._open.values():
            for handle in waiting.timers.values():
                handle.cancel()

    # -- clients ------------------------------------------------------------------

    def find(self, dedup: str) -> Waiting | Task | None:
        """An open task with this dedup key, or an answer nobody has collected yet."""
        return self._by_dedup.get(dedup) or self._undelivered.get(dedup)

    async def create(self, task: Task, request: bytes) -> Waiting:
        """Store a new task and publish it; its creator is attached.

        A polled task (``task.polled``: Cua's protocol) has no client attached and
        no re-attach grace: it waits for its reviewer or its deadline only.
        """
        waiting = self._track(task)
        waiting.clients = task.clients = 0 if task.polled else 1
        self._counts[task.status] += 1
        await self.store.create(task, request, self._entry(task, "created", None, task.reason))
        self.events.publish("task.created", task.summary())
        return waiting

    def attach(self, waiting: Waiting) -> None:
        waiting.clients += 1
        waiting.cancel_timer("grace")

    def detach(self, waiting: Waiting) -> None:
        """A client left; with nobody left the task is cancelled after a grace period."""
        waiting.clients -= 1
        if waiting.clients <= 0 and waiting.task.is_open:
            self._schedule_grace(waiting)

    async def delivered(self, task: Task) -> None:
        """A client received the outcome: it need not be kept for a retry."""
        if task.delivered:
            return
        task.delivered = True
        self._undelivered.pop(task.dedup, None)
        await self._write(task, ("delivered",), None)

    # -- reviewers ----------------------------------------------------------------

    def open_task(self, task_id: str) -> Waiting:
        waiting = self._open.get(task_id)
        if waiting is None:
            raise conflict(f"Task {task_id} is no longer open.", code="task_not_open")
        return waiting

    def current(self, task: Task) -> Task:
        """The in-memory copy of a stored task while it is open (leases renew in memory)."""
        waiting = self._open.get(task.id)
        return waiting.task if waiting is not None else task

    async def get(self, task_id: str) -> Task:
        waiting = self._open.get(task_id)
        task = waiting.task if waiting else await self.store.get(task_id)
        if task is None:
            raise not_found(f"No task with id '{task_id}'.", code="task_not_found")
        return task

    async def claim(self, task_id: str, reviewer: str) -> Task:
        """Claim a task, or renew the lease on one already held by this reviewer."""
        if task_id not in self._open:
            await self.get(task_id)  # 404 for an unknown id, else 409 below
        waiting = self.open_task(task_id)
        task = waiting.task
        self._check_holder(task, reviewer)
        renewing = task.status == CLAIMED
        now = time.time()
        task.lease_until = now + self.settings.lease_s
        self._schedule(waiting, "lease", task.lease_until, self._lease_ran_out)
        if renewing:
            await self._write(task, ("lease_until",), None)
            return task
        first_claim = task.claimed_at is None
        self._set_status(task, CLAIMED)
        task.claimed_by = reviewer
        task.claimed_at = now
        if first_claim:
            self.metrics.time_to_claim.labels(self._model(task)).observe(now - task.created_at)
        await self._write(
            task,
            ("status", "claimed_by", "claimed_at", "lease_until"),
            self._entry(task, "claimed", reviewer),
        )
        self.events.publish("task.claimed", task.summary())
        return task

    def renew(self, task_id: str, reviewer: str) -> None:
        """Activity by the holder pushes its lease out (kept in memory until the next write)."""
        waiting = self._open.get(task_id)
        if waiting and waiting.task.status == CLAIMED and waiting.task.claimed_by == reviewer:
            waiting.task.lease_until = time.time() + self.settings.lease_s
            self._schedule(waiting, "lease", waiting.task.lease_until, self._lease_ran_out)

    async def release(self, task_id: str, reviewer: str) -> Task:
        waiting = self.open_task(task_id)
        self._check_holder(waiting.task, reviewer)
        await self._release(waiting, reviewer)
        return waiting.task

    async def answer(
        self,
        task_id: str,
        reviewer: str,
        answer: dict[str, Any],
        result: dict[str, Any],
        response_id: str | None = None,
    ) -> Task:
        """Record an answer, wake the waiting clients and tell the dashboards."""
        waiting = self.open_task(task_id)
        task = waiting.task
        self._check_holder(task, reviewer)
        task.answer = answer
        task.result = result
        task.response_id = response_id
        await self._finish(waiting, ANSWERED, reviewer, None)
        self.metrics.time_to_answer.labels(self._model(task)).observe(
            task.answered_at - task.created_at
        )
        return task

    async def reject(self, task_id: str, reviewer: str, reason: str) -> Task:
        waiting = self.open_task(task_id)
        self._check_holder(waiting.task, reviewer)
        waiting.task.reject_reason = reason
        await self._finish(waiting, REJECTED, reviewer, reason)
        return waiting.task

    def check_holder(self, task_id: str, reviewer: str) -> Task:
        """The open task, when this reviewer may act on it; else 409."""
        task = self.open_task(task_id).task
        self._check_holder(task, reviewer)
        return task

    # -- counts -------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        return {status: self._counts.get(status, 0) for status in STATUSES}

    def refresh_gauges(self) -> None:
        for status, count in self.counts().items():
            self.metrics.tasks.labels(status).set(count)

    # -- internals ----------------------------------------------------------------

    def _track(self, task: Task) -> Waiting:
        waiting = Waiting(task, asyncio.get_running_loop().create_future())
        self._open[task.id] = waiting
        self._by_dedup[task.dedup] = waiting
        self._schedule(waiting, "expiry", task.expires_at, self._expire)
        return waiting

    def _schedule(self, waiting: Waiting, name: str, at: float, action) -> None:
        waiting.cancel_timer(name)
        loop = asyncio.get_running_loop()
        delay = max(at - time.time(), 0)
        waiting.timers[name] = loop.call_later(delay, self._run_timer, action, waiting)

    def _run_timer(self, action, waiting: Waiting) -> None:
        task = asyncio.get_running_loop().create_task(action(waiting))
        self._timer_tasks.add(task)
        task.add_done_callback(self._timer_tasks.discard)

    def _schedule_grace(self, waiting: Waiting) -> None:
        self._schedule(
            waiting, "grace", time.time() + self.settings.reattach_grace_s, self._client_gone
        )

    def _check_holder(self, task: Task, reviewer: str) -> None:
        if task.status == CLAIMED and task.claimed_by != reviewer:
            raise conflict(f"Task {task.id} is claimed by {task.claimed_by}.", code="task_claimed")

    async def _release(self, waiting: Waiting, actor: str) -> None:
        task = waiting.task
        if task.status != CLAIMED:
            return
        waiting.cancel_timer("lease")
        self._set_status(task, PENDING)
        task.claimed_by = None
        task.lease_until = None
        await self._write(
            task, ("status", "claimed_by", "lease_until"), self._entry(task, "released", actor)
        )
        self.events.publish("task.released", task.summary())

    async def _lease_ran_out(self, waiting: Waiting) -> None:
        if waiting.task.is_open:
            await self._release(waiting, "lease")

    async def _expire(self, waiting: Waiting) -> None:
        if waiting.task.is_open:
            await self._finish(waiting, EXPIRED, "timeout", None)

    async def _client_gone(self, waiting: Waiting) -> None:
        if waiting.task.is_open and waiting.clients <= 0:
            await self._finish(waiting, CANCELLED, "client", "client disconnected")

    async def _finish(self, waiting: Waiting, status: str, actor: str, detail: str | None) -> None:
        task = waiting.task
        for name in list(waiting.timers):
            waiting.cancel_timer(name)
        self._open.pop(task.id, None)
        if self._by_dedup.get(task.dedup) is waiting:
            del self._by_dedup[task.dedup]
        task.finished_at = time.time()
        if status in (ANSWERED, REJECTED):
            if task.claimed_by is None:
                task.claimed_by = actor
                task.claimed_at = task.finished_at
            task.answered_at = task.finished_at
            task.answered_by = actor
            self._keep_undelivered(task)
        self._set_status(task, status)
        changed = (
            "status", "claimed_by", "claimed_at", "answered_at", "answered_by", "finished_at",
            "answer", "result", "reject_reason", "response_id", "lease_until",
        )  # fmt: skip
        await self._write(task, changed, self._entry(task, status, actor, detail))
        if not waiting.done.done():
            waiting.done.set_result(task)
        self.events.publish(f"task.{status}", task.summary())

    async def _write(self, task: Task, changed: tuple[str, ...], entry: AuditEntry | None) -> None:
        changes = {name: getattr(task, name) for name in changed}
        await self.store.transition(task.id, Guard(STATUSES), changes, entry)

    def _keep_undelivered(self, task: Task) -> None:
        self._undelivered[task.dedup] = task
        keep = max(task.answered_at or time.time(), time.time()) + self.settings.keep_undelivered_s
        asyncio.get_running_loop().call_later(keep - time.time(), self._forget_undelivered, task)

    def _forget_undelivered(self, task: Task) -> None:
        if self._undelivered.get(task.dedup) is task:
            del self._undelivered[task.dedup]

    def _set_status(self, task: Task, status: str) -> None:
        self._counts[task.status] -= 1
        self._counts[status] += 1
        task.status = status

    def _model(self, task: Task) -> str:
        return self.metrics.model_label(task.model)

    @staticmethod
    def _entry(task: Task, event: str, actor: str | None, detail: str | None = None) -> AuditEntry:
        return AuditEntry(task.id, time.time(), event, actor, detail)
