"""Prometheus metrics and dashboard stats for the human route, read back over HTTP."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import openai
import pytest
from harness import Gateway, run_gateway
from prometheus_client.parser import text_string_to_metric_families
from reviewer_client import Reviewer, background


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[Gateway]:
    config = '[models.helper]\nroute = "human"\n[human]\nreattach_grace_s = 5\n'
    with run_gateway(tmp_path_factory.mktemp("metrics"), config) as gw:
        yield gw


def scrape(gateway: Gateway) -> dict[tuple[str, frozenset], float]:
    with urllib.request.urlopen(gateway.url + "/metrics", timeout=5) as reply:
        assert reply.headers["content-type"].startswith("text/plain")
        text = reply.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_human_task_metrics_follow_the_life_cycle(gateway):
    client = openai.OpenAI(base_url=gateway.base_url, api_key="k", max_retries=0)
    reviewer = Reviewer(gateway.url, "mo")
    before = scrape(gateway)
    pending = background(
        client.chat.completions.create,
        model="human/anything",
        messages=[{"role": "user", "content": "count me"}],
    )
    task = reviewer.wait_for_task(lambda t: t["preview"] == "count me")
    during = scrape(gateway)
    assert value(during, "gateway_tasks", state="pending") == (
        value(before, "gateway_tasks", state="pending") + 1
    )
    reviewer.claim(task["id"])
    claimed = scrape(gateway)
    assert value(claimed, "gateway_tasks", state="claimed") == 1
    assert value(claimed, "gateway_task_time_to_claim_seconds_count", model="human") == (
        value(before, "gateway_task_time_to_claim_seconds_count", model="human") + 1
    )
    reviewer.answer(task["id"], content="counted")
    assert pending.result(timeout=10).choices[0].message.content == "counted"
    after = scrape(gateway)
    assert value(after, "gateway_tasks", state="answered") == (
        value(before, "gateway_tasks", state="answered") + 1
    )
    assert value(after, "gateway_tasks", state="claimed") == 0
    ok = {"api": "chat.completions", "model": "human", "route": "human", "outcome": "ok"}
    ok["status"] = "200"
    assert value(after, "gateway_requests_total", **ok) == (
        value(before, "gateway_requests_total", **ok) + 1
    )
    assert value(after, "gateway_escalations_total", model="human", reason="human_route") == (
        value(before, "gateway_escalations_total", model="human", reason="human_route") + 1
    )
    assert value(after, "gateway_task_time_to_answer_seconds_count", model="human") == (
        value(before, "gateway_task_time_to_answer_seconds_count", model="human") + 1
    )
    assert value(after, "gateway_tokens_total", model="human", kind="completion") > 0


def test_unknown_models_are_counted_as_other(gateway):
    client = openai.OpenAI(base_url=gateway.base_url, api_key="k", max_retries=0)
    other = {"api": "chat.completions", "model": "other", "route": "none", "outcome": "error"}
    other["status"] = "404"
    before = value(scrape(gateway), "gateway_requests_total", **other)
    for name in ("no-such-model-1", "no-such-model-2"):
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model=name, messages=[{"role": "user", "content": ""}])
    samples = scrape(gateway)
    labels = {dict(key[1]).get("model") for key in samples if key[0] == "gateway_requests_total"}
    assert "other" in labels
    assert not any(label and label.startswith("no-such-model") for label in labels)
    assert value(samples, "gateway_requests_total", **other) == before + 2


def test_stats_give_the_dashboard_its_header(gateway):
    client = openai.OpenAI(base_url=gateway.base_url, api_key="k", max_retries=0)
    reviewer = Reviewer(gateway.url, "mo")
    # The gateway is shared by the module's tests: compare with the figures before.
    before = reviewer.ok("GET", "/api/stats")
    pending = background(
        client.chat.completions.create,
        model="helper",
        messages=[{"role": "user", "content": "stats please"}],
    )
    task = reviewer.wait_for_task(lambda t: t["preview"] == "stats please")
    stats = reviewer.ok("GET", "/api/stats")
    assert stats["pending"] == before["pending"] + 1
    reviewer.answer(task["id"], content="ok")
    pending.result(timeout=10)
    stats = reviewer.ok("GET", "/api/stats")
    assert stats["pending"] == before["pending"]
    assert stats["answered_last_hour"] == before["answered_last_hour"] + 1
    assert stats["median_answer_s"] is not None and stats["median_answer_s"] >= 0
    assert stats["counts"]["answered"] == before["counts"]["answered"] + 1
