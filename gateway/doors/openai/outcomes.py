"""The human and hybrid services' outcomes, sent as OpenAI replies.

A streaming client waiting on a person (or on a hybrid route's model) gets
``: keep-alive`` comments; the status line goes out with the first of them, so
an answer or a rejection that comes quickly still gets its proper status.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson

from gateway.doors.openai.shapes import stream_of
from gateway.forward.model import UpstreamReply, relay_reply
from gateway.forward.owners import ForwardedResponses, IdWatcher
from gateway.http.call import Call, gateway_headers, outcome_headers
from gateway.http.respond import (
    keep_alive,
    send_error,
    send_json,
    send_rest,
    send_stream,
    send_upstream_error,
)
from gateway.human.work import Answered, ClientLeft, DraftSent, Ended, Tick
from gateway.hybrid.model import Passed, Relayed
from gateway.hybrid.service import HybridOutcome

CLIENT_CLOSED = 499  # nginx's code for a client that left before its answer


async def send_outcomes(
    call: Call,
    outcomes: AsyncIterator[HybridOutcome],
    route: str = "human",
    forwarded: ForwardedResponses | None = None,
) -> int:
    """Send each outcome as it comes; returns the status the client got.

    Runs the iterator to its end: the service marks the task delivered after
    its final outcome has been sent. A model's Responses reply that goes out has
    its id recorded as this client's first (``forwarded``, see forward/owners.py).
    """

    status = CLIENT_CLOSED
    async for outcome in outcomes:
        if isinstance(outcome, Tick):
            task = outcome.task
            await keep_alive(call, outcome_headers(route, task, "human"))
        elif isinstance(outcome, Answered):
            task = outcome.task
            assert task.result is not None
            headers = outcome_headers(route, task, outcome.answered_by)
            if call.head.stream:
                await send_stream(call, headers, stream_of(task.api, task.result, call.data))
            else:
                await send_json(call, 200, headers, orjson.dumps(task.result))
            status = 200
        elif isinstance(outcome, Ended):
            headers = outcome_headers(route, outcome.task, "human")
            await send_error(call, outcome.error, headers)
            status = outcome.error.status
        elif isinstance(outcome, DraftSent):
            held = outcome.reply
            headers = outcome_headers(route, outcome.task, "draft")
            await _record(call, forwarded, held.status, held.body)
            await send_rest(call, held.status, [*held.headers, *headers], held.body)
            status = held.status
        elif isinstance(outcome, Passed):
            held = outcome.reply
            if outcome.error:
                await send_upstream_error(call, held.status, held.headers, held.body)
            else:
                extra = gateway_headers("hybrid", "model", confidence=outcome.confidence)
                await _record(call, forwarded, held.status, held.body)
                await send_rest(call, held.status, [*held.headers, *extra], held.body)
            status = held.status
        elif isinstance(outcome, Relayed):
            reply = outcome.reply
            assert isinstance(reply, UpstreamReply)  # the port this door wired in
            headers = gateway_headers("hybrid", "model")
            streaming = reply.response.content_type == "text/event-stream"
            reader = _id_reader(call, forwarded, reply.status, streaming)
            await relay_reply(reply, call.send, call.receive, headers, outcome.copy, reader)
            status = reply.status
        elif isinstance(outcome, ClientLeft):
            status = CLIENT_CLOSED
    return status


# Module functions rather than closures in send_outcomes: a client waiting on a
# person holds send_outcomes' frame, and its two closures cost ~400 B (bench/human.py).


def _id_reader(
    call: Call, forwarded: ForwardedResponses | None, status: int, streaming: bool
) -> IdWatcher | None:
    if forwarded is None or call.api != "responses" or status != 200:
        return None
    return forwarded.watcher(call.client, streaming)


async def _record(
    call: Call, forwarded: ForwardedResponses | None, status: int, body: bytes
) -> None:
    reader = _id_reader(call, forwarded, status, call.head.stream)
    if reader is not None:
        await reader(bytearray(body), True)
