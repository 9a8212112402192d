"""The [upstreams] and [models] tables: where each model name goes, and its route's checks.

A model's route is forward, human or hybrid (given, or derived from its keys); a
key that does nothing on that route stops start-up, naming the key.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from gateway.config.errors import FieldError
from gateway.config.sections import Strict

HUMAN_MODEL = "human"
HYBRID_SUFFIX = "+human"


UpstreamApi = Literal["openai", "anthropic"]


class UpstreamConfig(Strict):
    base_url: str
    # The wire format the upstream speaks: OpenAI's (/v1/chat/completions ...) or
    # Anthropic's Messages API (/v1/messages, its key sent as x-api-key).
    api: UpstreamApi = "openai"
    api_key: str | None = None
    timeout_s: float = Field(120, gt=0)
    connect_timeout_s: float = Field(10, gt=0)
    retries: int = Field(2, ge=0, le=10)
    max_retry_wait_s: float = Field(30, ge=0)
    max_connections: int = Field(256, ge=1)
    headers: dict[str, str] = {}

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return url.rstrip("/")

    @property
    def root_url(self) -> str:
        """An Anthropic upstream's URL without a trailing ``/v1``: the anthropic SDK
        takes its base URL either way, and the door asks for ``/v1/messages``."""
        return self.base_url.removesuffix("/v1")


HumanMode = Literal["review", "escalate", "rescue", "shadow"]
EscalationTrigger = Literal["upstream_error", "length", "content_filter", "refusal"]


class ModelConfig(Strict):
    route: Literal["forward", "human", "hybrid"] | None = None
    upstream: str | None = None
    upstream_model: str | None = None
    fallbacks: list[str] = []
    # Human and hybrid routes.
    timeout_s: float | None = Field(None, gt=0)
    keepalive_s: float | None = Field(None, gt=0)
    # Hybrid routes.
    human: HumanMode | None = None
    min_confidence: float | None = Field(None, ge=0, le=1)
    confidence: str = "mean"
    on_unknown_confidence: Literal["pass", "escalate"] = "pass"
    escalate_on: list[EscalationTrigger] = ["upstream_error", "length", "content_filter", "refusal"]
    review_tools: list[str] = []
    audit_sample_rate: float = Field(0, ge=0, le=1)
    on_timeout: Literal["error", "draft"] = "error"
    # Shadow review (hybrid): the share of answers that reached the client without a
    # person which a reviewer grades afterwards, and how they grade it.
    shadow_sample: float | None = Field(None, ge=0, le=1)
    rubric: str | None = None  # a name in [rubrics]
    reviews: int = Field(1, ge=1, le=20)  # different reviewers who grade each sampled answer
    # Who sees this model's tasks (human and hybrid): reviewer groups; empty = everyone.
    reviewers: list[str] = []
    # A task nobody claimed within escalate_after_s becomes visible to escalate_to as well.
    escalate_after_s: float | None = Field(None, gt=0)
    escalate_to: list[str] = []

    @model_validator(mode="after")
    def _route_is_clear(self) -> ModelConfig:
        route = self.kind
        if route in ("forward", "hybrid") and not self.upstream:
            raise ValueError(f"a {route} model needs 'upstream'")
        if self.human == "shadow" and self.shadow_sample is None:
            raise FieldError("shadow_sample", "a shadow model needs it (0.0 to 1.0)")
        if self.human == "shadow" and "on_timeout" in self.model_fields_set:
            raise FieldError("on_timeout", "does not apply to a shadow model: no client waits")
        for key in ("rubric", "reviews"):
            if key in self.model_fields_set and self.shadow_sample is None:
                raise FieldError(key, "grades shadow samples: set 'shadow_sample' too")
        if bool(self.escalate_after_s) != bool(self.escalate_to):
            key = "escalate_to" if self.escalate_after_s else "escalate_after_s"
            raise FieldError(key, "escalate_after_s and escalate_to go together")
        if self.escalate_to and not self.reviewers:
            raise FieldError(
                "escalate_to", "widens 'reviewers': without it every group sees the task already"
            )
        if route == "human" and (self.upstream or self.fallbacks):
            raise ValueError("a human model takes no 'upstream' or 'fallbacks'")
        # A key that does nothing on this route is a mistake worth stopping for.
        allowed = _ROUTE_KEYS[route]
        for key in sorted(self.model_fields_set - allowed - {"route"}):
            raise FieldError(key, f"does not apply to a {route} model")
        return self

    @property
    def kind(self) -> str:
        """The route, derived when not given: human settings make a hybrid."""
        if self.route:
            return self.route
        if self.human:
            return "hybrid"
        return "forward" if self.upstream else "human"


_FORWARD_KEYS = frozenset({"upstream", "upstream_model", "fallbacks"})
_HUMAN_KEYS = frozenset(
    {"timeout_s", "keepalive_s", "reviewers", "escalate_after_s", "escalate_to"}
)
_HYBRID_KEYS = frozenset(
    {
        "human", "min_confidence", "confidence", "on_unknown_confidence", "escalate_on",
        "review_tools", "audit_sample_rate", "on_timeout", "shadow_sample", "rubric", "reviews",
    }
)  # fmt: skip
_ROUTE_KEYS = {
    "forward": _FORWARD_KEYS,
    "human": _HUMAN_KEYS,
    "hybrid": _FORWARD_KEYS | _HUMAN_KEYS | _HYBRID_KEYS,
}
