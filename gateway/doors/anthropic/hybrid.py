"""Hybrid routes on Anthropic-format upstreams: the model answers, a person steps in by policy.

The same flow and policy as the OpenAI door's hybrid routes (gateway/hybrid.py):
ask the upstream with the client's own bytes; an upstream failure goes to a person
when ``escalate_on`` has ``upstream_error``; when the policy reads the answer, the
whole reply (JSON or SSE) is held, read into a ``ModelOutput`` (output.py:
``stop_reason`` ``refusal`` and ``max_tokens``, tool uses by name) and judged; a
passing reply goes back as it came, an escalated one becomes a task whose draft is
the model's answer, and the client gets the person's answer in Anthropic's shape.
Streaming clients get ``ping`` events meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import TypeVar

import aiohttp

from gateway.call import Call, gateway_headers
from gateway.doors.anthropic.convert import computer_name
from gateway.doors.anthropic.output import read_message
from gateway.doors.anthropic.people import People
from gateway.doors.anthropic.replies import Client
from gateway.errors import GatewayError
from gateway.human.outcome import Escalation, HeldReply
from gateway.hybrid import REVIEW_HEADER
from gateway.metrics import Metrics
from gateway.replies import ModelOutput
from gateway.routing import HybridRoute
from gateway.stats import Stats
from gateway.upstream import UpstreamFailure, open_chain, relay

T = TypeVar("T")
_NOT_REPLAYED = frozenset({b"content-length", b"content-encoding"})
UPSTREAM_ERROR = Escalation("upstream_error", "hybrid")


class Hybrid:
    """Serves this door's calls on hybrid routes."""

    def __init__(self, people: People, metrics: Metrics, stats: Stats) -> None:
        self.people = people
        self.metrics = metrics
        self.stats = stats

    async def serve(self, client: Client, call: Call, route: HybridRoute, original: bytes) -> int:
        """``call`` is the request in conversation form; ``original`` the client's bytes."""
        policy = route.policy
        model = call.head.model
        self.stats.hybrid_request(model)
        client_asks = (call.header(REVIEW_HEADER) or "").strip().lower() == "always"
        reads_answer = policy.needs_answer or client_asks
        # Identity encoding: the gateway must read the reply it judges.
        headers = [(k, v) for k, v in call.scope["headers"] if k != b"accept-encoding"]
        path = call.path
        if call.scope.get("query_string"):
            path += "?" + call.scope["query_string"].decode("latin-1")
        opening = open_chain(route.chain, path, original, model, headers)
        keepalive_s = route.human.keepalive_s
        sent = time.perf_counter()
        try:
            target, response = await (
                self._keeping_alive(client, call, opening, keepalive_s) if reads_answer else opening
            )
        except (GatewayError, UpstreamFailure):
            if not (policy.on_failure() or client_asks):
                raise
            return await self.people.serve(client, call, route.human, UPSTREAM_ERROR)
        upstream = target.upstream.name
        self.metrics.upstream_headers(upstream, time.perf_counter() - sent)
        if not reads_answer:
            await relay(response, client.send, client.receive, gateway_headers("hybrid", "model"))
            return response.status
        try:
            raw = await self._keeping_alive(client, call, response.read(), keepalive_s)
        except (aiohttp.ClientError, TimeoutError):
            if not (policy.on_failure() or client_asks):
                raise GatewayError(
                    502,
                    f"Upstream '{upstream}' broke off its reply.",
                    type="api_error",
                    code="upstream_broke",
                ) from None
            return await self.people.serve(client, call, route.human, UPSTREAM_ERROR)
        finally:
            response.release()
        self.metrics.upstream_finished(upstream, time.perf_counter() - sent)
        kept = [(k.lower(), v) for k, v in response.raw_headers if k.lower() not in _NOT_REPLAYED]
        reply = HeldReply(response.status, kept, raw)
        if reply.status >= 400:  # the client's own mistake, relayed as it came
            body = b"event: error\ndata: " + raw.strip() + b"\n\n" if client.started else raw
            await client.raw(reply.status, reply.headers, body)
            return reply.status
        return await self._judge(client, call, route, reply, client_asks)

    async def _judge(
        self, client: Client, call: Call, route: HybridRoute, reply: HeldReply, client_asks: bool
    ) -> int:
        """Decide on a whole model reply: send it back, or hand it to a person as a draft."""
        policy = route.policy
        try:
            answer = read_message(reply.body, call.head.stream, computer_name(call.data))
        except ValueError:
            if not (policy.on_failure() or client_asks):
                raise GatewayError(
                    502, "The upstream's reply could not be read.", type="api_error"
                ) from None
            return await self.people.serve(client, call, route.human, UPSTREAM_ERROR)
        decision = policy.decide(call.data, answer, client_asks)
        self._measure(call.head.model, answer, decision.confidence)
        if not decision.escalate:
            extra = gateway_headers("hybrid", "model", confidence=decision.confidence)
            await client.raw(reply.status, [*reply.headers, *extra], reply.body)
            return reply.status
        why = Escalation(
            reason=decision.reason or "review",
            route="hybrid",
            draft=answer.draft(decision.confidence),
            confidence=decision.confidence,
            timeout_reply=reply if policy.on_timeout == "draft" else None,
        )
        return await self.people.serve(client, call, route.human, why)

    async def _keeping_alive(
        self, client: Client, call: Call, work: Awaitable[T], keepalive_s: float
    ) -> T:
        """Await upstream work; a streaming client gets pings meanwhile."""
        if not call.head.stream:
            return await work
        task = asyncio.ensure_future(work)
        try:
            while True:
                done, _ = await asyncio.wait((task,), timeout=keepalive_s)
                if done:
                    return task.result()
                await client.ping(gateway_headers("hybrid"))  # no decision yet: the route only
        finally:
            task.cancel()

    def _measure(self, model: str, answer: ModelOutput, confidence: float | None) -> None:
        if confidence is not None:
            self.metrics.confidence.labels(self.metrics.model_label(model)).observe(confidence)
        usage = answer.usage or {}
        prompt, completion = usage.get("input_tokens"), usage.get("output_tokens")
        if isinstance(prompt, int) and isinstance(completion, int):
            self.metrics.tokens_used(model, prompt, completion)
