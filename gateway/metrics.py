"""Every Prometheus metric the gateway exports, defined once.

Each app gets its own registry, so several gateways can live in one process
(the tests run many). Label values are bounded: a model name the gateway does
not serve is counted as ``other``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

OTHER = "other"
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

_HUMAN_SECONDS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600)
_FAST_SECONDS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)
_UPSTREAM_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_MAX_BOUND = 4096  # children request_done keeps bound, at most
_CONFIDENCE = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)


def _status_outcome(status: int) -> str:
    if status < 400:
        return "ok"
    if status == 422:
        return "rejected"
    if status == 504:
        return "timeout"
    return "error"


class Metrics:
    """The gateway's metrics in one registry."""

    def __init__(self, models: Iterable[str], upstreams: Iterable[str] = ()) -> None:
        self.models = frozenset(models)
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "gateway_requests_total",
            "Model requests by API, model, route, outcome and HTTP status.",
            ["api", "model", "route", "outcome", "status"],
            registry=r,
        )
        self.escalations = Counter(
            "gateway_escalations_total",
            "Requests handed to a person, by model and reason.",
            ["model", "reason"],
            registry=r,
        )
        self.grades = Counter(
            "gateway_grades_total",
            "Grades of models' answers by reviewers, by model and verdict.",
            ["model", "verdict"],
            registry=r,
        )
        # Every worker reads the same counts from the store: show one (livemax).
        self.tasks = Gauge(
            "gateway_tasks",
            "Human tasks by state.",
            ["state"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.time_to_claim = Histogram(
            "gateway_task_time_to_claim_seconds",
            "From a task's creation to its first claim.",
            ["model"],
            buckets=_HUMAN_SECONDS,
            registry=r,
        )
        self.time_to_answer = Histogram(
            "gateway_task_time_to_answer_seconds",
            "From a task's creation to its answer.",
            ["model"],
            buckets=_HUMAN_SECONDS,
            registry=r,
        )
        self.upstream_latency = Histogram(
            "gateway_upstream_latency_seconds",
            "Upstream reply time, to the last byte.",
            ["upstream"],
            buckets=_UPSTREAM_SECONDS,
            registry=r,
        )
        self.upstream_ttfb = Histogram(
            "gateway_upstream_ttfb_seconds",
            "Upstream time to the reply's headers.",
            ["upstream"],
            buckets=_UPSTREAM_SECONDS,
            registry=r,
        )
        self.overhead = Histogram(
            "gateway_overhead_seconds",
            "Time the gateway spends on a request before it goes upstream.",
            ["route"],
            buckets=_FAST_SECONDS,
            registry=r,
        )
        self.confidence = Histogram(
            "gateway_confidence",
            "Confidence scores of model answers on hybrid routes.",
            ["model"],
            buckets=_CONFIDENCE,
            registry=r,
        )
        self.tasks_created = Counter(
            "gateway_tasks_created_total",
            "Human tasks created, by model and kind (text, tools, screen, structured, "
            "question, permission).",
            ["model", "kind"],
            registry=r,
        )
        self.tokens = Counter(
            "gateway_tokens_total",
            "Tokens by model and kind (prompt or completion); human answers are estimates.",
            ["model", "kind"],
            registry=r,
        )

        # Children the forwarding path uses on every request, bound once here.
        self.forward_overhead = self.overhead.labels("forward")
        self._ttfb = {name: self.upstream_ttfb.labels(name) for name in upstreams}
        self._latency = {name: self.upstream_latency.labels(name) for name in upstreams}
        self._done: dict[tuple[str, str, str, int], Counter] = {}  # request_done's children

    def upstream_headers(self, upstream: str, seconds: float) -> None:
        """Time from sending a request upstream to the reply's headers."""
        self._ttfb[upstream].observe(seconds)

    def upstream_finished(self, upstream: str, seconds: float) -> None:
        """Time from sending a request upstream to the reply's last byte."""
        self._latency[upstream].observe(seconds)

    def model_label(self, model: str) -> str:
        if model in self.models:
            return model
        if model.startswith("human/"):
            return "human"
        return OTHER

    def request_done(self, model: str, route: str, status: int, *, api: str) -> None:
        """One model request done; ``api`` is what the client spoke: ``chat.completions``,
        ``responses``, ``embeddings`` ..., ``messages`` (Anthropic's), ``cua``, ``mcp``."""
        key = (api, model, route, status)
        child = self._done.get(key)
        if child is None:
            label = self.model_label(model)
            outcome = _status_outcome(status)
            child = self.requests.labels(api, label, route, outcome, str(status))
            # Bound per request (1.5 us) only the first time: the key space is the
            # served models (other names are not cached), a few routes and statuses.
            if label == model and len(self._done) < _MAX_BOUND:
                self._done[key] = child
        child.inc()

    def escalated(self, model: str, reason: str) -> None:
        self.escalations.labels(self.model_label(model), reason).inc()

    def task_created(self, model: str, kind: str) -> None:
        self.tasks_created.labels(self.model_label(model), kind).inc()

    def graded(self, model: str, verdict: str) -> None:
        self.grades.labels(self.model_label(model), verdict).inc()

    def tokens_used(self, model: str, prompt: int, completion: int) -> None:
        label = self.model_label(model)
        self.tokens.labels(label, "prompt").inc(prompt)
        self.tokens.labels(label, "completion").inc(completion)

    def render(self) -> bytes:
        if os.environ.get(MULTIPROCESS_DIR):
            # Several workers (``--workers``): sum what every worker wrote to the directory.
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)
