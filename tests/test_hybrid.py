"""Hybrid model+human routes: each trigger, drafts, headers, metrics and streaming.

One gateway and one fake provider serve the whole module; each test picks its
scenario through the prompt, so tests do not depend on each other's order.
"""

from __future__ import annotations

import json
import math
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from harness import Gateway, ThreadedServer, run_gateway
from hybrid_upstream import DELETE_FILE, SURE, UNSURE, make_app
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response
from prometheus_client.parser import text_string_to_metric_families
from pydantic import TypeAdapter
from reviewer_client import Reviewer, background

TESTS = Path(__file__).parent

CONFIG = """
[upstreams.fake]
base_url = "{url}/v1"
retries = 0

[models.small]
upstream = "fake"
upstream_model = "fake-small"

[models.tiny]
upstream = "fake"

[models."small+human"]
upstream = "fake"
upstream_model = "fake-small"
human = "escalate"
min_confidence = 0.7
review_tools = ["delete_*", "purchase"]

[models."strict+human"]
upstream = "fake"
human = "escalate"
min_confidence = 0.7
confidence = "min_token"
on_unknown_confidence = "escalate"

[models."review+human"]
upstream = "fake"
human = "review"

[models."audit+human"]
upstream = "fake"
human = "escalate"
escalate_on = []
audit_sample_rate = 1.0

[models."rescue+human"]
upstream = "fake"
human = "rescue"

[models."patient+human"]
upstream = "fake"
human = "escalate"
min_confidence = 0.99
on_timeout = "draft"
timeout_s = 1

[models."slowpoke+human"]
upstream = "fake"
human = "escalate"
min_confidence = 0.7
keepalive_s = 0.2

[models."custom+human"]
upstream = "fake"
human = "escalate"
min_confidence = 0.5
confidence = "hybrid_scorer:shortness"
"""


@pytest.fixture(scope="module")
def upstream_log() -> list[dict]:
    return []


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, upstream_log) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("hybrid")
    with ThreadedServer(make_app(upstream_log)) as fake:
        env = {"PYTHONPATH": str(TESTS)}
        with run_gateway(tmp, CONFIG.format(url=fake.url), env=env) as gw:
            yield gw


@pytest.fixture(scope="module")
def client(gateway: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key="client-key", max_retries=0)


@pytest.fixture(scope="module")
def reviewer(gateway: Gateway) -> Reviewer:
    return Reviewer(gateway.url, "rita")


def chat(client: openai.OpenAI, model: str, prompt: str, **kwargs):
    """A raw-response chat call: (headers, parsed completion or chunks)."""
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": prompt}], **kwargs
    )
    return raw.headers, raw.parse()


def metrics(gateway: Gateway) -> dict[tuple[str, frozenset], float]:
    with urllib.request.urlopen(gateway.url + "/metrics", timeout=5) as reply:
        text = reply.read().decode()
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return values


def escalations(gateway: Gateway, model: str, reason: str) -> float:
    key = ("gateway_escalations_total", frozenset({("model", model), ("reason", reason)}))
    return metrics(gateway).get(key, 0.0)


def validate_completion(completion) -> ChatCompletion:
    return TypeAdapter(ChatCompletion).validate_python(completion.model_dump())


def test_confident_answer_passes_with_logprobs_stripped(client, gateway, upstream_log):
    headers, completion = chat(client, "small+human", "confident")
    body = validate_completion(completion)
    assert body.choices[0].message.content == "The answer is 42"
    assert body.choices[0].logprobs is None  # asked for by the gateway, not by the client
    assert upstream_log[-1]["logprobs"] is True
    assert upstream_log[-1]["model"] == "fake-small"
    assert headers["x-gateway-route"] == "hybrid"
    assert headers["x-gateway-answered-by"] == "model"
    assert float(headers["x-gateway-confidence"]) == pytest.approx(0.95, abs=1e-3)
    assert "x-gateway-escalation" not in headers


def test_client_logprobs_are_kept_when_it_asked(client):
    _, completion = chat(client, "small+human", "confident", logprobs=True)
    tokens = validate_completion(completion).choices[0].logprobs.content
    assert [t.logprob for t in tokens] == pytest.approx([SURE] * 4)


def test_low_confidence_escalates_with_draft_and_accepting_it(client, gateway, reviewer):
    before = escalations(gateway, "small+human", "low_confidence")
    pending = background(chat, client, "small+human", "unsure")
    task = reviewer.wait_for_task(lambda t: t["reason"] == "low_confidence")
    full = reviewer.task(task["id"])
    assert full["draft"]["content"] == "The answer is 42"
    assert full["draft"]["confidence"] == pytest.approx(0.2, abs=1e-3)
    assert full["confidence"] == pytest.approx(0.2, abs=1e-3)
    assert reviewer.answer(task["id"], accept_draft=True).status == 200
    headers, completion = pending.result(timeout=10)
    assert validate_completion(completion).choices[0].message.content == "The answer is 42"
    assert headers["x-gateway-answered-by"] == "draft"
    assert headers["x-gateway-escalation"] == "low_confidence"
    assert headers["x-gateway-task"] == task["id"]
    assert escalations(gateway, "small+human", "low_confidence") == before + 1
    buckets = metrics(gateway)
    count = ("gateway_confidence_count", frozenset({("model", "small+human")}))
    assert buckets[count] >= 2


@pytest.mark.parametrize(
    ("scenario", "reason"),
    [("refuse", "refusal"), ("truncated", "length"), ("filtered", "content_filter")],
)
def test_model_trouble_escalates_and_person_answers(client, gateway, reviewer, scenario, reason):
    before = escalations(gateway, "small+human", reason)
    pending = background(chat, client, "small+human", scenario)
    task = reviewer.wait_for_task(lambda t: t["reason"] == reason)
    assert reviewer.answer(task["id"], content="A person wrote this").status == 200
    headers, completion = pending.result(timeout=10)
    body = validate_completion(completion)
    assert body.choices[0].message.content == "A person wrote this"
    assert body.choices[0].finish_reason == "stop"
    assert headers["x-gateway-answered-by"] == "human"
    assert headers["x-gateway-escalation"] == reason
    assert escalations(gateway, "small+human", reason) == before + 1


def test_reviewed_tool_call_waits_and_edited_draft_is_sent(client, reviewer):
    pending = background(chat, client, "small+human", "delete", tools=[DELETE_FILE])
    task = reviewer.wait_for_task(lambda t: t["reason"] == "tool_review")
    draft = reviewer.task(task["id"])["draft"]
    assert draft["tool_calls"] == [{"name": "delete_file", "arguments": {"path": "/tmp/x"}}]
    edited = [{"name": "delete_file", "arguments": {"path": "/tmp/safe"}}]
    assert reviewer.answer(task["id"], tool_calls=edited).status == 200
    headers, completion = pending.result(timeout=10)
    call = validate_completion(completion).choices[0].message.tool_calls[0]
    assert call.function.name == "delete_file"
    assert json.loads(call.function.arguments) == {"path": "/tmp/safe"}
    assert headers["x-gateway-escalation"] == "tool_review"


def test_upstream_failure_goes_to_a_person_without_draft(client, gateway, reviewer):
    pending = background(chat, client, "small+human", "fail")
    task = reviewer.wait_for_task(lambda t: t["reason"] == "upstream_error")
    assert reviewer.task(task["id"])["draft"] is None
    reviewer.answer(task["id"], content="rescued")
    headers, completion = pending.result(timeout=10)
    assert completion.choices[0].message.content == "rescued"
    assert headers["x-gateway-escalation"] == "upstream_error"


def test_rescue_mode_passes_answers_and_catches_failures(client, reviewer):
    headers, completion = chat(client, "rescue+human", "unsure")
    assert completion.choices[0].message.content == "The answer is 42"
    assert headers["x-gateway-answered-by"] == "model"
    pending = background(chat, client, "rescue+human", "fail")
    task = reviewer.wait_for_task(lambda t: t["model"] == "rescue+human")
    reviewer.answer(task["id"], content="covered")
    assert pending.result(timeout=10)[1].choices[0].message.content == "covered"


def test_review_mode_sends_every_answer_to_a_person(client, reviewer):
    pending = background(chat, client, "review+human", "confident")
    task = reviewer.wait_for_task(lambda t: t["model"] == "review+human")
    assert task["reason"] == "review"
    reviewer.answer(task["id"], accept_draft=True)
    headers, completion = pending.result(timeout=10)
    assert completion.choices[0].message.content == "The answer is 42"
    assert headers["x-gateway-answered-by"] == "draft"


def test_audit_sample_sends_passing_answer_for_review(client, reviewer):
    pending = background(chat, client, "audit+human", "confident")
    task = reviewer.wait_for_task(lambda t: t["model"] == "audit+human")
    assert task["reason"] == "audit"
    reviewer.answer(task["id"], content="audited")
    assert pending.result(timeout=10)[1].choices[0].message.content == "audited"


def test_client_can_ask_for_review(client, reviewer):
    pending = background(
        chat, client, "small+human", "confident", extra_headers={"x-human-review": "always"}
    )
    task = reviewer.wait_for_task(lambda t: t["reason"] == "client_request")
    reviewer.answer(task["id"], accept_draft=True)
    headers, _ = pending.result(timeout=10)
    assert headers["x-gateway-escalation"] == "client_request"


def test_unknown_confidence_escalates_when_policy_says_so(client, reviewer):
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    pending = background(chat, client, "strict+human", "tools_only", tools=tools)
    task = reviewer.wait_for_task(lambda t: t["model"] == "strict+human")
    assert task["reason"] == "low_confidence"
    assert reviewer.task(task["id"])["confidence"] is None
    reviewer.answer(task["id"], accept_draft=True)
    headers, completion = pending.result(timeout=10)
    assert completion.choices[0].message.tool_calls[0].function.name == "lookup"
    assert "x-gateway-confidence" not in headers


def test_unknown_confidence_passes_by_default(client):
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    headers, completion = chat(client, "small+human", "tools_only", tools=tools)
    assert completion.choices[0].finish_reason == "tool_calls"
    assert headers["x-gateway-answered-by"] == "model"


def test_timeout_with_draft_returns_the_model_answer(client, gateway, reviewer):
    headers, completion = chat(client, "patient+human", "confident")
    assert validate_completion(completion).choices[0].message.content == "The answer is 42"
    assert headers["x-gateway-answered-by"] == "draft"
    assert headers["x-gateway-escalation"] == "low_confidence"
    assert reviewer.task(headers["x-gateway-task"])["status"] == "expired"


def test_custom_scorer_decides(client, reviewer):
    # hybrid_scorer.shortness scores 1.0 for short answers, 0.0 for long ones.
    headers, _ = chat(client, "custom+human", "confident")
    assert float(headers["x-gateway-confidence"]) == 1.0
    assert headers["x-gateway-answered-by"] == "model"


def test_composite_name_uses_default_policy(client, gateway, reviewer):
    ok = frozenset(
        {
            ("api", "chat.completions"),
            ("model", "tiny+human/human"),
            ("route", "hybrid"),
            ("outcome", "ok"),
            ("status", "200"),
        }
    )
    served = metrics(gateway).get(("gateway_requests_total", ok), 0.0)
    headers, completion = chat(client, "tiny+human/human", "confident")
    assert completion.model == "tiny"
    assert headers["x-gateway-answered-by"] == "model"
    # Counted under the name the client used, once.
    assert metrics(gateway)[("gateway_requests_total", ok)] == served + 1
    before = escalations(gateway, "tiny+human", "length")
    pending = background(chat, client, "tiny+human", "truncated")
    task = reviewer.wait_for_task(lambda t: t["model"] == "tiny+human")
    assert task["reason"] == "length"
    reviewer.answer(task["id"], content="done")
    assert pending.result(timeout=10)[1].choices[0].message.content == "done"
    assert escalations(gateway, "tiny+human", "length") == before + 1


def test_streaming_pass_replays_the_model_stream(client):
    stream = client.chat.completions.create(
        model="small+human",
        messages=[{"role": "user", "content": "confident"}],
        stream=True,
    )
    chunks = [TypeAdapter(ChatCompletionChunk).validate_python(c.model_dump()) for c in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "The answer is 42"
    assert all(c.choices[0].logprobs is None for c in chunks if c.choices)


def test_streaming_escalation_streams_the_person_answer(client, reviewer):
    def run():
        stream = client.chat.completions.create(
            model="small+human",
            messages=[{"role": "user", "content": "unsure"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        return [TypeAdapter(ChatCompletionChunk).validate_python(c.model_dump()) for c in stream]

    pending = background(run)
    task = reviewer.wait_for_task(lambda t: t["reason"] == "low_confidence")
    reviewer.answer(task["id"], content="Streamed by a person")
    chunks = pending.result(timeout=10)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Streamed by a person"
    assert chunks[-1].usage is not None


def test_responses_low_confidence_escalates(client, reviewer, upstream_log):
    def run():
        raw = client.responses.with_raw_response.create(model="small+human", input="unsure")
        return raw.headers, raw.parse()

    pending = background(run)
    task = reviewer.wait_for_task(lambda t: t["reason"] == "low_confidence")
    assert "message.output_text.logprobs" in upstream_log[-1]["include"]
    assert reviewer.task(task["id"])["draft"]["confidence"] == pytest.approx(
        math.exp(UNSURE), abs=1e-3
    )
    reviewer.answer(task["id"], content="checked")
    headers, response = pending.result(timeout=10)
    TypeAdapter(Response).validate_python(response.model_dump())
    assert response.output_text == "checked"
    assert headers["x-gateway-route"] == "hybrid"


def test_responses_confident_answer_passes(client):
    raw = client.responses.with_raw_response.create(model="small+human", input="confident")
    response = TypeAdapter(Response).validate_python(raw.parse().model_dump())
    assert response.output_text == "The answer is 42"
    assert response.output[0].content[0].logprobs == []
    assert raw.headers["x-gateway-answered-by"] == "model"


def test_stats_report_escalation_rates_and_draft_shares(client, gateway, reviewer):
    # The gateway is shared by the module's tests: compare with the figures before.
    before = reviewer.ok("GET", "/api/stats")
    was = before["escalation"]["hour"].get("review+human", {"requests": 0, "escalations": {}})
    # One draft approved as is, one replaced.
    for answer in ({"accept_draft": True}, {"content": "replaced"}):
        pending = background(chat, client, "review+human", "confident")
        task = reviewer.wait_for_task(lambda t: t["model"] == "review+human")
        reviewer.answer(task["id"], **answer)
        pending.result(timeout=10)
    stats = reviewer.ok("GET", "/api/stats")
    hour = stats["escalation"]["hour"]["review+human"]
    assert hour["requests"] == was["requests"] + 2
    assert hour["escalations"]["review"] == was["escalations"].get("review", 0) + 2
    assert hour["rate"] == pytest.approx(hour["escalations"]["review"] / hour["requests"])
    drafts = stats["drafts"]
    assert drafts["approve"] == before["drafts"]["approve"] + 1
    assert drafts["replace"] == before["drafts"]["replace"] + 1
    assert drafts["edit"] == before["drafts"]["edit"]
    assert drafts["total"] == before["drafts"]["total"] + 2
    assert sum(drafts["shares"].values()) == pytest.approx(1.0)


def test_bad_scorer_stops_start_up(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text(
        '[upstreams.u]\nbase_url = "http://127.0.0.1:9/v1"\n'
        '[models."m+human"]\nupstream = "u"\nhuman = "escalate"\nconfidence = "nope:missing"\n'
    )
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "gateway", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
    assert "models.m+human.confidence" in done.stderr
    assert str(config) in done.stderr


def test_responses_chain_through_a_person_sends_history_upstream(client, reviewer, upstream_log):
    pending = background(client.responses.create, model="small+human", input="unsure")
    task = reviewer.wait_for_task(
        lambda t: t["reason"] == "low_confidence" and t["api"] == "responses"
    )
    reviewer.answer(task["id"], content="a person's turn")
    first = pending.result(timeout=10)
    second = client.responses.create(
        model="small+human",
        previous_response_id=first.id,
        input=[{"role": "user", "content": "confident"}],
    )
    assert second.output_text == "The answer is 42"
    sent = upstream_log[-1]
    assert "previous_response_id" not in sent
    assert sent["input"][0] == {"role": "user", "content": "unsure"}
    assert sent["input"][1]["content"][0]["text"] == "a person's turn"
    assert sent["input"][-1] == {"role": "user", "content": "confident"}


def test_streaming_buffer_sends_keepalives_while_the_model_generates(gateway):
    body = json.dumps(
        {
            "model": "slowpoke+human",
            "stream": True,
            "messages": [{"role": "user", "content": "slow"}],
        }
    ).encode()
    request = urllib.request.Request(
        gateway.base_url + "/chat/completions",
        data=body,
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        assert reply.headers["x-gateway-route"] == "hybrid"
        raw = reply.read()
    head, _, rest = raw.partition(b"data: ")
    assert head.startswith(b": keep-alive\n\n")
    assert set(head.split(b"\n\n")) == {b": keep-alive", b""}
    chunks = [
        json.loads(line[6:])
        for line in (b"data: " + rest).split(b"\n\n")
        if line.startswith(b"data: {")
    ]
    for chunk in chunks:
        TypeAdapter(ChatCompletionChunk).validate_python(chunk)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == (
        "The answer is 42"
    )
