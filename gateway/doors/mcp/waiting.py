"""Putting a call's work to the human service and waiting for its outcome.

The service makes the task (or finds the one an earlier attempt of the same call
made) and yields a ``Tick`` every ``[mcp] progress_s`` while nobody has answered:
a client that sent a ``progressToken`` hears how long it has waited. When the
client cancels the call (``notifications/cancelled``) or goes away, the SDK
cancels the handler; the service then hears that its client is gone (the
``gone`` callable returns), detaches it, and with nobody else waiting the task is
cancelled after the re-attach grace, as on the other doors.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import anyio

from gateway.doors.mcp.tools import RequestPermission
from gateway.doors.mcp.work import API, Caller, Run
from gateway.errors import GatewayError
from gateway.human.service import HumanService
from gateway.human.work import Answered, ClientLeft, DraftSent, Ended, HumanRoute, Tick, Work

log = logging.getLogger("gateway.mcp")
Progress = Callable[[float, float], Awaitable[None]]  # (seconds waited, timeout)
Final = Answered | Ended | ClientLeft


class Asker:
    """Hands calls to the human service and waits for a person."""

    def __init__(self, human: HumanService, route: HumanRoute) -> None:
        self.human = human
        self.route = route  # timeout_s: [mcp] timeout_s; keepalive_s: [mcp] progress_s

    async def ask(
        self, work: Work, progress: Progress | None, left: asyncio.Event | None = None
    ) -> Final:
        """The final outcome; a cancelled call raises ``CancelledError`` once its client
        is detached. ``left``, once set, says the client cancelled the call (cancels.py):
        the outcome is then ``ClientLeft``."""
        left = left or asyncio.Event()

        async def gone() -> None:
            await left.wait()

        # The service runs in a task of its own: when the SDK cancels this handler,
        # it still hears the client leave and detaches it before the call ends.
        serving = asyncio.ensure_future(self._serve(work, gone, progress))
        try:
            return await asyncio.shield(serving)
        except asyncio.CancelledError:
            left.set()
            with anyio.CancelScope(shield=True):
                await serving
            raise

    async def _serve(self, work: Work, gone, progress: Progress | None) -> Final:
        started = time.monotonic()
        timeout_s = work.timeout_s or self.route.timeout_s
        final: Final | None = None
        async for outcome in self.human.serve(work, self.route, gone):
            if isinstance(outcome, Tick):
                if progress is not None:
                    try:
                        await progress(time.monotonic() - started, timeout_s)
                    except Exception as error:  # the client may be leaving: keep waiting
                        log.debug("progress not sent: %s", error)
            elif isinstance(outcome, DraftSent):  # only hybrid routes hold a draft
                raise AssertionError("an MCP task has no model draft")
            else:
                final = outcome
        assert final is not None
        return final

    async def run_of(self, arguments: RequestPermission, caller: Caller) -> Run | None:
        """The run a permission prompt belongs to: the task whose answer made the tool
        use (Claude Code with ``--model human``, one key), its session and its goal."""
        if not arguments.tool_use_id:
            return None
        # The Anthropic door hands a stored call_X out as toolu_X (doors/anthropic/shapes.py).
        use = arguments.tool_use_id
        owner = caller.client.hex()
        for minted in (use, "call_" + use.removeprefix("toolu_")):
            step = self.human.steps.minted(owner, API, minted)
            if step is not None:
                try:
                    task = await self.human.queue.get(step.task_id)
                except GatewayError:  # gone since (retention): the session is enough
                    return Run(step.session, step.step, step.task_id, "")
                return Run(step.session, step.step, step.task_id, task.preview)
        return None
