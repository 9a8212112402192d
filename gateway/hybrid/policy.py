"""When a hybrid route brings a person in: triggers and confidence scorers.

A ``Policy`` is built once per hybrid model at start-up; ``decide`` then looks at
one model answer (already parsed into a ``ModelOutput``) and says whether a
person must see it, and why.
"""

from __future__ import annotations

import fnmatch
import importlib
import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.config.models import ModelConfig
from gateway.hybrid.output import ModelOutput

Scorer = Callable[[dict[str, Any], ModelOutput], float | None]


@dataclass(frozen=True, slots=True)
class Decision:
    escalate: bool
    reason: str | None
    confidence: float | None


def mean_probability(request: dict[str, Any], answer: ModelOutput) -> float | None:
    """Geometric mean token probability of the generated content."""
    if not answer.logprobs:
        return None
    return math.exp(sum(answer.logprobs) / len(answer.logprobs))


def min_token_probability(request: dict[str, Any], answer: ModelOutput) -> float | None:
    """Probability of the least likely generated token."""
    if not answer.logprobs:
        return None
    return math.exp(min(answer.logprobs))


BUILTIN_SCORERS: dict[str, Scorer] = {"mean": mean_probability, "min_token": min_token_probability}


def load_scorer(name: str) -> Scorer:
    """A built-in scorer by name, or a custom one as ``module:function``.

    A custom scorer is called as ``function(request, reply)`` with the request
    body and the upstream reply body (for a stream, ``{"chunks": [...]}`` or the
    final response), and returns a score in [0, 1] or ``None`` when unknown.
    """
    if name in BUILTIN_SCORERS:
        return BUILTIN_SCORERS[name]
    module_name, _, attribute = name.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"confidence scorer {name!r} is neither built in nor 'module:function'")
    function = getattr(importlib.import_module(module_name), attribute, None)
    if not callable(function):
        raise ValueError(f"confidence scorer {name!r} is not a callable")
    return lambda request, answer: function(request, answer.raw)


class Policy:
    """One hybrid model's rules for bringing a person in."""

    def __init__(self, config: ModelConfig, rng: random.Random | None = None) -> None:
        self.mode = config.human or "escalate"
        self.min_confidence = config.min_confidence
        self.on_unknown = config.on_unknown_confidence
        self.escalate_on = frozenset(config.escalate_on)
        self.on_timeout = config.on_timeout
        self.audit_rate = config.audit_sample_rate
        self.shadow_rate = config.shadow_sample or 0.0
        self.rubric = config.rubric
        self.reviews = config.reviews
        self.scorer = load_scorer(config.confidence)
        patterns = [fnmatch.translate(pattern) for pattern in config.review_tools]
        self._review_tools = re.compile("|".join(patterns)) if patterns else None
        self._random = rng or random.Random()

    def shadow_sampled(self) -> bool:
        """Whether this call's answer, if it reaches the client without a person, is
        also graded afterwards (drawn before the call, so an unsampled reply streams)."""
        return bool(self.shadow_rate) and self._random.random() < self.shadow_rate

    @property
    def wants_logprobs(self) -> bool:
        """Logprobs are asked for only when a threshold will read them."""
        return self.mode == "escalate" and self.min_confidence is not None

    @property
    def needs_answer(self) -> bool:
        """Whether a decision reads the answer; if not, the reply streams straight through."""
        reads = {"refusal", "length", "content_filter"} & self.escalate_on
        return (
            self.mode == "review"
            or (self.mode == "escalate" and bool(reads or self._review_tools or self.audit_rate))
            or self.wants_logprobs
        )

    def on_failure(self) -> bool:
        """Whether an upstream failure goes to a person (else it is relayed)."""
        if self.mode == "shadow":
            return False  # no person stands between a shadow model and its client
        return self.mode in ("rescue", "review") or "upstream_error" in self.escalate_on

    def decide(self, request: dict[str, Any], answer: ModelOutput, client_asks: bool) -> Decision:
        """Whether this answer needs a person, and the reason.

        With ``n > 1`` every choice is judged: the client receives all of them, so
        one refusal, cut-off or risky tool call among them is enough, and the
        confidence is the least confident choice's.
        """
        confidence = self._score(request, answer)
        if client_asks:
            reason: str | None = "client_request"
        elif self.mode == "review":
            reason = "review"
        elif self.mode in ("rescue", "shadow"):
            reason = None
        else:
            reason = next(
                (found for each in (answer, *answer.others) if (found := self._trigger(each))),
                None,
            ) or self._threshold_or_audit(confidence)
        return Decision(reason is not None, reason, confidence)

    def score(self, request: dict[str, Any], answer: ModelOutput) -> float | None:
        """The answer's confidence, when its reply carries what the scorer reads."""
        return self._score(request, answer)

    def _score(self, request: dict[str, Any], answer: ModelOutput) -> float | None:
        # A custom scorer reads the whole reply body (every choice) in one call; the
        # built-in ones read each choice's own logprobs.
        judged = [answer]
        if self.scorer in BUILTIN_SCORERS.values():
            judged += answer.others
        scores = [score for each in judged if (score := self.scorer(request, each)) is not None]
        return None if not scores else min(max(float(min(scores)), 0.0), 1.0)

    def _trigger(self, answer: ModelOutput) -> str | None:
        """A reason read from one choice's content, if any."""
        if answer.refusal and "refusal" in self.escalate_on:
            return "refusal"
        if answer.finish_reason in ("length", "content_filter") and (
            answer.finish_reason in self.escalate_on
        ):
            return answer.finish_reason
        names = [call["name"] for call in answer.tool_calls]
        if answer.computer_actions and answer.computer_tool:
            names.append(answer.computer_tool)
        if self._review_tools is not None and any(
            self._review_tools.fullmatch(name) for name in names
        ):
            return "tool_review"
        return None

    def _threshold_or_audit(self, confidence: float | None) -> str | None:
        if self.min_confidence is not None:
            if confidence is None:
                if self.on_unknown == "escalate":
                    return "low_confidence"
            elif confidence < self.min_confidence:
                return "low_confidence"
        if self.audit_rate and self._random.random() < self.audit_rate:
            return "audit"
        return None
