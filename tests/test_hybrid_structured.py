"""Hybrid routes with structured outputs and ``n``: the model's draft, then a person.

A fake provider (choices_upstream.py) answers with ``n`` choices of JSON (or, for a
prompt starting ``badjson``, text that is not). A ``review`` route hands each
answer to a person with the model's answer as the draft: a draft that does not fit
the output format is shown, but accepting it is refused like any other answer.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from choices_upstream import REFUSAL, fake_provider, model_content
from harness import ThreadedServer, openai_client, run_gateway, sse_payloads
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import BaseModel, TypeAdapter
from reviewer_client import background

CONFIG = """
[upstreams.fake]
base_url = "{url}/v1"
retries = 0

[models."review+human"]
upstream = "fake"
human = "review"
"""

completions = TypeAdapter(ChatCompletion)
chunks = TypeAdapter(ChatCompletionChunk)


class City(BaseModel):
    name: str


@pytest.fixture(scope="module")
def upstream_log() -> list[dict[str, Any]]:
    return []


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, upstream_log):
    with ThreadedServer(fake_provider(upstream_log)) as fake:
        tmp = tmp_path_factory.mktemp("hybrid-structured")
        with run_gateway(tmp, CONFIG.format(url=fake.url)) as gateway:
            yield gateway


def parse(gateway, text: str, **request):
    create = openai_client(gateway).chat.completions.with_raw_response.parse
    messages = [{"role": "user", "content": text}]
    return background(create, model="review+human", messages=messages, **request)


def test_a_fitting_draft_is_accepted_and_parsed(gateway, reviewer):
    text = f"city {uuid.uuid4()}"
    reply = parse(gateway, text, response_format=City)
    summary = reviewer.wait_for_task(lambda t: t["preview"] == text)
    task = reviewer.task(summary["id"])
    assert task["output_format"]["name"] == "City" and task["draft"]["content"] is not None
    assert reviewer.answer(task["id"], accept_draft=True).status == 200
    raw = reply.result(timeout=10)
    assert raw.headers["x-gateway-answered-by"] == "draft"
    completions.validate_python(raw.http_response.json())
    assert raw.parse().choices[0].message.parsed == City(name="Model 0")


def test_a_draft_that_does_not_fit_is_shown_but_not_accepted(gateway, reviewer):
    text = f"badjson {uuid.uuid4()}"
    reply = parse(gateway, text, response_format=City)
    task_id = reviewer.wait_for_task(lambda t: t["preview"] == text)["id"]
    assert reviewer.task(task_id)["draft"]["content"] == "not json"
    refused = reviewer.answer(task_id, accept_draft=True)
    assert refused.status == 422 and refused.error["param"] == "content"
    assert reviewer.task(task_id)["status"] in ("pending", "claimed")
    assert reviewer.answer(task_id, content={"name": "Oslo"}).status == 200
    raw = reply.result(timeout=10)
    assert raw.headers["x-gateway-answered-by"] == "human"
    assert raw.parse().choices[0].message.parsed == City(name="Oslo")


def test_n_goes_to_the_model_and_a_person_gives_n_answers(gateway, reviewer, upstream_log):
    text = f"three cities {uuid.uuid4()}"
    reply = parse(gateway, text, response_format=City, n=3)
    summary = reviewer.wait_for_task(lambda t: t["preview"] == text)
    assert summary["n"] == 3
    assert upstream_log[-1]["n"] == 3
    draft = reviewer.task(summary["id"])["draft"]
    assert [choice["content"] for choice in draft["choices"]] == [
        model_content(text, i) for i in range(3)
    ]
    one = reviewer.answer(summary["id"], content={"name": "Oslo"})
    assert one.status == 422 and one.error["param"] == "choices"
    answers = [{"content": {"name": name}} for name in ("Oslo", "Bergen", "Tromsø")]
    assert reviewer.answer(summary["id"], choices=answers).status == 200
    parsed = reply.result(timeout=10).parse()
    assert [choice.message.parsed.name for choice in parsed.choices] == ["Oslo", "Bergen", "Tromsø"]


def test_a_streamed_draft_of_n_choices_is_accepted_whole(gateway, reviewer):
    text = f"three streamed {uuid.uuid4()}"
    body = {"model": "review+human", "messages": [{"role": "user", "content": text}], "n": 3}
    wire = background(sse_payloads, gateway, "/chat/completions", body)
    task_id = reviewer.wait_for_task(lambda t: t["preview"] == text)["id"]
    draft = reviewer.task(task_id)["draft"]
    assert [choice["content"] for choice in draft["choices"]] == [
        model_content(text, i) for i in range(3)
    ]
    assert reviewer.answer(task_id, accept_draft=True).status == 200
    payloads = [chunks.validate_python(p) for p in wire.result(timeout=10)]
    texts = {0: "", 1: "", 2: ""}
    for payload in payloads:
        for choice in payload.choices:
            texts[choice.index] += choice.delta.content or ""
    assert texts == {i: model_content(text, i) for i in range(3)}


def test_a_model_refusal_is_a_draft_that_can_be_accepted(gateway, reviewer):
    text = f"refuse {uuid.uuid4()}"
    reply = parse(gateway, text, response_format=City)
    task_id = reviewer.wait_for_task(lambda t: t["preview"] == text)["id"]
    draft = reviewer.task(task_id)["draft"]
    assert draft["refusal"] == REFUSAL and draft["content"] is None
    assert reviewer.answer(task_id, accept_draft=True).status == 200
    raw = reply.result(timeout=10)
    completions.validate_python(raw.http_response.json())
    message = raw.parse().choices[0].message
    assert message.refusal == REFUSAL and message.parsed is None and message.content is None
