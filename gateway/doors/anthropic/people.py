"""Human and hybrid routes on this door: the request (in conversation form) goes to the
core's services, and their outcomes go back in Anthropic's shape.

The task is made by the human service exactly as for a Chat Completions request
(same dedup rules, steps, sessions, validation of the answer). Streaming clients get
``ping`` events while the person (or the model) works, the status line going out
with the first; a client that leaves is detached (its task is cancelled after the
re-attach grace); a retry of the same request re-attaches to its task. A person's
answer, stored in chat form, is turned into a Message on the way out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from gateway.doors.anthropic import shapes
from gateway.doors.anthropic.convert import computer_name
from gateway.doors.anthropic.output import read_message
from gateway.doors.anthropic.replies import Client
from gateway.doors.anthropic.shaper import DIALECT
from gateway.forward.model import UpstreamModel, UpstreamReply, relay_reply
from gateway.http.call import Call, gateway_headers, outcome_headers
from gateway.human.service import HumanService
from gateway.human.work import Answered, ClientLeft, DraftSent, Ended, HumanRoute, Tick, Work
from gateway.hybrid.model import Passed, Relayed
from gateway.hybrid.output import ModelOutput
from gateway.hybrid.service import Consult, HybridOutcome, HybridService
from gateway.routing import HybridRoute

CLIENT_CLOSED = 499  # nginx's code for a client that left before its answer
REVIEW_HEADER = b"x-human-review"  # "always": the client asks for a person


class AnthropicReader:
    """The ``OutputReader`` of Messages replies, JSON or SSE."""

    __slots__ = ("computer",)

    def __init__(self, computer: str | None) -> None:
        self.computer = computer  # the declared computer tool's name, if any

    def read(self, body: bytes, stream: bool) -> ModelOutput:
        return read_message(body, stream, self.computer)

    def strip_logprobs(self, body: bytes, stream: bool) -> bytes:
        return body  # Messages replies carry no logprobs


def upstream_path(path: str, scope: Mapping[str, Any]) -> str:
    """The path asked of an upstream: the client's query (``?beta=true``) goes on."""
    query = scope.get("query_string")
    return f"{path}?{query.decode('latin-1')}" if query else path


def work_of(call: Call, original: bytes) -> Work:
    """The call (already in chat form) as the core's ``Work``; ``original`` is the
    client's own bytes (kept for ``records``, and the retry key)."""
    return Work(
        api=call.api,
        dialect=DIALECT,  # stored in chat form with Claude's tool ids (shaper.py)
        model=call.head.model,
        client=call.client,
        data=call.data,
        body=call.body,
        stream=call.head.stream,
        session_hint=call.header(b"x-session-id"),
        original=original,
    )


async def serve_human(
    client: Client, call: Call, route: HumanRoute, human: HumanService, original: bytes
) -> int:
    outcomes = human.serve(work_of(call, original), route, call.gone)
    return await send_outcomes(client, call, outcomes)


async def serve_hybrid(
    client: Client, call: Call, route: HybridRoute, hybrid: HybridService, original: bytes
) -> int:
    """The upstream gets the client's own bytes; the policy judges its Message."""
    # Identity encoding: the gateway must read the reply it judges.
    headers = [(k, v) for k, v in call.scope["headers"] if k != b"accept-encoding"]
    path = upstream_path(call.path, call.scope)
    consult = Consult(
        model=UpstreamModel(route.chain, path, call.head.model, headers),
        reader=AnthropicReader(computer_name(call.data)),
        body=original,
        policy=route.policy,
        human=route.human,
        client_asks=(call.header(REVIEW_HEADER) or "").strip().lower() == "always",
    )
    outcomes = hybrid.serve(work_of(call, original), consult, call.gone)
    return await send_outcomes(client, call, outcomes, "hybrid")


async def send_outcomes(
    client: Client, call: Call, outcomes: AsyncIterator[HybridOutcome], route: str = "human"
) -> int:
    """Each outcome in Anthropic's shape; runs the iterator to its end (delivery)."""
    status = CLIENT_CLOSED
    async for outcome in outcomes:
        if isinstance(outcome, Tick):
            await client.ping(outcome_headers(route, outcome.task, "human"))
        elif isinstance(outcome, Answered):
            task = outcome.task
            assert task.result is not None
            body = shapes.message(task.result, computer_name(call.data))
            headers = outcome_headers(route, task, outcome.answered_by)
            if call.head.stream:
                await client.stream(headers, shapes.stream(body))
            else:
                await client.json(200, headers, orjson.dumps(body))
            status = 200
        elif isinstance(outcome, Ended):
            headers = outcome_headers(route, outcome.task, "human")
            status = await client.error(outcome.error, headers)
        elif isinstance(outcome, DraftSent):
            held = outcome.reply
            headers = outcome_headers(route, outcome.task, "draft")
            await client.raw(held.status, [*held.headers, *headers], held.body)
            status = held.status
        elif isinstance(outcome, Passed):
            held = outcome.reply
            if outcome.error:  # the client's own mistake, relayed as it came
                sent = held.body
                if client.started:
                    sent = b"event: error\ndata: " + sent.strip() + b"\n\n"
                await client.raw(held.status, held.headers, sent)
            else:
                extra = gateway_headers("hybrid", "model", confidence=outcome.confidence)
                await client.raw(held.status, [*held.headers, *extra], held.body)
            status = held.status
        elif isinstance(outcome, Relayed):
            reply = outcome.reply
            assert isinstance(reply, UpstreamReply)  # the port this door wired in
            headers = gateway_headers("hybrid", "model")
            await relay_reply(reply, client.send, client.receive, headers, outcome.copy)
            status = reply.status
        elif isinstance(outcome, ClientLeft):
            status = CLIENT_CLOSED
    return status
