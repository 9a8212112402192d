"""Malformed model requests are refused at the door, before any task exists;
client-declared patterns cannot stall the gateway; one body to two APIs is two
requests; a hybrid upstream that breaks mid-reply is an upstream failure.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from fake_upstream import FakeUpstream, Step
from harness import Gateway, openai_client, run_gateway
from openai.types.chat import ChatCompletion
from openai.types.responses import Response
from pydantic import TypeAdapter
from reviewer_client import Reviewer, background
from test_security_requests import assert_envelope, raw

HEADERS = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream("breaks") as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, upstream) -> Iterator[Gateway]:
    config = f"""
[upstreams.fake]
base_url = "{upstream.url}"
retries = 0
[models.human]
route = "human"
[models."fake+human"]
upstream = "fake"
human = "review"
[models."quiet+human"]
upstream = "fake"
human = "escalate"
min_confidence = 0.5
escalate_on = []
"""
    with run_gateway(tmp_path_factory.mktemp("input"), config) as gateway:
        yield gateway


def post(gateway: Gateway, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    status, _, reply = raw(gateway, "POST", path, HEADERS, json.dumps(body).encode())
    return status, reply


def task_count(gateway: Gateway) -> int:
    return len(Reviewer(gateway.url).tasks("pending,claimed,answered,rejected,expired"))


FUNCTION = {"type": "function", "function": {"name": "ok", "parameters": {"type": "object"}}}

# (path, a body field set to a wrong value, the param the 400 names)
BAD_FIELDS = [
    ("chat", {"messages": 7}, "messages"),
    ("chat", {"messages": {"role": "user"}}, "messages"),
    ("chat", {"messages": None}, "messages"),
    ("chat", {"messages": []}, "messages"),
    ("chat", {"messages": ["hi"]}, "messages"),
    ("chat", {"tools": {"type": "function"}}, "tools"),
    ("chat", {"tool_choice": 3}, "tool_choice"),
    ("chat", {"tool_choice": "sometimes"}, "tool_choice"),
    ("chat", {"stream": "yes"}, "stream"),
    ("chat", {"stream_options": "include_usage"}, "stream_options"),
    ("chat", {"stream_options": {"include_usage": "yes"}}, "stream_options"),
    ("chat", {"n": "2"}, "n"),
    ("chat", {"n": 0}, "n"),
    ("chat", {"user": ["me"]}, "user"),
    ("chat", {"metadata": {"run": 7}}, "metadata"),
    ("chat", {"metadata": "run"}, "metadata"),
    ("responses", {"input": 7}, "input"),
    ("responses", {"input": {"role": "user"}}, "input"),
    ("responses", {"instructions": ["be kind"]}, "instructions"),
    ("responses", {"previous_response_id": ["resp_1"]}, "previous_response_id"),
    ("responses", {"previous_response_id": 12}, "previous_response_id"),
    ("responses", {"model": 5}, "model"),
]


@pytest.mark.parametrize(("api", "field", "param"), BAD_FIELDS)
@pytest.mark.parametrize("model", ["human", "fake+human"])
def test_a_wrong_field_is_a_400_naming_it_before_any_task(gateway, api, field, param, model):
    path = "/v1/chat/completions" if api == "chat" else "/v1/responses"
    base = {"model": model}
    base.update(
        {"messages": [{"role": "user", "content": "hi"}]} if api == "chat" else {"input": "hi"}
    )
    before = task_count(gateway)
    status, reply = post(gateway, path, {**base, **field})
    assert status == 400, reply
    assert assert_envelope(reply)["param"] == param
    assert task_count(gateway) == before


ODD_TOOLS = [
    ({"type": "function", "function": {"name": ["a", "list"]}}, "tools[0]"),
    ({"type": "function", "function": {"name": None}}, "tools[0]"),
    ({"type": "function", "function": {"name": "has space"}}, "tools[0]"),
    ({"type": "function", "function": "get_weather"}, "tools[0]"),
    ({"type": "function", "function": {"name": "f", "parameters": "object"}}, "'f'"),
    ({"type": "function", "function": {"name": "f", "parameters": {"$ref": "#"}}}, "'f'"),
    (
        {"type": "function", "function": {"name": "f", "parameters": {"$ref": "http://x/s"}}},
        "'f'",
    ),
    (
        {
            "type": "function",
            "function": {"name": "f", "parameters": {"$defs": {"a": {"$ref": "#/$defs/a"}}}},
        },
        "'f'",
    ),
    ({"type": "function", "function": {"name": "f", "parameters": {"$ref": "#/nope"}}}, "'f'"),
    ({"type": "function", "function": {"name": "f", "parameters": {"type": 7}}}, "'f'"),
    (
        {"type": "function", "function": {"name": "f", "parameters": {"pattern": "(unclosed"}}},
        "'f'",
    ),
    ({"type": None}, "tools[0]"),
    ({"type": "computer_use_preview", "display_width": "wide"}, "tools[0]"),
    ({"type": "file_search", "name": 7}, "tools[0]"),
]


@pytest.mark.parametrize(("tool", "named"), ODD_TOOLS)
def test_odd_tool_declarations_are_refused_naming_the_tool(gateway, tool, named):
    before = task_count(gateway)
    body = {"model": "human", "messages": [{"role": "user", "content": "hi"}], "tools": [tool]}
    status, reply = post(gateway, "/v1/chat/completions", body)
    assert status == 400, reply
    error = assert_envelope(reply, "invalid_tool")
    assert error["param"] == "tools" and named in error["message"]
    assert task_count(gateway) == before


@pytest.mark.parametrize(
    "choice",
    [
        {"type": "function", "function": "ok"},
        {"type": "function", "function": {"name": "missing"}},
        {"type": "function"},
        {"name": "ok"},
    ],
)
def test_odd_tool_choices_are_refused(gateway, choice):
    body = {
        "model": "human",
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [FUNCTION],
        "tool_choice": choice,
    }
    status, reply = post(gateway, "/v1/chat/completions", body)
    assert status == 400, reply
    assert assert_envelope(reply)["param"] == "tool_choice"


def test_a_catastrophic_pattern_is_a_422_not_a_stall(gateway):
    tool = {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {
                "type": "object",
                "properties": {"code": {"type": "string", "pattern": "^(a|aa)+$"}},
                "patternProperties": {"^(b|bb)+$": {"type": "string"}},
            },
        },
    }
    text = f"redos {uuid.uuid4()}"
    client = openai_client(gateway)
    future = background(
        client.chat.completions.create,
        model="human",
        messages=[{"role": "user", "content": text}],
        tools=[tool],
    )
    reviewer = Reviewer(gateway.url)
    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    for arguments in ({"code": "a" * 60 + "!"}, {"b" * 60 + "!": "x"}):
        reply = reviewer.answer(task["id"], tool_calls=[{"name": "lookup", "arguments": arguments}])
        assert reply.status == 422, reply.body
        assert "took too long" in assert_envelope(reply.body)["message"]
    good = reviewer.answer(task["id"], tool_calls=[{"name": "lookup", "arguments": {"code": "aa"}}])
    assert good.status == 200, good.body
    assert future.result(timeout=10).choices[0].message.tool_calls[0].function.name == "lookup"


def test_the_same_body_to_both_apis_makes_two_tasks(gateway):
    text = f"twice {uuid.uuid4()}"
    client = openai_client(gateway)
    body = {"model": "human", "messages": [{"role": "user", "content": text}], "input": text}
    chat = background(client.post, "/chat/completions", body=body, cast_to=ChatCompletion)
    responses = background(client.post, "/responses", body=body, cast_to=Response)
    reviewer = Reviewer(gateway.url)
    first = reviewer.wait_for_task(lambda t: t["preview"] == text)
    second = reviewer.wait_for_task(lambda t: t["preview"] == text and t["id"] != first["id"])
    assert {first["api"], second["api"]} == {"chat.completions", "responses"}
    for task in (first, second):
        assert reviewer.answer(task["id"], content=task["api"]).status == 200
    completion = chat.result(timeout=10)
    TypeAdapter(ChatCompletion).validate_python(completion.model_dump())
    assert completion.choices[0].message.content == "chat.completions"
    response = responses.result(timeout=10)
    assert response.object == "response" and response.output_text == "responses"


def test_a_hybrid_upstream_that_breaks_mid_reply_escalates(gateway, upstream):
    upstream.plan(Step(cut=True))
    text = f"broken {uuid.uuid4()}"
    client = openai_client(gateway, timeout=20)
    future = background(
        lambda: "".join(
            chunk.choices[0].delta.content or ""
            for chunk in client.chat.completions.create(
                model="fake+human", messages=[{"role": "user", "content": text}], stream=True
            )
            if chunk.choices
        )
    )
    reviewer = Reviewer(gateway.url)
    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    assert task["reason"] == "upstream_error"
    assert reviewer.answer(task["id"], content="a person's answer").status == 200
    assert future.result(timeout=10) == "a person's answer"


def test_a_hybrid_upstream_break_is_a_502_when_the_policy_does_not_escalate(gateway, upstream):
    upstream.plan(Step(cut=True))
    client = openai_client(gateway, timeout=20)
    with pytest.raises(openai.APIError) as caught:
        for _ in client.chat.completions.create(
            model="quiet+human", messages=[{"role": "user", "content": "hi"}], stream=True
        ):
            pass
    assert "broke off" in str(caught.value)
