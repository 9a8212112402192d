"""The task queue's deadlines on one loop timer (gateway/human/timers.py), in process."""

from __future__ import annotations

import asyncio
import time

from gateway.human.timers import Timers


async def test_deadlines_fire_in_order_once_due_and_cancelled_ones_never():
    fired: list[tuple[str, str, float]] = []
    all_fired = asyncio.Event()

    def fire(task_id: str, deadline: str) -> None:
        fired.append((task_id, deadline, time.time()))
        if len(fired) == 4:
            all_fired.set()

    timers = Timers(fire)
    start = time.time()
    timers.set("t3", "expiry", start + 0.15)
    timers.set("t1", "expiry", start + 0.05)
    timers.set("t2", "lease", start + 0.10)
    timers.set("t4", "expiry", start + 0.02)
    timers.cancel("t4", "expiry")  # cancelled before it was due
    timers.set("t2", "gone", start + 0.30)
    timers.set("t2", "gone", start + 0.12)  # moved earlier: fires once, at the new time
    await asyncio.wait_for(all_fired.wait(), 5)
    await asyncio.sleep(max(start + 0.35 - time.time(), 0))  # past the moved one's old time
    assert [(task, deadline) for task, deadline, _ in fired] == [
        ("t1", "expiry"),
        ("t2", "lease"),
        ("t2", "gone"),
        ("t3", "expiry"),
    ]
    due = {"t1": 0.05, "t2": 0.10, "t3": 0.15}
    for task, deadline, at in fired:
        assert at >= start + (0.12 if deadline == "gone" else due[task])  # never early
    assert len(timers) == 0
    timers.clear()


async def test_many_cancelled_deadlines_do_not_pile_up():
    timers = Timers(lambda task_id, deadline: None)
    later = time.time() + 3600
    for index in range(5000):
        timers.set(f"t{index}", "expiry", later)
        timers.cancel(f"t{index}", "expiry")
    assert len(timers) == 0
    assert len(timers._heap) <= 1024 + 2  # compacted as it went
    timers.clear()
