"""Waiting without a task per waiter (gateway/human/wake.py), in process."""

from __future__ import annotations

import asyncio

import pytest

from gateway.human.wake import KeepAlive, Wake


async def waited(wake: Wake, awaitable) -> bool:
    """The waiting pattern HumanService.serve uses: True when ``awaitable`` finished,
    False when the wake interrupted it."""
    wake.arm()
    try:
        await awaitable
        return True
    except asyncio.CancelledError:
        if not wake.took_back():
            raise
        return False
    finally:
        wake.disarm()


async def test_a_done_future_interrupts_the_wait_and_leaves_the_task_uncancelled():
    outcome = asyncio.get_running_loop().create_future()
    client_left = asyncio.Event()  # never set: the client stays

    async def waiter() -> tuple[bool, int, str]:
        with Wake(outcome) as wake:
            finished = await waited(wake, client_left.wait())
        await asyncio.sleep(0)  # a later await is not cancelled
        return finished, asyncio.current_task().cancelling(), outcome.result()

    task = asyncio.create_task(waiter())
    await asyncio.sleep(0.01)
    outcome.set_result("answered")
    assert await asyncio.wait_for(task, 5) == (False, 0, "answered")


async def test_the_awaited_thing_finishing_first_wins():
    async def waiter() -> bool:
        with Wake(asyncio.get_running_loop().create_future()) as wake:
            return await waited(wake, asyncio.sleep(0.01))

    assert await asyncio.wait_for(asyncio.create_task(waiter()), 5) is True


async def test_a_wake_after_the_wait_does_nothing():
    async def waiter() -> str:
        wakers: set[Wake] = set()
        with Wake(asyncio.get_running_loop().create_future(), wakers) as wake:
            await waited(wake, asyncio.sleep(0))
            for joined in wakers:
                joined.now()  # e.g. the server stopping while the door sends a keep-alive
            await asyncio.sleep(0.01)
        assert not wakers
        return "not cancelled"

    assert await asyncio.wait_for(asyncio.create_task(waiter()), 5) == "not cancelled"


async def test_someone_elses_cancel_still_cancels():
    started = asyncio.Event()

    async def waiter() -> None:
        with Wake(asyncio.get_running_loop().create_future()) as wake:
            started.set()
            await waited(wake, asyncio.Event().wait())

    task = asyncio.create_task(waiter())
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)


async def test_keep_alive_ticks_each_waiter_about_once_a_period():
    ticker = KeepAlive(0.04)
    ticks: list[float] = []
    loop = asyncio.get_running_loop()

    async def waiter() -> None:
        with Wake(loop.create_future(), ticker) as wake:
            while len(ticks) < 4:
                if not await waited(wake, asyncio.Event().wait()):
                    ticks.append(loop.time())

    start = loop.time()
    await asyncio.wait_for(asyncio.create_task(waiter()), 5)
    gaps = [b - a for a, b in zip([start, *ticks], ticks, strict=False)]
    assert all(gap >= 0.04 for gap in gaps), gaps
    assert len(ticker) == 0
