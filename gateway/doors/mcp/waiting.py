"""Making a call's task and waiting for its outcome, with progress and cancellation.

A call waits on its task's future, waking every ``[mcp] progress_s`` to tell a
client that sent a ``progressToken`` it is still waiting. When the client
cancels the call (``notifications/cancelled``) or goes away, the SDK cancels
the handler: the client is detached, and with nobody else waiting the task is
cancelled after the re-attach grace, as on the other doors. A retry of the same
call (same client, same arguments, same ``x-session-id``) within the grace
re-attaches to the task instead of making a new one.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

from gateway.doors.mcp.work import API, MODEL, McpWork
from gateway.human.outcome import HUMAN_ROUTE
from gateway.human.queue import TaskQueue
from gateway.human.request import prompt_tokens
from gateway.human.service import HumanService
from gateway.human.steps import SESSION_WORDS
from gateway.human.task import PENDING, Task

Progress = Callable[[float, float], Awaitable[None]]  # (seconds waited, timeout)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who calls: the client's key digest (``b""`` without keys) and its session header."""

    client: bytes
    session: str | None = None


class Restarting(Exception):
    """The gateway is stopping: the call should be made again (it re-attaches)."""


class Asker:
    """Puts calls on the queue and waits for a person."""

    def __init__(self, human: HumanService, progress_s: float) -> None:
        self.human = human
        self.queue: TaskQueue = human.queue
        self.progress_s = progress_s

    async def ask(
        self, work: McpWork, caller: Caller, timeout_s: float, progress: Progress | None
    ) -> Task:
        """The finished task (answered, rejected, expired); raises ``Restarting``."""
        dedup = self.dedup_key(work, caller)
        found = await self.queue.find(dedup)
        if isinstance(found, Task):
            await self.queue.delivered(found)
            return found
        if found is not None:
            await self.queue.attach(found)
            waiting = found
        else:
            waiting = await self.queue.create(
                self.new_task(work, caller, dedup, timeout_s), work.body
            )
        stopping = self.human.stopping()
        started = time.monotonic()
        try:
            while not waiting.done.done():
                await asyncio.wait(
                    (waiting.done, stopping),
                    timeout=self.progress_s,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if waiting.done.done():
                    break
                if stopping.done():
                    raise Restarting  # the queue counts this client gone as it stops
                if progress is not None:
                    await progress(time.monotonic() - started, timeout_s)
        except asyncio.CancelledError:
            # The client cancelled or left; the SDK cancelled this handler. The
            # detach must still happen, so it runs shielded from that cancellation.
            with anyio.CancelScope(shield=True):
                await self.queue.detach(waiting)
            raise
        task = waiting.done.result()
        await self.queue.delivered(task)
        return task

    def dedup_key(self, work: McpWork, caller: Caller) -> str:
        """Same client, same session header, same call: the same request, retried."""
        digest = hashlib.sha256(caller.client)
        digest.update(b"mcp\0" + (caller.session or "").encode() + b"\0")
        digest.update(work.body)
        return digest.hexdigest()

    @staticmethod
    def session_name(work: McpWork) -> str:
        """A call nobody named a session for is one of its own, named by what it asks."""
        words = work.preview[:SESSION_WORDS].rstrip()
        more = "…" if len(work.preview) > SESSION_WORDS else ""
        return f"{words}{more} #{secrets.token_hex(2)}"

    def new_task(self, work: McpWork, caller: Caller, dedup: str, timeout_s: float) -> Task:
        now = time.time()
        owner = caller.client.hex()
        # A permission prompt about a tool use a person answered through this gateway
        # (Claude Code with --model human: the tool use id is one the gateway minted)
        # belongs to that run: its session, right after that step.
        earlier = None
        if work.tool_use_id:
            # The Anthropic door hands a stored call_X out as toolu_X (doors/anthropic/shapes.py).
            minted = work.tool_use_id, "call_" + work.tool_use_id.removeprefix("toolu_")
            found = (self.human.steps.minted(owner, API, one) for one in minted)
            earlier = next((step for step in found if step is not None), None)
        return Task(
            id="task_" + secrets.token_hex(8),
            status=PENDING,
            api=API,
            model=MODEL,
            reason=HUMAN_ROUTE.reason,
            session=caller.session or (earlier.session if earlier else self.session_name(work)),
            created_at=now,
            expires_at=now + timeout_s,
            dedup=dedup,
            owner=owner,
            preview=work.preview,
            prompt_tokens=prompt_tokens(API, work.data),
            output_format=work.output_format,
            kind=work.kind,
            step=earlier.step if earlier else 1,
            follows=earlier.task_id if earlier else None,
        )
