"""Hybrid routes on an Anthropic-format upstream: the model answers through the fake
Anthropic upstream (tests/fake_anthropic.py); a person steps in by policy and the client
gets the answer in Anthropic's shape. Bodies are checked with the SDK's types."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import anthropic
import pytest
from anthropic.types import Message
from fake_anthropic import FakeAnthropic, Step
from harness import Gateway, run_gateway, wait_until
from reviewer_client import Reviewer, background

COMPUTER = {
    "type": "computer_20250124",
    "name": "computer",
    "display_width_px": 1024,
    "display_height_px": 768,
}
BASH = {
    "name": "Bash",
    "input_schema": {
        "type": "object",
        "properties": {"command": {"type": "string"}},
        "required": ["command"],
    },
}


@dataclass
class Hybrid:
    gateway: Gateway
    upstream: FakeAnthropic
    reviewer: Reviewer

    def ask(self, model: str, text: str, **request):
        client = anthropic.Anthropic(base_url=self.gateway.url, api_key="k", max_retries=0)
        request.setdefault("max_tokens", 256)
        request.setdefault("messages", [{"role": "user", "content": text}])
        return background(client.messages.with_raw_response.create, model=model, **request)


@pytest.fixture(scope="module")
def hybrid(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hybrid]:
    with FakeAnthropic("claude") as upstream:
        config = f"""
[human]
keepalive_s = 0.2

[upstreams.claude]
api = "anthropic"
base_url = "{upstream.url}"
retries = 0

[models.claude-x]
upstream = "claude"

[models.claude-careful]
upstream = "claude"
upstream_model = "claude-x"
human = "escalate"
review_tools = ["Bash", "comp*"]

[models.claude-audited]
upstream = "claude"
upstream_model = "claude-x"
human = "escalate"
escalate_on = []
audit_sample_rate = 1.0

[models.claude-fallback]
upstream = "claude"
upstream_model = "claude-x"
human = "rescue"

[models.claude-patient]
upstream = "claude"
upstream_model = "claude-x"
human = "review"
on_timeout = "draft"
timeout_s = 1

[models.claude-reviewed]
upstream = "claude"
upstream_model = "claude-x"
human = "review"
"""
        tmp = tmp_path_factory.mktemp("anthropic-hybrid")
        with run_gateway(tmp, config) as gateway:
            yield Hybrid(gateway, upstream, Reviewer(gateway.url, "alice"))


@pytest.fixture(autouse=True)
def fresh(hybrid: Hybrid) -> None:
    hybrid.upstream.reset()


def test_a_passing_answer_is_the_models_as_it_came(hybrid: Hybrid) -> None:
    raw = hybrid.ask("claude-x+human", "hi").result(timeout=10)
    assert raw.http_response.content == hybrid.upstream.sent[-1]
    assert Message.model_validate(raw.http_response.json()).content[0].text == "hello from claude"  # type: ignore[union-attr]
    assert raw.headers["x-gateway-route"] == "hybrid"
    assert raw.headers["x-gateway-answered-by"] == "model"
    assert hybrid.upstream.last.json()["model"] == "claude-x"
    client = anthropic.Anthropic(base_url=hybrid.gateway.url, api_key="k", max_retries=0)
    with client.messages.stream(
        model="claude-x+human", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
    ) as stream:  # judged whole, then sent as it came
        assert stream.get_final_message().content[0].text == "hello from claude"  # type: ignore[union-attr]


def test_a_refusal_goes_to_a_person(hybrid: Hybrid) -> None:
    text = f"refuse {uuid.uuid4()}"
    hybrid.upstream.plan(
        Step(content=[{"type": "text", "text": "I can't help."}], stop_reason="refusal")
    )
    reply = hybrid.ask("claude-x+human", text)
    task = hybrid.reviewer.wait_for_task(lambda t: t["preview"] == text)
    assert task["reason"] == "refusal" and task["has_draft"]
    assert hybrid.reviewer.task(task["id"])["draft"]["refusal"] == "I can't help."
    hybrid.reviewer.answer(task["id"], content="Here is the help.")
    raw = reply.result(timeout=10)
    message = Message.model_validate(raw.http_response.json())
    assert message.stop_reason == "end_turn" and message.content[0].text == "Here is the help."  # type: ignore[union-attr]
    assert raw.headers["x-gateway-answered-by"] == "human"
    assert raw.headers["x-gateway-escalation"] == "refusal"


def test_a_cut_off_stream_goes_to_a_person_who_accepts_the_draft(hybrid: Hybrid) -> None:
    text = f"long {uuid.uuid4()}"
    hybrid.upstream.plan(
        Step(content=[{"type": "text", "text": "The answer is"}], stop_reason="max_tokens")
    )
    chunks: list[bytes] = []

    def read() -> None:
        client = anthropic.Anthropic(base_url=hybrid.gateway.url, api_key="k", max_retries=0)
        with client.messages.with_streaming_response.create(
            model="claude-x+human",
            max_tokens=5,
            messages=[{"role": "user", "content": text}],
            stream=True,
        ) as reply:
            chunks.extend(reply.iter_bytes())

    reading = threading.Thread(target=read)
    reading.start()
    task = hybrid.reviewer.wait_for_task(lambda t: t["preview"] == text)
    assert task["reason"] == "length"
    wait_until(lambda: b"event: ping" in b"".join(chunks), what="pings while the person works")
    assert hybrid.reviewer.answer(task["id"], accept_draft=True).status == 200
    reading.join(timeout=10)
    body = b"".join(chunks)
    assert b'"text_delta","text":"The answer is"' in body
    assert body.rstrip().endswith(b'data: {"type":"message_stop"}')


def test_a_reviewed_tool_goes_to_a_person(hybrid: Hybrid) -> None:
    text = f"bash {uuid.uuid4()}"
    use = {"type": "tool_use", "id": "toolu_m1", "name": "Bash", "input": {"command": "rm -rf /"}}
    hybrid.upstream.plan(Step(content=[use]))
    reply = hybrid.ask("claude-careful", text, tools=[BASH])
    task = hybrid.reviewer.wait_for_task(lambda t: t["preview"] == text)
    assert task["reason"] == "tool_review"
    draft = hybrid.reviewer.task(task["id"])["draft"]
    assert draft["tool_calls"] == [{"name": "Bash", "arguments": {"command": "rm -rf /"}}]
    hybrid.reviewer.answer(
        task["id"], tool_calls=[{"name": "Bash", "arguments": {"command": "ls"}}]
    )
    message = Message.model_validate(reply.result(timeout=10).http_response.json())
    assert message.content[0].input == {"command": "ls"}  # type: ignore[union-attr]
    harmless = {**use, "input": {"command": "ls"}, "name": "Other"}
    hybrid.upstream.plan(Step(content=[harmless]))
    tools = [BASH, {**BASH, "name": "Other"}]
    passed = hybrid.ask("claude-careful", "other", tools=tools).result(timeout=10)
    assert passed.headers["x-gateway-answered-by"] == "model"


def test_review_mode_turns_computer_uses_into_an_editable_draft(hybrid: Hybrid) -> None:
    text = f"click {uuid.uuid4()}"
    click = {"action": "left_click", "coordinate": [100, 200]}
    hybrid.upstream.plan(
        Step(content=[{"type": "tool_use", "id": "toolu_c", "name": "computer", "input": click}])
    )
    reply = hybrid.ask("claude-reviewed", text, tools=[COMPUTER])
    task = hybrid.reviewer.wait_for_task(lambda t: t["preview"] == text)
    assert task["reason"] == "review" and task["kind"] == "screen"
    draft = hybrid.reviewer.task(task["id"])["draft"]
    assert draft["computer_actions"] == [{"type": "click", "button": "left", "x": 100, "y": 200}]
    assert hybrid.reviewer.answer(task["id"], accept_draft=True).status == 200
    raw = reply.result(timeout=10)
    message = Message.model_validate(raw.http_response.json())
    assert (message.content[0].name, message.content[0].input) == ("computer", click)  # type: ignore[union-attr]
    assert raw.headers["x-gateway-answered-by"] == "draft"


def test_an_upstream_failure_goes_to_a_person(hybrid: Hybrid) -> None:
    text = f"down {uuid.uuid4()}"
    hybrid.upstream.plan(Step(529))
    reply = hybrid.ask("claude-x+human", text)
    task = hybrid.reviewer.wait_for_task(lambda t: t["preview"] == text)
    assert task["reason"] == "upstream_error" and not task["has_draft"]
    hybrid.reviewer.answer(task["id"], content="A person, while the model is down.")
    raw = reply.result(timeout=10)
    assert Message.model_validate(raw.http_response.json()).content[0].text.startswith("A person")  # type: ignore[union-attr]


def test_the_clients_own_mistake_is_relayed(hybrid: Hybrid) -> None:
    hybrid.upstream.plan(Step(400))
    with pytest.raises(anthropic.BadRequestError) as caught:
        hybrid.ask("claude-reviewed", "bad").result(timeout=10)
    assert caught.value.body["error"]["message"] == "fake 400"  # type: ignore[index]


def test_audit_sampling_sends_a_passing_answer_to_a_person(hybrid: Hybrid) -> None:
    text = f"audit {uuid.uuid4()}"
    reply = hybrid.ask("claude-audited", text)
    task = hybrid.reviewer.wait_for_task(lambda t: t["preview"] == text)
    assert task["reason"] == "audit"
    hybrid.reviewer.answer(task["id"], accept_draft=True)
    raw = reply.result(timeout=10)
    assert Message.model_validate(raw.http_response.json()).content[0].text == "hello from claude"  # type: ignore[union-attr]
    assert raw.headers["x-gateway-escalation"] == "audit"


def test_a_fallback_model_streams_straight_through(hybrid: Hybrid) -> None:
    client = anthropic.Anthropic(base_url=hybrid.gateway.url, api_key="k", max_retries=0)
    with client.messages.with_streaming_response.create(
        model="claude-fallback",
        max_tokens=8,
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
    ) as reply:
        body = b"".join(reply.iter_bytes())
        assert reply.http_response.headers["x-gateway-answered-by"] == "model"
    assert body == hybrid.upstream.sent[-1]  # relayed as it came: nothing to judge
    text = f"fallback {uuid.uuid4()}"
    hybrid.upstream.plan(Step(500))
    failed = hybrid.ask("claude-fallback", text)
    task = hybrid.reviewer.wait_for_task(lambda t: t["preview"] == text)
    hybrid.reviewer.answer(task["id"], content="A person stood in.")
    assert failed.result(timeout=10).headers["x-gateway-answered-by"] == "human"


def test_review_tools_match_the_computer_tool_by_its_name(hybrid: Hybrid) -> None:
    text = f"computer review {uuid.uuid4()}"
    click = {"action": "left_click", "coordinate": [5, 6]}
    use = {"type": "tool_use", "id": "toolu_k", "name": "computer", "input": click}
    hybrid.upstream.plan(Step(content=[use]))
    reply = hybrid.ask("claude-careful", text, tools=[COMPUTER])
    task = hybrid.reviewer.wait_for_task(lambda t: t["preview"] == text)
    assert task["reason"] == "tool_review"
    hybrid.reviewer.answer(task["id"], computer_actions=[{"type": "click", "x": 7, "y": 8}])
    message = Message.model_validate(reply.result(timeout=10).http_response.json())
    assert message.content[0].input == {"action": "left_click", "coordinate": [7, 8]}  # type: ignore[union-attr]


def test_on_timeout_draft_sends_the_models_reply_when_nobody_answers(hybrid: Hybrid) -> None:
    raw = hybrid.ask("claude-patient", f"slow {uuid.uuid4()}").result(timeout=15)
    assert raw.http_response.content == hybrid.upstream.sent[-1]  # the held reply, whole
    assert raw.headers["x-gateway-answered-by"] == "draft"
    assert Message.model_validate(raw.http_response.json()).content[0].text == "hello from claude"  # type: ignore[union-attr]
