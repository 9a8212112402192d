"""Hybrid model+human routes: the model answers, a person steps in where policy says.

The flow for one request:
1. Ask the model (the door has turned logprobs on when the policy scores confidence).
2. A failure before the first byte goes to a person when the policy says so.
3. When the policy reads the answer, read the whole reply (stream or not), parse
   it and decide; otherwise the door relays it as it comes, like a forward route.
4. A passing answer goes back unchanged (logprobs the client did not ask for are
   stripped); an escalated one becomes a task whose draft is the model's answer,
   and the client gets the person's answer instead.

Like the human service, this yields outcomes and the door encodes them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import TypeVar

from gateway.errors import GatewayError
from gateway.human.outcome import Escalation, HeldReply
from gateway.human.service import HumanService
from gateway.human.stats import Stats
from gateway.human.work import ClientGone, HumanRoute, Outcome, Tick, Work
from gateway.hybrid.model import (
    ModelBroke,
    ModelPort,
    ModelReply,
    ModelUnavailable,
    OutputReader,
    Passed,
    Relayed,
)
from gateway.hybrid.output import ModelOutput
from gateway.hybrid.policy import Policy
from gateway.metrics import Metrics

T = TypeVar("T")
log = logging.getLogger("gateway.hybrid.service")
HybridOutcome = Outcome | Relayed | Passed


@dataclass(frozen=True, slots=True)
class Consult:
    """One hybrid request: the model to ask, how to read it, and the rules."""

    model: ModelPort
    reader: OutputReader
    body: bytes  # what the model is sent
    policy: Policy
    human: HumanRoute
    added_logprobs: bool = False  # the door asked for logprobs the client did not
    client_asks: bool = False  # the client asked for a person (``x-human-review: always``)


class HybridService:
    """Serves requests on hybrid routes."""

    def __init__(self, human: HumanService, metrics: Metrics, stats: Stats) -> None:
        self.human = human
        self.metrics = metrics
        self.stats = stats

    async def serve(
        self, work: Work, consult: Consult, gone: ClientGone
    ) -> AsyncIterator[HybridOutcome]:
        policy, client_asks = consult.policy, consult.client_asks
        self.stats.hybrid_request(work.model)
        sampled = policy.shadow_sampled()
        reads_answer = policy.needs_answer or client_asks
        failed = Escalation("upstream_error", "hybrid")
        sent = time.perf_counter()
        opening = asyncio.ensure_future(consult.model.open(consult.body))
        try:  # a client that stops listening stops the wait, too
            if reads_answer:
                async for tick in self._ticking(work, opening, consult.human.keepalive_s):
                    yield tick
            reply: ModelReply = await opening
        except ModelUnavailable as error:
            if not (policy.on_failure() or client_asks):
                raise error.cause from None
            async for outcome in self._escalate(work, consult, failed, gone):
                yield outcome
            return
        finally:
            opening.cancel()  # nothing when it is done
        self.metrics.upstream_headers(reply.name, time.perf_counter() - sent)
        if not reads_answer:
            relayed = Relayed(reply, [] if sampled else None)
            yield relayed  # the door relays it, copying the body when sampled
            if relayed.copy is not None and reply.status < 400:
                await self._shadow_raw(work, consult, b"".join(relayed.copy))
            return
        reading = asyncio.ensure_future(reply.read())
        try:
            async for tick in self._ticking(work, reading, consult.human.keepalive_s):
                yield tick
            raw = await reading
        except ModelBroke:
            if not (policy.on_failure() or client_asks):
                raise GatewayError(
                    502,
                    f"Upstream '{reply.name}' broke off its reply.",
                    type="api_error",
                    code="upstream_broke",
                ) from None
            async for outcome in self._escalate(work, consult, failed, gone):
                yield outcome
            return
        finally:
            reading.cancel()
            reply.release()
        self.metrics.upstream_finished(reply.name, time.perf_counter() - sent)
        held = HeldReply(reply.status, reply.headers(), raw)
        if held.status >= 400:  # the client's own mistake, relayed as it came
            yield Passed(held, error=True)
            return
        async for judged in self._judge(work, consult, held, gone, sampled):
            yield judged

    async def _judge(
        self, work: Work, consult: Consult, reply: HeldReply, gone: ClientGone, sampled: bool
    ) -> AsyncIterator[HybridOutcome]:
        """Decide on a whole model reply: it stands, or goes to a person as a draft."""
        policy = consult.policy
        try:
            answer = consult.reader.read(reply.body, work.stream)
        except ValueError:
            if not (policy.on_failure() or consult.client_asks):
                raise GatewayError(
                    502, "The upstream's reply could not be read.", type="api_error"
                ) from None
            why = Escalation("upstream_error", "hybrid")
            async for outcome in self._escalate(work, consult, why, gone):
                yield outcome
            return
        if consult.added_logprobs:
            reply = replace(reply, body=consult.reader.strip_logprobs(reply.body, work.stream))
        decision = policy.decide(work.data, answer, consult.client_asks)
        self._measure(work.model, answer, decision.confidence)
        if not decision.escalate:
            yield Passed(reply, decision.confidence)
            if sampled:  # after the reply: the client waits for no grade
                await self._shadow(work, consult, answer, decision.confidence)
            return
        why = Escalation(
            reason=decision.reason or "review",
            route="hybrid",
            draft=answer.draft(decision.confidence),
            confidence=decision.confidence,
            timeout_reply=reply if policy.on_timeout == "draft" else None,
        )
        async for outcome in self._escalate(work, consult, why, gone):
            yield outcome

    async def _shadow_raw(self, work: Work, consult: Consult, raw: bytes) -> None:
        """A relayed reply, read back for its shadow sample."""
        try:
            answer = consult.reader.read(raw, work.stream)
        except ValueError:
            log.warning("shadow sample of %s skipped: the reply could not be read", work.model)
            return
        # A client that asked for logprobs itself lets a relayed answer be scored too.
        await self._shadow(work, consult, answer, consult.policy.score(work.data, answer))

    async def _shadow(
        self, work: Work, consult: Consult, answer: ModelOutput, confidence: float | None
    ) -> None:
        """Make the grade task for an answer the client already has (shadow review)."""
        policy = consult.policy
        try:
            await self.human.sample(
                work,
                consult.human,
                answer.draft(confidence),
                confidence,
                policy.rubric,
                policy.reviews,
            )
        except GatewayError as error:  # the client has its answer; only the sample is lost
            log.warning("shadow sample of %s not stored: %s", work.model, error.message)

    @staticmethod
    async def _ticking(
        work: Work, job: asyncio.Future[T], keepalive_s: float
    ) -> AsyncIterator[Tick]:
        """Ticks while ``job`` runs, for a streaming client; the caller awaits the job."""
        if not work.stream:
            return
        while True:
            done, _ = await asyncio.wait((job,), timeout=keepalive_s)
            if done:
                return
            yield Tick(None)  # no decision yet: only the route is known

    async def _escalate(
        self, work: Work, consult: Consult, why: Escalation, gone: ClientGone
    ) -> AsyncIterator[Outcome]:
        async for outcome in self.human.serve(work, consult.human, gone, why):
            yield outcome

    def _measure(self, model: str, answer: ModelOutput, confidence: float | None) -> None:
        if confidence is not None:
            self.metrics.confidence.labels(self.metrics.model_label(model)).observe(confidence)
        usage = answer.usage or {}
        prompt = usage.get("prompt_tokens", usage.get("input_tokens"))
        completion = usage.get("completion_tokens", usage.get("output_tokens"))
        if isinstance(prompt, int) and isinstance(completion, int):
            self.metrics.tokens_used(model, prompt, completion)
