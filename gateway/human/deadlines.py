"""Deadlines: acting on them, by a local timer and by sweeping the store.

A process sets a local timer for each deadline it knows of (expiry, a claim's
lease, the re-attach grace, escalation; all on one loop timer, see
``human.timers``), for precision, and ``sweep`` acts on
every deadline the store says is due, so a task whose process died is still
acted on. Each action is one conditional write on the stored deadline, so it
happens once cluster-wide whichever process gets there first. ``TaskQueue``
owns one and sets, moves and cancels the timers as tasks change.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.human.store import (
    DEADLINES,
    ESCALATE,
    EXPIRY,
    GONE,
    LEASE,
    AuditEntry,
    Due,
    Expected,
    Store,
    StoreUnavailable,
)
from gateway.human.task import CANCELLED, CLAIMED, EXPIRED, OPEN, PENDING, Task
from gateway.human.timers import Timers

log = logging.getLogger("gateway.queue")

# Awaits one store call (the queue's: it keeps /readyz's health up to date).
StoreCall = Callable[[Awaitable[Any]], Awaitable[Any]]


class Deadlines:
    """The timers of this process's tasks, and the acts they lead to."""

    def __init__(self, store: Store, call: StoreCall) -> None:
        self.store = store
        self._call = call
        self._timers = Timers(self._fired)  # one loop timer for all (human/timers.py)
        self._background: set[asyncio.Task[None]] = set()  # held so they are not collected

    async def act(self, due: Due) -> Task | None:
        """Act on a due deadline; only one process's write wins."""
        now = time.time()
        if due.deadline == ESCALATE:
            return await self._escalate(due.task_id, now)
        if due.deadline == EXPIRY:
            changes: dict[str, Any] = {"status": EXPIRED, "finished_at": now, "lease_until": None}
            guard = Expected(OPEN, due=EXPIRY, now=now)
            actor, detail, event = "timeout", None, EXPIRED
        elif due.deadline == LEASE:
            changes = {"status": PENDING, "claimed_by": None, "lease_until": None}
            guard, actor, detail = Expected((CLAIMED,), due=LEASE, now=now), "lease", None
            event = "released"
        else:
            changes = {"status": CANCELLED, "finished_at": now, "lease_until": None}
            guard = Expected(OPEN, due=GONE, now=now, unattached=True)
            actor, detail, event = "client", "client disconnected", CANCELLED
        entry = AuditEntry(due.task_id, now, event, actor, detail)
        return await self._call(
            self.store.transition(due.task_id, guard, changes, entry, f"task.{event}")
        )

    async def _escalate(self, task_id: str, now: float) -> Task | None:
        """Nobody claimed the task in time: its ``escalate_to`` groups see it too.
        The guard on the stored deadline makes one process's write win."""
        task = await self._call(self.store.get(task_id))
        if task is None or task.escalate_at is None:
            return None
        groups = tuple(dict.fromkeys((*task.groups, *task.escalate_to)))
        changes = {"groups": groups, "escalate_at": None}
        guard = Expected((PENDING,), due=ESCALATE, now=now)
        entry = AuditEntry(task_id, now, "escalated", "timeout", ", ".join(task.escalate_to))
        return await self._call(
            self.store.transition(task_id, guard, changes, entry, "task.escalated")
        )

    async def sweep(self) -> None:
        """Act on every deadline the store says is due (any process's tasks)."""
        for due in await self._call(self.store.due(time.time())):
            await self._act_quietly(due)

    # -- local timers -------------------------------------------------------------

    def set(self, task_id: str, deadline: str, at: float) -> None:
        """(Re)set the timer for one of a task's deadlines."""
        self._timers.set(task_id, deadline, at)

    def cancel(self, task_id: str, deadline: str) -> None:
        self._timers.cancel(task_id, deadline)

    def cancel_all(self, task_id: str) -> None:
        """The task finished: none of its deadlines matters any more."""
        for deadline in DEADLINES:
            self.cancel(task_id, deadline)

    def stop(self) -> None:
        self._timers.clear()

    def _fired(self, task_id: str, deadline: str) -> None:
        task = asyncio.get_running_loop().create_task(self._act_quietly(Due(task_id, deadline)))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _act_quietly(self, due: Due) -> None:
        try:
            await self.act(due)
        except StoreUnavailable as error:
            log.warning("deadline %s of %s not acted on yet: %s", due.deadline, due.task_id, error)
