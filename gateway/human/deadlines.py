"""The task queue's background upkeep: acting on due deadlines, and keeping in step with the store.

A process sets a local timer for each deadline it knows of (expiry, a claim's
lease, the re-attach grace), sweeps the store for due deadlines every
``store.sweep_s`` (so a task whose process died is still acted on), tells a
shared store it lives and buries dead processes' clients, and learns of changes
the store's notifier reports. ``TaskQueue`` mixes this in; the attributes used
here are set in its ``__init__``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from gateway.human.store import (
    ESCALATE,
    EXPIRY,
    GONE,
    LEASE,
    AuditEntry,
    Change,
    Due,
    Guard,
    StoreUnavailable,
)
from gateway.human.task import CANCELLED, CLAIMED, EXPIRED, OPEN, PENDING, Task

log = logging.getLogger("gateway.queue")
CHECK_WAITERS_EVERY = 10  # sweeps between re-reading the tasks local clients wait on


class Upkeep:
    """Deadlines and notifications of ``TaskQueue`` (see ``gateway.human.queue``)."""

    # -- deadlines ----------------------------------------------------------------

    async def act(self, due: Due) -> Task | None:
        """Act on a due deadline; only one process's write wins."""
        now = time.time()
        if due.deadline == ESCALATE:
            return await self._escalate(due.task_id, now)
        if due.deadline == EXPIRY:
            changes: dict[str, Any] = {"status": EXPIRED, "finished_at": now, "lease_until": None}
            guard, actor, detail, event = Guard(OPEN, due=EXPIRY, now=now), "timeout", None, EXPIRED
        elif due.deadline == LEASE:
            changes = {"status": PENDING, "claimed_by": None, "lease_until": None}
            guard, actor, detail = Guard((CLAIMED,), due=LEASE, now=now), "lease", None
            event = "released"
        else:
            changes = {"status": CANCELLED, "finished_at": now, "lease_until": None}
            guard = Guard(OPEN, due=GONE, now=now, unattached=True)
            actor, detail, event = "client", "client disconnected", CANCELLED
        entry = AuditEntry(due.task_id, now, event, actor, detail)
        return await self._transition(due.task_id, guard, changes, entry, f"task.{event}")

    async def _escalate(self, task_id: str, now: float) -> Task | None:
        """Nobody claimed the task in time: its ``escalate_to`` groups see it too.
        The guard on the stored deadline makes one process's write win."""
        task = await self._store(self.store.get(task_id))
        if task is None or task.escalate_at is None:
            return None
        groups = tuple(dict.fromkeys((*task.groups, *task.escalate_to)))
        changes = {"groups": groups, "escalate_at": None}
        guard = Guard((PENDING,), due=ESCALATE, now=now)
        entry = AuditEntry(task_id, now, "escalated", "timeout", ", ".join(task.escalate_to))
        return await self._transition(task_id, guard, changes, entry, "task.escalated")

    def _timer(self, task_id: str, deadline: str, at: float) -> None:
        self._cancel_timer(task_id, deadline)
        delay = max(at - time.time(), 0) + 0.001  # the stored deadline must have passed
        self._timers[task_id, deadline] = asyncio.get_running_loop().call_later(
            delay, self._timer_fired, Due(task_id, deadline)
        )

    def _cancel_timer(self, task_id: str, deadline: str) -> None:
        handle = self._timers.pop((task_id, deadline), None)
        if handle is not None:
            handle.cancel()

    def _timer_fired(self, due: Due) -> None:
        self._timers.pop((due.task_id, due.deadline), None)
        self._spawn(self._act_quietly(due))

    async def _act_quietly(self, due: Due) -> None:
        try:
            await self.act(due)
        except StoreUnavailable as error:
            log.warning("deadline %s of %s not acted on yet: %s", due.deadline, due.task_id, error)

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
                for due in await self._store(self.store.due(time.time())):
                    await self._act_quietly(due)
                if rounds % CHECK_WAITERS_EVERY == 0:
                    await self._check_waiters()
            except StoreUnavailable as error:
                log.warning("deadline sweep failed: %s", error)
            except Exception:
                log.exception("deadline sweep failed")

    async def _keep_alive(self) -> None:
        """Tell the store this process lives; take a dead process's clients off their
        tasks. Buried after a silence (a stalled loop), this process attaches again."""
        now = time.time()
        if not await self._store(self.store.heartbeat(now)):
            for waiting in list(self._waiting.values()):
                if waiting.clients > 0:
                    await self._store(self.store.attach(waiting.task.id, waiting.clients))
        await self._store(self.store.bury(now, self.silent_s, self._gone_at()))

    def _gone_at(self) -> float:
        return time.time() + self.settings.reattach_grace_s

    async def _check_waiters(self) -> None:
        ids = list(self._waiting)
        for start in range(0, len(ids), 1000):
            for task in await self._store(self.store.finished_among(ids[start : start + 1000])):
                self._learn(task)

    # -- notifications ------------------------------------------------------------

    def _heard(self, change: Change) -> None:
        """A change from the store's notifier: with the row in hand (this process),
        at once; else read the row first, in order, on one background task."""
        if change.task is None:
            self._remote.put_nowait(change)
            return
        self._learn(change.task)
        self.events.publish(change.event, change.task.summary())

    async def _learn_remote_changes(self) -> None:
        while True:
            change = await self._remote.get()
            if change.event == "store.reconnected":  # notifications may have been missed
                with contextlib.suppress(StoreUnavailable):
                    await self._check_waiters()
                continue
            if change.task_id not in self._waiting and not self.events.subscribed:
                continue
            try:
                task = await self._store(self.store.get(change.task_id))
            except StoreUnavailable:
                continue  # the sweep catches up
            if task is not None:
                self._learn(task)
                self.events.publish(change.event, task.summary(), here=False)

    def _learn(self, task: Task) -> None:
        """Cache what the store said; a finished task wakes its waiters here."""
        waiting = self._waiting.get(task.id)
        if waiting is None or waiting.done.done():
            return
        waiting.task = task
        if not task.is_open:
            self._forget(waiting)
            for deadline in (EXPIRY, LEASE, GONE, ESCALATE):
                self._cancel_timer(task.id, deadline)
            waiting.done.set_result(task)
