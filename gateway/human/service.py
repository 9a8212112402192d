"""The human route's two sides: a door's work waiting on a person, and a reviewer's answer.

A door's ``Work`` becomes a task (or re-attaches to the task its earlier attempt
made) and waits on the task's future; the door gets ``Outcome``s (human/work.py)
and encodes them. A reviewer's answer is checked against the task and shaped by
the task's door (its ``Shaper``), then stored, which wakes the waiting client.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from typing import Any

import orjson

from gateway.config.rubrics import RubricConfig
from gateway.config.sections import HumanConfig
from gateway.errors import GatewayError, not_found, unprocessable
from gateway.human.grading import Grading
from gateway.human.outcome import HUMAN_ROUTE, Escalation
from gateway.human.output_formats import output_format_of
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
from gateway.human.store import StoredResponse
from gateway.human.task import GRADE, PENDING, POLLED, Task
from gateway.human.validate import checked_replies, parse_answer
from gateway.human.wake import KeepAlive, Wake
from gateway.human.work import (
    ClientGone,
    ClientLeft,
    DraftSent,
    Ended,
    HumanRoute,
    Outcome,
    Shapers,
    Tick,
    Work,
    outcome_of,
)
from gateway.metrics import Metrics

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
        shapers: Shapers,
        rubrics: Mapping[str, RubricConfig] | None = None,
    ) -> None:
        self.queue = queue
        self.grading = Grading(queue.store, metrics, rubrics or {})
        self.store = queue.store
        self.metrics = metrics
        self.settings = settings
        self.shapers = shapers
        self.steps = Steps(shapers)
        self._stopping: asyncio.Future[None] | None = None
        self._tickers: dict[float, KeepAlive] = {}  # keep-alive period -> its ticker
        self._waiters: set[Wake] = set()  # every waiting client's, woken when stopping

    # -- the client's side --------------------------------------------------------

    async def serve(
        self, work: Work, route: HumanRoute, gone: ClientGone, why: Escalation = HUMAN_ROUTE
    ) -> AsyncIterator[Outcome]:
        """Make or find the task for this work and yield its outcomes.

        ``Waiting`` ticks come every ``route.keepalive_s`` when ``work.stream``; the
        last outcome is final. The door must run the iterator to its end: after
        the final outcome has been sent, the task is marked delivered.
        """
        found = await self.queue.find(work.dedup)
        if isinstance(found, Task):
            async for outcome in self._finish(found, why):
                yield outcome
            return
        if found is not None:
            await self.queue.attach(found)
            waiting = found
        else:
            waiting = await self._create(work, route, why)
        del found
        # The wait is inline, not a nested generator: a waiting client holds every
        # frame on its path (bench/human.py --trace); see human/wake.py.
        stopping = self.stopping()
        ticker = self._keepalive(route.keepalive_s) if work.stream else None
        del work  # the store has it now
        left = False
        with Wake(waiting.done, self._waiters, ticker) as wake:
            while not (waiting.done.done() or stopping.done()):
                wake.arm()
                try:
                    await gone()
                    left = True
                    break
                except asyncio.CancelledError:
                    if not wake.took_back():
                        raise
                finally:
                    wake.disarm()
                if not (waiting.done.done() or stopping.done()):
                    yield Tick(waiting.task)  # only the ticker wakes a wait otherwise
        if waiting.done.done():
            async for outcome in self._finish(waiting.done.result(), why):
                yield outcome
        elif left:
            await self.queue.detach(waiting)
            yield ClientLeft(waiting.task)
        else:
            yield self._restarting(waiting.task)

    async def _create(self, work: Work, route: HumanRoute, why: Escalation) -> Waiting:
        """A new task for the work, stored (or the one a concurrent retry made).

        Its own frame, so the task built here is dropped once the store has it: the
        queue keeps the store's copy.
        """
        task, request = await self.new_task(work, route, why)
        waiting = await self.queue.create(task, request, work.original)
        if waiting.task.id == task.id:  # else a concurrent retry had made it
            self.metrics.escalated(work.model, why.reason)
        return waiting

    async def sample(
        self,
        work: Work,
        route: HumanRoute,
        draft: dict[str, Any],
        confidence: float | None,
        rubric: str | None,
        reviews: int,
    ) -> Task:
        """A copy of a request whose model answer went to the client, as a task that
        grades the answer (shadow review). Nobody waits on it, so no retry attaches to it."""
        why = Escalation("shadow", "hybrid", draft=draft, confidence=confidence)
        task, request = await self.new_task(work, route, why)
        task = replace(
            task,
            kind=GRADE,
            dedup=POLLED + task.id,
            rubric=rubric,
            reviews=reviews,
            expires_at=task.created_at + GRADE_EXPIRY_S,
        )
        waiting = await self.queue.create(task, request, work.original)
        return waiting.task

    async def _finish(self, task: Task, why: Escalation) -> AsyncIterator[Outcome]:
        outcome = outcome_of(task, why)
        yield outcome
        if not isinstance(outcome, DraftSent):
            await self.queue.delivered(task)

    async def new_task(self, work: Work, route: HumanRoute, why: Escalation) -> tuple[Task, bytes]:
        data, request, chained = work.data, work.body, None
        previous = data.get("previous_response_id") if work.api == "responses" else None
        if previous:
            resolved = await self.resolve_chain(data, work.client)
            if resolved is not None:
                data, chained = resolved
                request = orjson.dumps(data)
            elif why.route == "human":
                raise not_found(
                    f"Previous response with id '{previous}' not found.",
                    code="previous_response_not_found",
                )
            # On a hybrid route the chain may live upstream: the task shows this turn.
        owner = work.client.hex()
        earlier = self.steps.follow(owner, work.api, data, previous)
        session = session_of(work.api, data, work.session_hint, chained)
        if not work.session_hint and earlier is not None:
            session = earlier.session
        tools = normalise_tools(work.api, data)
        now = time.time()
        task = Task(
            id="task_" + secrets.token_hex(8),
            status=PENDING,
            api=work.api,
            model=work.model,
            reason=why.reason,
            session=session or session_name(work.api, data),
            created_at=now,
            expires_at=now + (work.timeout_s or route.timeout_s),
            dedup=work.dedup,
            owner=owner,
            stream=work.stream,
            preview=preview_of(work.api, data),
            prompt_tokens=prompt_tokens(work.api, data),
            tools=tools,
            tool_choice=data.get("tool_choice"),
            output_format=output_format_of(work.api, data),
            n=choices_wanted(work.api, data),
            draft=why.draft,
            confidence=why.confidence,
            kind=work.kind or kind_of(work.api, data, tools),
            step=earlier.step + 1 if earlier else 1,
            follows=earlier.task_id if earlier else None,
            dialect=work.dialect,
            groups=route.groups,
            escalate_at=now + route.escalate_after_s if route.escalate_after_s else None,
            escalate_to=route.escalate_to,
        )
        return task, request

    async def resolve_chain(
        self, data: dict[str, Any], client: bytes
    ) -> tuple[dict[str, Any], str] | None:
        """A Responses request with the earlier turns of its ``previous_response_id`` put
        in front, and the chain's session; ``None`` when no person made that response."""
        stored = await self.store.get_response(data["previous_response_id"])
        if stored is None or stored.owner != client.hex():
            return None
        earlier = orjson.loads(stored.body)["output"]
        data = {**data, "input": [*stored.input, *earlier, *responses_input(data)]}
        return data, stored.session

    def _keepalive(self, period_s: float) -> KeepAlive:
        """The process's keep-alive ticker for this period (routes may differ)."""
        ticker = self._tickers.get(period_s)
        if ticker is None:
            ticker = self._tickers[period_s] = KeepAlive(period_s)
        return ticker

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
        for wake in list(self._waiters):
            wake.now()

    @staticmethod
    def _restarting(task: Task) -> Ended:
        error = GatewayError(
            503,
            "The gateway is restarting; retry this request to get the person's answer.",
            type="api_error",
            code="gateway_restarting",
            retry=True,
            headers={"retry-after": str(RESTART_RETRY_AFTER_S)},
        )
        return Ended(task, error)

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
        shaped = self.shapers[task.dialect].shape(task, request, replies)
        task = await self.queue.answer(
            task_id, reviewer, answer.record(), shaped.result, shaped.response_id, seen=task
        )
        self.steps.answered(task, request)
        completion = sum(reply.completion_tokens() for reply in replies)
        self.metrics.tokens_used(task.model, task.prompt_tokens, completion)
        if shaped.response_id and shaped.kept_input is not None:
            await self.store.put_response(
                StoredResponse(
                    shaped.response_id,
                    task.id,
                    task.owner,
                    task.session,
                    orjson.dumps(shaped.result),
                    shaped.kept_input,
                )
            )
        return task
