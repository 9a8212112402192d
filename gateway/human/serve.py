"""Serving one client on the human route, and taking one reviewer's answer.

A client's request becomes a task (or re-attaches to the task its earlier
attempt made), waits on the task's future, and gets the answer in the shape a
model would have produced. Streaming clients get ``: keep-alive`` comments
while they wait; the status line is held back until the first one, so an
answer or rejection that comes quickly still gets its proper status.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import orjson

from gateway.call import Call
from gateway.config import HumanConfig, RubricConfig
from gateway.errors import GatewayError, not_found, unprocessable
from gateway.human import answers
from gateway.human.formats import output_format_of
from gateway.human.grading import Grading
from gateway.human.outcome import HUMAN_ROUTE, Escalation, outcome_error
from gateway.human.patterns import bounded_patterns
from gateway.human.queue import TaskQueue, Waiting
from gateway.human.request import (
    choices_wanted,
    kind_of,
    normalise_tools,
    preview_of,
    prompt_tokens,
    responses_input,
    session_of,
)
from gateway.human.steps import Steps, session_name
from gateway.human.task import ANSWERED, EXPIRED, GRADE, PENDING, POLLED, Task
from gateway.human.validate import checked_replies, parse_answer
from gateway.metrics import Metrics
from gateway.routing import HumanRoute
from gateway.store.base import StoredResponse
from gateway.streams import (
    client_gone,
    keep_alive,
    send_error,
    send_json,
    send_rest,
    send_stream,
)

CLIENT_CLOSED = 499
RESTART_RETRY_AFTER_S = 2  # a restart takes about a second
# No client waits on a grade task: a sample is still worth grading days later, and an
# unbounded queue of them is worth nothing, so they expire after a week.
GRADE_EXPIRY_S = 7 * 24 * 3600


class HumanService:
    """The human route's two sides: waiting clients and answering reviewers."""

    def __init__(
        self,
        queue: TaskQueue,
        metrics: Metrics,
        settings: HumanConfig,
        rubrics: Mapping[str, RubricConfig] | None = None,
    ) -> None:
        self.queue = queue
        self.grading = Grading(queue.store, metrics, rubrics or {})
        self.store = queue.store
        self.metrics = metrics
        self.settings = settings
        self.steps = Steps()
        self._stopping: asyncio.Future[None] | None = None

    # -- the client's side --------------------------------------------------------

    async def serve(self, call: Call, route: HumanRoute, why: Escalation = HUMAN_ROUTE) -> int:
        """Make or find the task for this call, wait for its outcome and reply."""
        found = await self.queue.find(self.dedup_key(call))
        if isinstance(found, Task):
            return await self.reply(call, found, why)
        if found is not None:
            await self.queue.attach(found)
            waiting = found
        else:
            task, request = await self.new_task(call, route, why)
            waiting = await self.queue.create(task, request)
            if waiting.task.id == task.id:  # else a concurrent retry had made it
                self.metrics.escalated(call.head.model, why.reason)
        if call.head.stream:
            return await self._wait_streaming(call, waiting, route.keepalive_s, why)
        return await self._wait(call, waiting, why)

    async def sample(
        self,
        call: Call,
        route: HumanRoute,
        draft: dict[str, Any],
        confidence: float | None,
        rubric: str | None,
        reviews: int,
    ) -> Task:
        """A copy of a call whose model answer went to the client, as a task that grades
        the answer (shadow review). Nobody waits on it, so no retry attaches to it."""
        why = Escalation("shadow", "hybrid", draft=draft, confidence=confidence)
        task, request = await self.new_task(call, route, why)
        task = replace(
            task,
            kind=GRADE,
            dedup=POLLED + task.id,
            rubric=rubric,
            reviews=reviews,
            expires_at=task.created_at + GRADE_EXPIRY_S,
        )
        waiting = await self.queue.create(task, request)
        return waiting.task

    def dedup_key(self, call: Call) -> str:
        """Same client, same session header, same body: the same request, retried."""
        digest = hashlib.sha256(call.client)
        digest.update(call.api.encode())  # the same body to both APIs is two requests
        digest.update((call.header(b"x-session-id") or "").encode())
        digest.update(call.body)
        return digest.hexdigest()

    async def new_task(self, call: Call, route: HumanRoute, why: Escalation) -> tuple[Task, bytes]:
        data, request, chained = call.data, call.body, None
        if call.api == "responses" and data.get("previous_response_id"):
            resolved = await self.resolve_chain(call)
            if resolved is not None:
                data, chained = resolved
                request = orjson.dumps(data)
            elif why.route == "human":
                raise not_found(
                    f"Previous response with id '{data['previous_response_id']}' not found.",
                    code="previous_response_not_found",
                )
            # On a hybrid route the chain may live upstream: the task shows this turn.
        owner = call.client.hex()
        earlier = self.steps.follow(owner, call.api, data, call.data.get("previous_response_id"))
        session = session_of(call.api, data, call.header(b"x-session-id"), chained)
        if not call.header(b"x-session-id") and earlier is not None:
            session = earlier.session
        tools = normalise_tools(call.api, data)
        now = time.time()
        task = Task(
            id="task_" + secrets.token_hex(8),
            status=PENDING,
            api=call.api,
            model=call.head.model,
            reason=why.reason,
            session=session or session_name(call.api, data),
            created_at=now,
            expires_at=now + route.timeout_s,
            dedup=self.dedup_key(call),
            owner=owner,
            stream=call.head.stream,
            preview=preview_of(call.api, data),
            prompt_tokens=prompt_tokens(call.api, data),
            tools=tools,
            tool_choice=data.get("tool_choice"),
            output_format=output_format_of(call.api, data),
            n=choices_wanted(call.api, data),
            draft=why.draft,
            confidence=why.confidence,
            kind=kind_of(call.api, data, tools),
            step=earlier.step + 1 if earlier else 1,
            follows=earlier.task_id if earlier else None,
            groups=route.groups,
            escalate_at=now + route.escalate_after_s if route.escalate_after_s else None,
            escalate_to=route.escalate_to,
        )
        return task, request

    async def resolve_chain(self, call: Call) -> tuple[dict[str, Any], str] | None:
        """The request with the earlier turns of its ``previous_response_id`` put in front,
        and the chain's session; ``None`` when no person made that response."""
        stored = await self.store.get_response(call.data["previous_response_id"])
        if stored is None or stored.owner != call.client.hex():
            return None
        earlier = orjson.loads(stored.body)["output"]
        data = {**call.data, "input": [*stored.input, *earlier, *responses_input(call.data)]}
        return data, stored.session

    async def _wait(self, call: Call, waiting: Waiting, why: Escalation) -> int:
        # One watcher task woken by callbacks, not asyncio.wait: this runs once per
        # waiting client, and asyncio.wait's bookkeeping costs ~1.5 KB each
        # (bench/human.py). The watcher ends when the client leaves; an outcome or
        # a stopping server cancels it.
        watcher = asyncio.ensure_future(client_gone(call))
        stopping = self.stopping()

        def wake(_: asyncio.Future) -> None:
            watcher.cancel()

        waiting.done.add_done_callback(wake)
        stopping.add_done_callback(wake)
        try:
            await watcher
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # this request itself is being cancelled
        finally:
            waiting.done.remove_done_callback(wake)
            stopping.remove_done_callback(wake)
            watcher.cancel()
        if waiting.done.done():
            return await self.reply(call, waiting.done.result(), why)
        if stopping.done() and watcher.cancelled():
            return await self._restarting(call, waiting, why)
        await self.queue.detach(waiting)
        return CLIENT_CLOSED

    async def _wait_streaming(
        self, call: Call, waiting: Waiting, keepalive_s: float, why: Escalation
    ) -> int:
        disconnect = asyncio.ensure_future(client_gone(call))
        stopping = self.stopping()
        try:
            while not waiting.done.done():
                await asyncio.wait(
                    (waiting.done, disconnect, stopping),
                    timeout=keepalive_s,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if waiting.done.done():
                    break
                if disconnect.done():
                    await self.queue.detach(waiting)
                    return CLIENT_CLOSED
                if stopping.done():
                    return await self._restarting(call, waiting, why)
                await keep_alive(call, why.headers(waiting.task, "human"))
        finally:
            disconnect.cancel()
        return await self.reply(call, waiting.done.result(), why)

    def stopping(self) -> asyncio.Future[None]:
        """Done once the server is stopping (see ``let_clients_go``)."""
        if self._stopping is None:
            self._stopping = asyncio.get_running_loop().create_future()
        return self._stopping

    def let_clients_go(self) -> None:
        """The server is stopping: answer every waiting client with a retryable 503.

        Otherwise a graceful stop would wait until every open task is answered.
        The tasks stay stored and open; the SDK retries after ``retry-after`` and
        its retry re-attaches to the task once the gateway is back.
        """
        stopping = self.stopping()
        if not stopping.done():
            stopping.set_result(None)

    async def _restarting(self, call: Call, waiting: Waiting, why: Escalation) -> int:
        error = GatewayError(
            503,
            "The gateway is restarting; retry this request to get the person's answer.",
            type="api_error",
            code="gateway_restarting",
            retry=True,
            headers={"retry-after": str(RESTART_RETRY_AFTER_S)},
        )
        await send_error(call, error, why.headers(waiting.task, "human"))
        return error.status

    async def reply(self, call: Call, task: Task, why: Escalation = HUMAN_ROUTE) -> int:
        """Send a finished task's outcome: the answer, or the error that ended it.

        A stream whose status line went out with a keep-alive gets the rest of
        the stream: the answer's events, the model's held-back reply, or an
        error as a ``data:`` event.
        """
        if task.status == EXPIRED and why.timeout_reply is not None:
            held = why.timeout_reply
            headers = [*held.headers, *why.headers(task, "draft")]
            await send_rest(call, held.status, headers, held.body)
            return held.status
        if task.status != ANSWERED:
            error = outcome_error(task)
            await send_error(call, error, why.headers(task, "human"))
            await self.queue.delivered(task)
            return error.status
        assert task.result is not None
        answered_by = self.answered_by(task)
        headers = why.headers(task, answered_by)
        if call.head.stream:
            await send_stream(call, headers, answers.stream_of(task.api, task.result, call.data))
        else:
            await send_json(call, 200, headers, orjson.dumps(task.result))
        await self.queue.delivered(task)
        return 200

    @staticmethod
    def answered_by(task: Task) -> str:
        return "draft" if (task.answer or {}).get("accept_draft") else "human"

    async def stored_response(self, response_id: str, client: bytes) -> bytes | None:
        """A human-made response, for ``GET /v1/responses/{id}`` by the client that made it."""
        stored = await self.store.get_response(response_id)
        if stored is None or stored.owner != client.hex():
            return None
        return stored.body

    # -- the reviewer's side ------------------------------------------------------

    async def answer(self, task_id: str, reviewer: str, body: bytes) -> Task:
        """Check an answer against the task's tools, shape it, store it, wake the client."""
        answer = parse_answer(body)
        task = await self.queue.check_holder(task_id, reviewer)
        if answer.accept_draft:
            if task.draft is None:
                raise unprocessable("accept_draft: this task has no draft", param="accept_draft")
            draft = {key: value for key, value in task.draft.items() if key != "confidence"}
            answer = parse_answer(orjson.dumps({**draft, "accept_draft": True}))
        request = orjson.loads(await self.store.request(task_id) or b"{}")
        parallel = request.get("parallel_tool_calls", True) is not False
        with bounded_patterns():  # one time budget for all the answer's patterns
            replies = checked_replies(answer, task, parallel)
        created = int(time.time())
        response_id = None
        if task.api == "chat.completions":
            completion_id = "chatcmpl-" + secrets.token_hex(12)
            result = answers.chat_completion(
                completion_id, task.model, created, replies, task.prompt_tokens
            )
        else:
            response_id = answers.new_id("resp")
            result = answers.response_object(
                response_id, request, task.model, created, replies[0], task.prompt_tokens
            )
        task = await self.queue.answer(
            task_id, reviewer, answer.record(), result, response_id, seen=task
        )
        self.steps.answered(task, request)
        usage = result["usage"]
        prompt = usage.get("prompt_tokens", usage.get("input_tokens", 0))
        completion = usage.get("completion_tokens", usage.get("output_tokens", 0))
        self.metrics.tokens_used(task.model, prompt, completion)
        if response_id and request.get("store", True) is not False:
            await self.store.put_response(
                StoredResponse(
                    response_id,
                    task.id,
                    task.owner,
                    task.session,
                    orjson.dumps(result),
                    responses_input(request),
                )
            )
        return task
