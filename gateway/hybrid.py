"""Hybrid model+human routes: the model answers, a person steps in where policy says.

The flow for one call:
1. Ask the upstream (logprobs turned on when the policy scores confidence).
2. A failure before the first byte goes to a person when the policy says so.
3. When the policy reads the answer, buffer the whole reply (stream or not),
   parse it and decide; otherwise relay it as it comes, like a forward route.
4. A passing answer goes back unchanged (logprobs the client did not ask for
   are stripped); an escalated one becomes a task whose draft is the model's
   answer, and the client gets the person's answer instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from dataclasses import replace
from typing import TypeVar

import aiohttp
import orjson

from gateway.call import Call, gateway_headers
from gateway.errors import GatewayError
from gateway.human.outcome import Escalation, HeldReply
from gateway.human.serve import HumanService
from gateway.metrics import Metrics
from gateway.replies import ModelOutput, ask_for_logprobs, parse_reply, strip_logprobs
from gateway.routing import HybridRoute
from gateway.stats import Stats
from gateway.streams import keep_alive, relay_to, send_rest, send_upstream_error
from gateway.upstream import UpstreamFailure, open_chain

REVIEW_HEADER = b"x-human-review"
log = logging.getLogger("gateway.hybrid")
T = TypeVar("T")
_NOT_REPLAYED = frozenset({b"content-length", b"content-encoding"})


class HybridService:
    """Serves calls on hybrid routes."""

    def __init__(self, human: HumanService, metrics: Metrics, stats: Stats) -> None:
        self.human = human
        self.metrics = metrics
        self.stats = stats

    async def serve(self, call: Call, route: HybridRoute) -> int:
        policy = route.policy
        self.stats.hybrid_request(call.head.model)
        sampled = policy.shadow_sampled()
        client_asks = (call.header(REVIEW_HEADER) or "").strip().lower() == "always"
        reads_answer = policy.needs_answer or client_asks
        body, added_logprobs = await self._upstream_body(call, policy.wants_logprobs)
        # Identity encoding: the gateway must read the reply it judges.
        headers = [(k, v) for k, v in call.scope["headers"] if k != b"accept-encoding"]
        opening = open_chain(route.chain, call.path, body, call.head.model, headers)
        keepalive_s = route.human.keepalive_s
        sent = time.perf_counter()
        try:
            target, response = await (
                self._keeping_alive(call, opening, keepalive_s) if reads_answer else opening
            )
        except (GatewayError, UpstreamFailure):
            if not (policy.on_failure() or client_asks):
                raise
            return await self._escalate(call, route, Escalation("upstream_error", "hybrid"))
        upstream = target.upstream.name
        self.metrics.upstream_headers(upstream, time.perf_counter() - sent)
        if not reads_answer:
            copy: list[bytes] | None = [] if sampled else None
            await relay_to(call, response, gateway_headers("hybrid", "model"), copy)
            if copy is not None and response.status < 400:
                await self._shadow_raw(call, route, b"".join(copy))
            return response.status
        try:
            raw = await self._keeping_alive(call, response.read(), keepalive_s)
        except (aiohttp.ClientError, TimeoutError):
            # The upstream broke off mid-reply: a failure like any other, for the policy.
            if not (policy.on_failure() or client_asks):
                raise GatewayError(
                    502,
                    f"Upstream '{upstream}' broke off its reply.",
                    type="api_error",
                    code="upstream_broke",
                ) from None
            return await self._escalate(call, route, Escalation("upstream_error", "hybrid"))
        finally:
            response.release()
        self.metrics.upstream_finished(upstream, time.perf_counter() - sent)
        headers = [
            (k.lower(), v) for k, v in response.raw_headers if k.lower() not in _NOT_REPLAYED
        ]
        reply = HeldReply(response.status, headers, raw)
        if reply.status >= 400:  # the client's own mistake, relayed as it came
            await send_upstream_error(call, reply.status, reply.headers, reply.body)
            return reply.status
        return await self._judge(call, route, reply, added_logprobs, client_asks, sampled)

    async def _upstream_body(self, call: Call, wants_logprobs: bool) -> tuple[bytes, bool]:
        """The body to send upstream, and whether logprobs were added for the policy."""
        data, rewritten = call.data, False
        if call.api == "responses" and data.get("previous_response_id"):
            # A chain through a person's answer is unknown upstream: send its history.
            resolved = await self.human.resolve_chain(call)
            if resolved is not None:
                data = {k: v for k, v in resolved[0].items() if k != "previous_response_id"}
                rewritten = True
        added_logprobs = False
        if wants_logprobs:
            data, added_logprobs = ask_for_logprobs(call.api, data)
        body = orjson.dumps(data) if rewritten or added_logprobs else call.body
        return body, added_logprobs

    async def _judge(
        self,
        call: Call,
        route: HybridRoute,
        reply: HeldReply,
        added_logprobs: bool,
        client_asks: bool,
        sampled: bool = False,
    ) -> int:
        """Decide on a whole model reply: send it back, or hand it to a person as a draft."""
        policy, stream = route.policy, call.head.stream
        try:
            answer = parse_reply(call.api, reply.body, stream)
        except ValueError:
            if not (policy.on_failure() or client_asks):
                raise GatewayError(
                    502, "The upstream's reply could not be read.", type="api_error"
                ) from None
            return await self._escalate(call, route, Escalation("upstream_error", "hybrid"))
        if added_logprobs:
            reply = replace(reply, body=strip_logprobs(call.api, reply.body, stream))
        decision = policy.decide(call.data, answer, client_asks)
        self._measure(call.head.model, answer, decision.confidence)
        if not decision.escalate:
            extra = gateway_headers("hybrid", "model", confidence=decision.confidence)
            await send_rest(call, reply.status, [*reply.headers, *extra], reply.body)
            if sampled:  # after the reply: the client waits for no grade
                await self._shadow(call, route, answer, decision.confidence)
            return reply.status
        why = Escalation(
            reason=decision.reason or "review",
            route="hybrid",
            draft=answer.draft(decision.confidence),
            confidence=decision.confidence,
            timeout_reply=reply if policy.on_timeout == "draft" else None,
        )
        return await self._escalate(call, route, why)

    async def _shadow_raw(self, call: Call, route: HybridRoute, raw: bytes) -> None:
        """A relayed reply, read back for its shadow sample."""
        try:
            answer = parse_reply(call.api, raw, call.head.stream)
        except ValueError:
            log.warning("shadow sample of %s skipped: the reply could not be read", call.head.model)
            return
        # A client that asked for logprobs itself lets a relayed answer be scored too.
        await self._shadow(call, route, answer, route.policy.score(call.data, answer))

    async def _shadow(
        self, call: Call, route: HybridRoute, answer: ModelOutput, confidence: float | None
    ) -> None:
        """Make the grade task for an answer the client already has (shadow review)."""
        policy = route.policy
        try:
            await self.human.sample(
                call,
                route.human,
                answer.draft(confidence),
                confidence,
                policy.rubric,
                policy.reviews,
            )
        except GatewayError as error:  # the client has its answer; only the sample is lost
            log.warning("shadow sample of %s not stored: %s", call.head.model, error.message)

    async def _keeping_alive(self, call: Call, work: Awaitable[T], keepalive_s: float) -> T:
        """Await upstream work; a streaming client gets keep-alives meanwhile."""
        if not call.head.stream:
            return await work
        task = asyncio.ensure_future(work)
        try:
            while True:
                done, _ = await asyncio.wait((task,), timeout=keepalive_s)
                if done:
                    return task.result()
                # No decision yet, so only the route is known for the headers.
                await keep_alive(call, gateway_headers("hybrid"))
        finally:
            task.cancel()

    async def _escalate(self, call: Call, route: HybridRoute, why: Escalation) -> int:
        return await self.human.serve(call, route.human, why)

    def _measure(self, model: str, answer: ModelOutput, confidence: float | None) -> None:
        if confidence is not None:
            self.metrics.confidence.labels(self.metrics.model_label(model)).observe(confidence)
        usage = answer.usage or {}
        prompt = usage.get("prompt_tokens", usage.get("input_tokens"))
        completion = usage.get("completion_tokens", usage.get("output_tokens"))
        if isinstance(prompt, int) and isinstance(completion, int):
            self.metrics.tokens_used(model, prompt, completion)
