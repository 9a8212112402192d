"""The human route on this door: the request (in conversation form) becomes a task,
the client waits, and gets the person's answer as a Messages response.

The task is made by the human service exactly as for a Chat Completions request
(same dedup key rules, steps, sessions, validation of the answer); waiting and
delivery are this door's own, because the answer goes out in Anthropic's shape:
streaming clients get ``ping`` events while the person works (the status line goes
out with the first), a client that leaves is detached (its task is cancelled after
the re-attach grace), a retry of the same request re-attaches to its task.
"""

from __future__ import annotations

import asyncio

import orjson

from gateway.call import Call
from gateway.doors.anthropic import shapes
from gateway.doors.anthropic.convert import computer_name
from gateway.doors.anthropic.replies import Client
from gateway.errors import GatewayError
from gateway.human.outcome import HUMAN_ROUTE, Escalation, outcome_error
from gateway.human.queue import Waiting
from gateway.human.serve import CLIENT_CLOSED, RESTART_RETRY_AFTER_S, HumanService
from gateway.human.task import ANSWERED, EXPIRED, Task
from gateway.metrics import Metrics
from gateway.routing import HumanRoute
from gateway.streams import client_gone


class People:
    """Serves this door's calls on human routes (and hybrid calls sent to a person)."""

    def __init__(self, human: HumanService, metrics: Metrics) -> None:
        self.human = human
        self.queue = human.queue
        self.metrics = metrics

    async def serve(
        self, client: Client, call: Call, route: HumanRoute, why: Escalation = HUMAN_ROUTE
    ) -> int:
        """Make or find the task for this call, wait for its outcome and reply."""
        found = await self.queue.find(self.human.dedup_key(call))
        if isinstance(found, Task):
            return await self.deliver(client, call, found, why)
        if found is not None:
            await self.queue.attach(found)
            waiting = found
        else:
            task, request = await self.human.new_task(call, route, why)
            waiting = await self.queue.create(task, request)
            if waiting.task.id == task.id:  # else a concurrent retry had made it
                self.metrics.escalated(call.head.model, why.reason)
        gone = asyncio.ensure_future(client_gone(call))
        stopping = self.human.stopping()
        keepalive_s = route.keepalive_s if call.head.stream else None
        try:
            while not waiting.done.done():
                await asyncio.wait(
                    (waiting.done, gone, stopping),
                    timeout=keepalive_s,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if waiting.done.done():
                    break
                if gone.done():
                    await self.queue.detach(waiting)
                    return CLIENT_CLOSED
                if stopping.done():
                    return await self.restarting(client, waiting, why)
                await client.ping(why.headers(waiting.task, "human"))
        finally:
            gone.cancel()
        return await self.deliver(client, call, waiting.done.result(), why)

    async def deliver(self, client: Client, call: Call, task: Task, why: Escalation) -> int:
        """A finished task's outcome: the answer, the model's held reply, or an error."""
        if task.status == EXPIRED and why.timeout_reply is not None:
            held = why.timeout_reply
            await client.raw(held.status, [*held.headers, *why.headers(task, "draft")], held.body)
            return held.status
        if task.status != ANSWERED:
            status = await client.error(outcome_error(task), why.headers(task, "human"))
            await self.queue.delivered(task)
            return status
        assert task.result is not None
        body = shapes.message(task.result, computer_name(call.data))
        headers = why.headers(task, self.human.answered_by(task))
        if call.head.stream:
            await client.stream(headers, shapes.stream(body))
        else:
            await client.json(200, headers, orjson.dumps(body))
        await self.queue.delivered(task)
        return 200

    async def restarting(self, client: Client, waiting: Waiting, why: Escalation) -> int:
        """The server is stopping: a retryable error; the retry re-attaches to the task."""
        error = GatewayError(
            503,
            "The gateway is restarting; retry this request to get the person's answer.",
            type="api_error",
            code="gateway_restarting",
            retry=True,
            headers={"retry-after": str(RESTART_RETRY_AFTER_S)},
        )
        return await client.error(error, why.headers(waiting.task, "human"))
