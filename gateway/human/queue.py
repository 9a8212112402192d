"""The task life cycle: creation, re-attach, claims and leases, answers, deadlines.

The store decides. Every change is one conditional write (see ``gateway.store``);
this module only caches what the store returned, so a write that fails or loses
changes nothing here. Waiting clients are woken by a future, resolved when the
store reports that their task finished: at once for a change made in
this process, by ``LISTEN/NOTIFY`` for one made in another.

Deadlines (expiry, a claim's lease, the re-attach grace once no client waits) are
stored. A process sets a local timer for the deadlines it knows of, for
precision, and every process sweeps the store for due deadlines every
``store.sweep_s``, so a task whose process died is still acted on; the
conditional write makes each action happen exactly once cluster-wide. The queue
owns the parts: ``Deadlines`` (timers and acts, ``gateway.human.deadlines``) and
``Waiters`` (the tasks this process's clients wait on and the store's
notifications about them, ``gateway.human.waiters``); its sweep drives both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

from gateway.config.sections import HumanConfig
from gateway.errors import conflict, not_found
from gateway.events.fanout import Events
from gateway.human.deadlines import Deadlines
from gateway.human.store import (
    ESCALATE,
    EXPIRY,
    GONE,
    LEASE,
    AuditEntry,
    Expected,
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
from gateway.human.waiters import Waiters, Waiting
from gateway.metrics import Metrics

T = TypeVar("T")
log = logging.getLogger("gateway.queue")
CHECK_WAITERS_EVERY = 10  # sweeps between re-reading the tasks local clients wait on
CLAIM_TRIES = 3  # each lost write means another won: 3 outlast one reviewer's tabs and reload

__all__ = ["TaskQueue", "Waiting"]


class TaskQueue:
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
        self.deadlines = Deadlines(store, self._store)
        self.waiters = Waiters(store, self._store, events, self.deadlines)
        self._loops: list[asyncio.Task[None]] = []

    # -- start and stop -----------------------------------------------------------

    async def start(self) -> None:
        self.store.listen(self.waiters.heard)
        if self.store.shared:
            await self._store(self.store.heartbeat(time.time()))
        else:
            # One process owns this file, so after a restart nobody is attached:
            # every open task gets the re-attach grace, as a client that left would.
            await self._store(self.store.forget_clients(self._gone_at()))
        self._loops = [
            asyncio.create_task(self._sweep_forever()),
            asyncio.create_task(self.waiters.learn_remote_changes()),
        ]

    async def stop(self) -> None:
        """Stop sweeping; the clients let go (see ``HumanService.let_clients_go``) count
        as gone, so their tasks get the re-attach grace wherever a retry lands."""
        for loop in self._loops:
            loop.cancel()
        self.deadlines.stop()
        if self.store.shared:
            gone_at = self._gone_at()
            held = [w for w in self.waiters if w.clients > 0]
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
        waiting = self.waiters.for_dedup(dedup)
        if waiting is not None:
            return waiting
        since = time.time() - self.settings.keep_undelivered_s
        task = await self._store(self.store.find(dedup, since))
        if task is None or not task.is_open:
            return task
        return self.waiters.track(task)

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
            self.deadlines.set(stored.id, ESCALATE, stored.escalate_at)
        if task.polled:
            self.deadlines.set(stored.id, EXPIRY, stored.expires_at)
            return Waiting(stored, asyncio.get_running_loop().create_future())
        if not made:
            waiting = self.waiters.track(stored)
            await self.attach(waiting)
            return waiting
        waiting = self.waiters.track(stored)
        waiting.clients = 1
        return waiting

    async def attach(self, waiting: Waiting) -> None:
        """One more client of this process waits on the task."""
        task = await self._store(self.store.attach(waiting.task.id))
        if task is None:  # it finished meanwhile: the waiter gets the outcome at once
            task = await self._store(self.store.get(waiting.task.id))
            if task is not None:
                self.waiters.learn(task)
            return
        waiting.clients += 1
        self.deadlines.cancel(task.id, GONE)

    async def detach(self, waiting: Waiting) -> None:
        """A client left; with none left anywhere, the task is cancelled after the grace."""
        waiting.clients -= 1
        if waiting.clients > 0 or waiting.done.done():
            return
        self.waiters.forget(waiting)
        try:
            task = await self._store(self.store.detach(waiting.task.id, self._gone_at()))
        except StoreUnavailable:
            return  # counted as still attached: the task expires on its own deadline
        if task is not None and task.gone_at is not None:
            self.deadlines.set(task.id, GONE, task.gone_at)

    async def delivered(self, task: Task) -> None:
        """A client received the outcome: it need not be kept for a retry."""
        if task.delivered:
            return
        guard = Expected(FINISHED, undelivered=True)
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
        """Claim a task, or renew the lease on one already held by this reviewer. A write
        lost to another (this reviewer's other tab, a reloading page's release) is decided
        again on the task as it is now: a 409 only when someone else holds it or it ended."""
        for _ in range(CLAIM_TRIES):
            task = await self.check_holder(task_id, reviewer)
            now = time.time()
            lease_until = now + self.settings.lease_s
            if task.status == CLAIMED:
                guard = Expected((CLAIMED,), held_by=reviewer)
                won = await self._transition(task_id, guard, {"lease_until": lease_until})
            else:
                changes = {"status": CLAIMED, "claimed_by": reviewer, "claimed_at": now}
                changes |= {"lease_until": lease_until, "escalate_at": None}  # no escalation now
                entry = self._entry(task, "claimed", reviewer)
                guard, event = Expected((PENDING,)), "task.claimed"
                won = await self._transition(task_id, guard, changes, entry, event)
                if won is not None and task.claimed_at is None:
                    self.metrics.time_to_claim.labels(self._model(won)).observe(
                        now - won.created_at
                    )
            if won is not None:
                self.deadlines.set(task_id, LEASE, lease_until)
                self.deadlines.cancel(task_id, ESCALATE)
                return won
        raise await self._why_not(task_id, reviewer)

    async def renew(self, task_id: str, reviewer: str) -> None:
        """Activity by the holder pushes its lease out."""
        lease_until = time.time() + self.settings.lease_s
        guard = Expected((CLAIMED,), held_by=reviewer)
        if await self._transition(task_id, guard, {"lease_until": lease_until}):
            self.deadlines.set(task_id, LEASE, lease_until)

    async def release(self, task_id: str, reviewer: str) -> Task:
        task = await self.check_holder(task_id, reviewer)
        if task.status != CLAIMED:
            return task
        changes = {"status": PENDING, "claimed_by": None, "lease_until": None}
        entry = self._entry(task, "released", reviewer)
        guard = Expected((CLAIMED,), held_by=reviewer)
        won = await self._transition(task_id, guard, changes, entry, "task.released")
        if won is None:
            raise await self._why_not(task_id, reviewer)
        self.deadlines.cancel(task_id, LEASE)
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
        """Record an answer; the store's change wakes the waiting clients and tells the dashboards.

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

    async def _store(self, call: Awaitable[T]) -> T:
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
        guard: Expected,
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
        guard = Expected(OPEN, holder=reviewer)
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

    async def _sweep_forever(self) -> None:
        """Act on every due deadline in the store, and now and then re-read the
        tasks local clients wait on (a safety net for a missed notification)."""
        rounds = 0
        while True:
            await asyncio.sleep(self.sweep_s)
            rounds += 1
            try:
                if self.store.shared:
                    await self._keep_alive()
                await self.deadlines.sweep()
                if rounds % CHECK_WAITERS_EVERY == 0:
                    await self.waiters.check()
            except StoreUnavailable as error:
                log.warning("deadline sweep failed: %s", error)
            except Exception:
                log.exception("deadline sweep failed")

    async def _keep_alive(self) -> None:
        """Tell the store this process lives; take a dead process's clients off their
        tasks. Buried after a silence (a stalled loop), this process attaches again."""
        now = time.time()
        if not await self._store(self.store.heartbeat(now)):
            for waiting in self.waiters:
                if waiting.clients > 0:
                    await self._store(self.store.attach(waiting.task.id, waiting.clients))
        await self._store(self.store.bury(now, self.silent_s, self._gone_at()))

    def _gone_at(self) -> float:
        return time.time() + self.settings.reattach_grace_s

    def _model(self, task: Task) -> str:
        return self.metrics.model_label(task.model)

    @staticmethod
    def _entry(task: Task, event: str, actor: str | None, detail: str | None = None) -> AuditEntry:
        return AuditEntry(task.id, time.time(), event, actor, detail)
