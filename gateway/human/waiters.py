"""The tasks clients of this process wait on, kept in step with the store.

A waiter is woken by a future, resolved when the store reports that its task
finished: at once for a change made in this process (the change carries the
row), by the store's notifications for one made in another (the row is read
first, in order, on one background task). ``check`` re-reads them all, a safety
net for a missed notification. ``TaskQueue`` owns one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from gateway.events.fanout import Events
from gateway.human.deadlines import Deadlines, StoreCall
from gateway.human.store import EXPIRY, Change, Store, StoreUnavailable
from gateway.human.task import Task

CHECK_BATCH = 1000  # task ids per finished_among query


@dataclass(slots=True, eq=False)
class Waiting:
    """A task that clients of this process wait on."""

    task: Task  # as the store last said
    done: asyncio.Future[Task]
    clients: int = 0  # clients of this process (the store counts every process's)


class Waiters:
    """Waiting tasks by id and by dedup key; what the store says reaches them here."""

    def __init__(self, store: Store, call: StoreCall, events: Events, deadlines: Deadlines) -> None:
        self.store = store
        self.events = events
        self.deadlines = deadlines
        self._call = call
        self._by_id: dict[str, Waiting] = {}
        self._by_dedup: dict[str, Waiting] = {}
        self._remote: asyncio.Queue[Change] = asyncio.Queue()

    def __iter__(self) -> Iterator[Waiting]:
        return iter(list(self._by_id.values()))

    def for_dedup(self, dedup: str) -> Waiting | None:
        """The unfinished waiter for this dedup key, if any."""
        waiting = self._by_dedup.get(dedup)
        return waiting if waiting is not None and not waiting.done.done() else None

    def track(self, task: Task) -> Waiting:
        """The waiter for an open task (made once, with its expiry timer)."""
        waiting = self._by_id.get(task.id)
        if waiting is None:
            waiting = Waiting(task, asyncio.get_running_loop().create_future())
            self._by_id[task.id] = waiting
            self._by_dedup[task.dedup] = waiting
            self.deadlines.set(task.id, EXPIRY, task.expires_at)
        return waiting

    def forget(self, waiting: Waiting) -> None:
        task = waiting.task
        if self._by_id.get(task.id) is waiting:
            del self._by_id[task.id]
        if self._by_dedup.get(task.dedup) is waiting:
            del self._by_dedup[task.dedup]

    def learn(self, task: Task) -> None:
        """Cache what the store said; a finished task wakes its waiters here."""
        waiting = self._by_id.get(task.id)
        if waiting is None or waiting.done.done():
            return
        waiting.task = task
        if not task.is_open:
            self.forget(waiting)
            self.deadlines.cancel_all(task.id)
            waiting.done.set_result(task)

    async def check(self) -> None:
        """Re-read the waited-on tasks and wake those that finished."""
        ids = list(self._by_id)
        for start in range(0, len(ids), CHECK_BATCH):
            batch = ids[start : start + CHECK_BATCH]
            for task in await self._call(self.store.finished_among(batch)):
                self.learn(task)

    # -- the store's notifications ------------------------------------------------

    def heard(self, change: Change) -> None:
        """A change the store reports: with the row in hand (this process),
        at once; else read the row first, in order, on one background task."""
        if change.task is None:
            self._remote.put_nowait(change)
            return
        self.learn(change.task)
        self.events.publish(change.event, change.task.summary())

    async def learn_remote_changes(self) -> None:
        """Runs for the process's life: other processes' changes, one by one."""
        while True:
            change = await self._remote.get()
            if change.event == "store.reconnected":  # notifications may have been missed
                with contextlib.suppress(StoreUnavailable):
                    await self.check()
                continue
            if change.task_id not in self._by_id and not self.events.subscribed:
                continue
            try:
                task = await self._call(self.store.get(change.task_id))
            except StoreUnavailable:
                continue  # the sweep catches up
            if task is not None:
                self.learn(task)
                self.events.publish(change.event, task.summary(), here=False)
