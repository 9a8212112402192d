"""Waiting on a person without a task or a timer per waiting client.

A client waiting on a person is a request whose own task waits for the client to
leave; something else must end that wait when the task's outcome arrives, the
server stops or (streaming clients) a keep-alive is due. A watcher task per client
and an ``asyncio.wait`` per keep-alive did that at about 1.1 KB per waiting client
(bench/human.py --trace). Here the request's task waits itself, and the event
interrupts the wait: ``Wake.now`` cancels the task while it waits, and
``Wake.took_back`` takes the cancel back. One ``KeepAlive`` per keep-alive
period ticks every streaming waiter of the process from one loop timer.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol


class Wakers(Protocol):
    """Something that wakes the waiters it holds: a ``KeepAlive``, or a plain set
    whose owner calls ``now`` on each (e.g. when the server stops)."""

    def add(self, wake: Wake, /) -> None: ...

    def discard(self, wake: Wake, /) -> None: ...


class Wake:
    """Interrupts the waits of the task that made it: when ``future`` is done, or when
    one of ``wakers`` says so. A context manager that joins and leaves them.

    Shared events go through ``wakers`` rather than a done-callback on one shared
    future: removing one of 10,000 callbacks scans them all, a set does not.
    """

    __slots__ = ("armed", "future", "task", "wakers", "woken")

    def __init__(self, future: asyncio.Future[Any], *wakers: Wakers | None) -> None:
        task = asyncio.current_task()
        assert task is not None, "Wake needs a running task"
        self.task = task
        self.future = future
        self.wakers = tuple(waker for waker in wakers if waker is not None)
        self.armed = False  # the task is in an armed wait now
        self.woken = False

    def __enter__(self) -> Wake:
        self.future.add_done_callback(self.now)
        for waker in self.wakers:
            waker.add(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.future.remove_done_callback(self.now)
        for waker in self.wakers:
            waker.discard(self)

    def now(self, _: Any = None) -> None:
        """End the current wait (a future's done-callback, or a keep-alive tick).
        Outside a wait this does nothing: the waiter checks its events before the next."""
        if self.armed and not self.woken:
            self.woken = True
            self.task.cancel()

    def arm(self) -> None:
        """The task is about to wait: from now until ``disarm``, ``now`` cancels it.

        Wait with ``await`` right after, in ``try``; in ``except CancelledError``
        ask ``took_back``; ``disarm`` in ``finally``. The cancel ``now`` sends is
        delivered at that await, since ``now`` acts only while the task is
        suspended there. (Inline, not a helper coroutine: its frame would be held
        by every waiting client.)
        """
        self.armed, self.woken = True, False

    def disarm(self) -> None:
        self.armed = False

    def took_back(self) -> bool:
        """In ``except CancelledError`` after an armed wait: ``True`` when the cancel
        was this Wake's (taken back: the waiter goes on), ``False`` when someone
        else cancelled the task too (the waiter re-raises)."""
        if not self.woken or self.task.cancelling() > 1:
            return False
        self.task.uncancel()
        return True


class KeepAlive:
    """Wakes each registered waiter every ``period_s``, from one loop timer.

    Waiters are checked four times a period, so a tick comes ``period_s`` to
    ``1.25 * period_s`` after the last one (or after the waiter joined).
    """

    def __init__(self, period_s: float) -> None:
        self.period_s = period_s
        self._due: dict[Wake, float] = {}  # waiter -> loop time of its next tick
        self._handle: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._due)

    def add(self, wake: Wake) -> None:
        loop = asyncio.get_running_loop()
        self._due[wake] = loop.time() + self.period_s
        if self._handle is None:
            self._handle = loop.call_later(self.period_s / 4, self._tick)

    def discard(self, wake: Wake) -> None:
        self._due.pop(wake, None)

    def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        for wake, due in list(self._due.items()):
            if due <= now and wake.armed:
                self._due[wake] = now + self.period_s
                wake.now()
        self._handle = loop.call_later(self.period_s / 4, self._tick) if self._due else None
