"""One loop timer for all of a process's task deadlines: a heap of due times.

Every waiting task has a deadline or more (its expiry, a claim's lease, the
re-attach grace, an escalation). A loop timer handle each cost about 800 B per
waiting task (bench/human.py --trace: the handle, its callback's argument, the
key); here a deadline is a heap entry and a dict entry (about 250 B), and one
handle is armed for the earliest. A cancelled deadline leaves its heap entry
behind until it surfaces (it no longer matches the dict) or the heap is compacted.

Times are wall-clock seconds (``time.time()``), as the store keeps them; a
deadline fires once its time has passed.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import time
from collections.abc import Callable

Key = tuple[str, str]  # (task id, deadline name)


class Timers:
    """Deadlines by key; ``fire(task_id, deadline)`` runs once each is due."""

    def __init__(self, fire: Callable[[str, str], None]) -> None:
        self._fire = fire
        self._due: dict[Key, float] = {}
        self._heap: list[tuple[float, Key]] = []
        self._handle: asyncio.TimerHandle | None = None
        self._armed_for = math.inf  # the due time the handle is armed for

    def __len__(self) -> int:
        return len(self._due)

    def set(self, task_id: str, deadline: str, at: float) -> None:
        """Fire at ``at`` (replacing this key's earlier time, if any)."""
        key = (task_id, deadline)
        self._due[key] = at
        heapq.heappush(self._heap, (at, key))
        if at < self._armed_for:
            self._arm(at)
        if len(self._heap) > 2 * len(self._due) + 1024:  # mostly cancelled entries
            self._heap = [(at, key) for key, at in self._due.items()]
            heapq.heapify(self._heap)

    def cancel(self, task_id: str, deadline: str) -> None:
        self._due.pop((task_id, deadline), None)

    def clear(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle, self._armed_for = None, math.inf
        self._due.clear()
        self._heap.clear()

    def _arm(self, at: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        delay = max(at - time.time(), 0) + 0.001  # the stored deadline must have passed
        self._handle = asyncio.get_running_loop().call_later(delay, self._run)
        self._armed_for = at

    def _run(self) -> None:
        self._handle, self._armed_for = None, math.inf
        now = time.time()
        heap, due = self._heap, self._due
        while heap and (heap[0][0] <= now or due.get(heap[0][1]) != heap[0][0]):
            at, key = heapq.heappop(heap)
            if due.get(key) == at and at <= now:
                del due[key]
                self._fire(*key)
        if heap:
            self._arm(heap[0][0])
