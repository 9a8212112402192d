"""The task life cycle: creation, re-attach, claims and leases, answers, deadlines.

The store decides. Every change is one conditional write (see ``gateway.store``);
this module only caches what the store returned, so a write that fails or loses
changes nothing here. Waiting clients are woken by a future, resolved when the
store's notifier reports that their task finished: at once for a change made in
this process, by ``LISTEN/NOTIFY`` for one made in another.

Deadlines (expiry, a claim's lease, the re-attach grace once no client waits) are
stored. A process sets a local timer for the deadlines it knows of, for
precision, and every process sweeps the store for due deadlines every
``store.sweep_s``, so a task whose process died is still acted on; the
conditional write makes each action happen exactly once cluster-wide. The timers,
the sweep and the notification handling live in ``gateway.human.deadlines``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.config import HumanConfig
from gateway.errors import conflict, not_found
from gateway.events.fanout import Events
from gateway.human.deadlines import Upkeep
from gateway.human.store import (
    ESCALATE,
    EXPIRY,
    GONE,
    LEASE,
    AuditEntry,
    Change,
    Guard,
    Store,
    StoreUnavailable,
)
from gateway.human.task import (
    ANSWERED,
    CLAIMED,
    FINISHED,
    OPEN,
    PENDING,
    REJECTED,
    STATUSES,
    Task,
)
from gateway.metrics import Metrics


@dataclass(slots=True, eq=False)
class Waiting:
    """A task that clients of this process wait on."""

    task: Task  # as the store last said
    done: asyncio.Future[Task]
    clients: int = 0  # clients of this process (the store counts every process's)


class TaskQueue(Upkeep):
    """Tasks through the store; the waiters and timers of this process."""

    def __init__(
        self,
        store: Store,
        events: Events,
        metrics: Metrics,
        settings: HumanConfig,
        sweep_s: float = 1.0,
        silent_s: float = 5.0,
    ) -> None:
        self.store = store
        self.events = events
        self.metrics = metrics
        self.settings = settings
        self.sweep_s = sweep_s
        self.silent_s = silent_s  # a process silent this long is dead (shared stores)
        self.healthy = True  # the last store call worked (readiness)
        self._waiting: dict[str, Waiting] = {}
        self._by_dedup: dict[str, Waiting] = {}
        self._timers: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._background: set[asyncio.Task[Any]] = set()  # held so they are not collected
        self._remote: asyncio.Queue[Change] = asyncio.Queue()
        self._loops: list[asyncio.Task[None]] = []

    # -- start and stop -----------------------------------------------------------

    async def start(self) -> None:
        self.store.listen(self._heard)
        if self.store.shared:
            await self._store(self.store.heartbeat(time.time()))
        else:
            # One process owns this file, so after a restart nobody is attached:
            # every open task gets the re-attach grace, as a client that left would.
            await self._store(self.store.forget_clients(self._gone_at()))
        self._loops = [
            asyncio.create_task(self._sweep_forever()),
            asyncio.create_task(self._learn_remote_changes()),
        ]

    async def stop(self) -> None:
        """Stop sweeping; the clients let go (see ``HumanService.let_clients_go``) count
        as gone, so their tasks get the re-attach grace wherever a retry lands."""
        for loop in self._loops:
            loop.cancel()
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        if self.store.shared:
            gone_at = self._gone_at()
            held = [w for w in self._waiting.values() if w.clients > 0]
            with contextlib.suppress(StoreUnavailable):
                for start in range(0, len(held), 100):
                    await asyncio.gather(
                        *(
                            self.store.detach(w.task.id, gone_at, w.clients)
                            for w in held[start : start + 100]
                        )
                    )
                await self.store.leave()

    # -- clients ------------------------------------------------------------------

    async def find(self, dedup: str) -> Waiting | Task | None:
        """An open task with this dedup key, or an outcome nobody has collected yet."""
        waiting = self._by_dedup.get(dedup)
        if waiting is not None and not waiting.done.done():
            return waiting
        since = time.time() - self.settings.keep_undelivered_s
        task = await self._store(self.store.find(dedup, since))
        if task is None or not task.is_open:
            return task
        return self._track(task)

    async def create(self, task: Task, request: bytes, original: bytes | None = None) -> Waiting:
        """Store a new task; its creator is attached. When another request made the
        open task for the same dedup key first, this attaches to that one.

        A polled task (``task.polled``: Cua's protocol) has no client attached and
        no re-attach grace: it waits for its reviewer or its deadline only.
        """
        task.clients = 0 if task.polled else 1
        entry = self._entry(task, "created", None, task.reason)
        stored, made = await self._store(self.store.create(task, request, entry, original))
        if made:
            self.metrics.task_created(stored.model, stored.kind)
        if made and stored.escalate_at is not None:
            self._timer(stored.id, ESCALATE, stored.escalate_at)
        if task.polled:
            self._timer(stored.id, EXPIRY, stored.expires_at)
            return Waiting(stored, asyncio.get_running_loop().create_future())
        if not made:
            waiting = self._track(stored)
            await self.attach(waiting)
            return waiting
        waiting = self._track(stored)
        waiting.clients = 1
        return waiting

    async def attach(self, waiting: Waiting) -> None:
        """One more client of this process waits on the task."""
        task = await self._store(self.store.attach(waiting.task.id))
        if task is None:  # it finished meanwhile: the waiter gets the outcome at once
            task = await self._store(self.store.get(waiting.task.id))
            if task is not None:
                self._learn(task)
            return
        waiting.clients += 1
        self._cancel_timer(task.id, GONE)

    async def detach(self, waiting: Waiting) -> None:
        """A client left; with none left anywhere, the task is cancelled after the grace."""
        waiting.clients -= 1
        if waiting.clients > 0 or waiting.done.done():
            return
        self._forget(waiting)
        try:
            task = await self._store(self.store.detach(waiting.task.id, self._gone_at()))
        except StoreUnavailable:
            return  # counted as still attached: the task expires on its own deadline
        if task is not None and task.gone_at is not None:
            self._timer(task.id, GONE, task.gone_at)

    async def delivered(self, task: Task) -> None:
        """A client received the outcome: it need not be kept for a retry."""
        if task.delivered:
            return
        guard = Guard(FINISHED, undelivered=True)
        if await self._store(self.store.transition(task.id, guard, {"delivered": True})):
            task.delivered = True

    # -- reviewers ----------------------------------------------------------------

    def current(self, task: Task) -> Task:
        """A listed task as it is: the store's copy is the truth (kept for callers)."""
        return task

    async def get(self, task_id: str) -> Task:
        task = await self._store(self.store.get(task_id))
        if task is None:
            raise not_found(f"No task with id '{task_id}'.", code="task_not_found")
        return task

    async def check_holder(self, task_id: str, reviewer: str) -> Task:
        """The open task, when this reviewer may act on it; else 404 or 409."""
        task = await self.get(task_id)
        self._check(task, reviewer)
        return task

    async def claim(self, task_id: str, reviewer: str) -> Task:
        """Claim a task, or renew the lease on one already held by this reviewer."""
        task = await self.check_holder(task_id, reviewer)
        now = time.time()
        lease_until = now + self.settings.lease_s
        if task.status == CLAIMED:
            won = await self._transition(
                task_id, Guard((CLAIMED,), held_by=reviewer), {"lease_until": lease_until}
            )
        else:
            changes = {
                "status": CLAIMED,
                "claimed_by": reviewer,
                "claimed_at": now,
                "lease_until": lease_until,
                "escalate_at": None,  # claimed in time: no escalation
            }
            entry = self._entry(task, "claimed", reviewer)
            won = await self._transition(task_id, Guard((PENDING,)), changes, entry, "task.claimed")
            if won is not None and task.claimed_at is None:
                self.metrics.time_to_claim.labels(self._model(won)).observe(now - won.created_at)
        if won is None:
            raise await self._why_not(task_id, reviewer)
        self._timer(task_id, LEASE, lease_until)
        self._cancel_timer(task_id, ESCALATE)
        return won

    async def renew(self, task_id: str, reviewer: str) -> None:
        """Activity by the holder pushes its lease out."""
        lease_until = time.time() + self.settings.lease_s
        guard = Guard((CLAIMED,), held_by=reviewer)
        if await self._transition(task_id, guard, {"lease_until": lease_until}):
            self._timer(task_id, LEASE, lease_until)

    async def release(self, task_id: str, reviewer: str) -> Task:
        task = await self.check_holder(task_id, reviewer)
        if task.status != CLAIMED:
            return task
        changes = {"status": PENDING, "claimed_by": None, "lease_until": None}
        entry = self._entry(task, "released", reviewer)
        guard = Guard((CLAIMED,), held_by=reviewer)
        won = await self._transition(task_id, guard, changes, entry, "task.released")
        if won is None:
            raise await self._why_not(task_id, reviewer)
        self._cancel_timer(task_id, LEASE)
        return won

    async def answer(
        self,
        task_id: str,
        reviewer: str,
        answer: dict[str, Any],
        result: dict[str, Any],
        response_id: str | None = None,
        seen: Task | None = None,
    ) -> Task:
        """Record an answer; the notifier wakes the waiting clients and tells the dashboards.

        ``seen``: the task as the caller just read it (``check_holder``), which saves
        a read; the conditional write still decides."""
        changes = {"answer": answer, "result": result, "response_id": response_id}
        task = await self._finish_by(task_id, reviewer, ANSWERED, changes, None, seen)
        assert task.answered_at is not None
        self.metrics.time_to_answer.labels(self._model(task)).observe(
            task.answered_at - task.created_at
        )
        return task

    async def reject(self, task_id: str, reviewer: str, reason: str) -> Task:
        return await self._finish_by(task_id, reviewer, REJECTED, {"reject_reason": reason}, reason)

    async def ready(self) -> bool:
        """Whether the store takes writes now (``/readyz``)."""
        self.healthy = await self.store.ping()
        return self.healthy

    # -- counts -------------------------------------------------------------------

    async def counts(self) -> dict[str, int]:
        stats = await self._store(self.store.stats(time.time()))
        return {status: stats["counts"].get(status, 0) for status in STATUSES}

    async def refresh_gauges(self) -> None:
        for status, count in (await self.counts()).items():
            self.metrics.tasks.labels(status).set(count)

    # -- writes -------------------------------------------------------------------

    async def _store(self, call):
        """Await a store call, keeping ``healthy`` up to date for ``/readyz``."""
        try:
            result = await call
        except StoreUnavailable:
            self.healthy = False
            raise
        self.healthy = True
        return result

    async def _transition(
        self,
        task_id: str,
        guard: Guard,
        changes: Mapping[str, Any],
        entry: AuditEntry | None = None,
        event: str | None = None,
    ) -> Task | None:
        return await self._store(self.store.transition(task_id, guard, changes, entry, event))

    async def _finish_by(
        self,
        task_id: str,
        reviewer: str,
        status: str,
        changes: dict[str, Any],
        detail: str | None,
        seen: Task | None = None,
    ) -> Task:
        task = seen or await self.check_holder(task_id, reviewer)
        now = time.time()
        held = task.status == CLAIMED
        changes = {
            **changes,
            "status": status,
            "claimed_by": reviewer,
            "claimed_at": task.claimed_at if held else now,
            "answered_at": now,
            "answered_by": reviewer,
            "finished_at": now,
            "lease_until": None,
        }
        entry = self._entry(task, status, reviewer, detail)
        guard = Guard(OPEN, holder=reviewer)
        won = await self._transition(task_id, guard, changes, entry, f"task.{status}")
        if won is None:
            raise await self._why_not(task_id, reviewer)
        return won

    async def _why_not(self, task_id: str, reviewer: str) -> Exception:
        """The error for a transition that lost: the task as it is now says why."""
        task = await self.get(task_id)
        try:
            self._check(task, reviewer)
        except Exception as error:
            return error
        return conflict(f"Task {task_id} changed meanwhile; try again.", code="task_changed")

    @staticmethod
    def _check(task: Task, reviewer: str) -> None:
        if not task.is_open:
            raise conflict(f"Task {task.id} is no longer open.", code="task_not_open")
        if task.status == CLAIMED and task.claimed_by != reviewer:
            raise conflict(f"Task {task.id} is claimed by {task.claimed_by}.", code="task_claimed")

    # -- internals ----------------------------------------------------------------

    def _track(self, task: Task) -> Waiting:
        waiting = self._waiting.get(task.id)
        if waiting is None:
            waiting = Waiting(task, asyncio.get_running_loop().create_future())
            self._waiting[task.id] = waiting
            self._by_dedup[task.dedup] = waiting
            self._timer(task.id, EXPIRY, task.expires_at)
        return waiting

    def _forget(self, waiting: Waiting) -> None:
        task = waiting.task
        if self._waiting.get(task.id) is waiting:
            del self._waiting[task.id]
        if self._by_dedup.get(task.dedup) is waiting:
            del self._by_dedup[task.dedup]

    def _spawn(self, coroutine) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _model(self, task: Task) -> str:
        return self.metrics.model_label(task.model)

    @staticmethod
    def _entry(task: Task, event: str, actor: str | None, detail: str | None = None) -> AuditEntry:
        return AuditEntry(task.id, time.time(), event, actor, detail)
