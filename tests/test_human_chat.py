"""Chat Completions answered by a person: what the openai SDK client receives.

Bodies are validated with the SDK's own types; the routing of human model names,
the gateway's headers, computer actions on a chat request and sessions are here too.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import openai
import pytest
from harness import openai_client, run_gateway
from openai.types.chat import ChatCompletion
from pydantic import TypeAdapter
from reviewer_client import WEATHER_TOOL as WEATHER
from reviewer_client import AsyncReviewer, background

CONFIG = """
[models.ops-desk]
route = "human"
"""

completions = TypeAdapter(ChatCompletion)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    with run_gateway(tmp_path_factory.mktemp("chat"), CONFIG) as gateway:
        yield gateway


def ask(gateway, text: str, key: str = "client-key", headers=None, **request):
    """A chat request on a thread; the future of its raw response."""
    request.setdefault("model", "human")
    request.setdefault("messages", [{"role": "user", "content": text}])
    create = openai_client(gateway, key).chat.completions.with_raw_response.create
    return background(create, extra_headers=headers, **request)


def test_text_answer(gateway, reviewer):
    text = f"hello {uuid.uuid4()}"
    reply = ask(gateway, text)
    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    assert reviewer.answer(task["id"], content="Hello! How can I help?").status == 200
    raw = reply.result(timeout=10)
    assert raw.headers["x-gateway-route"] == "human"
    assert raw.headers["x-gateway-answered-by"] == "human"
    assert raw.headers["x-gateway-task"] == task["id"]
    completion = completions.validate_python(raw.http_response.json())
    assert completion.id.startswith("chatcmpl-")
    assert completion.object == "chat.completion" and completion.model == "human"
    choice = completion.choices[0]
    assert choice.index == 0 and choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content == "Hello! How can I help?"
    assert choice.message.tool_calls is None
    usage = completion.usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert raw.parse() == completion


async def test_tool_calls_with_the_async_client(gateway):
    text = f"weather {uuid.uuid4()}"
    client = openai.AsyncOpenAI(base_url=gateway.base_url, api_key="async-key", max_retries=0)
    async with AsyncReviewer(gateway.url, "bob") as bob:
        reply = asyncio.ensure_future(
            client.chat.completions.with_raw_response.create(
                model="human", messages=[{"role": "user", "content": text}], tools=[WEATHER]
            )
        )
        task = await bob.wait_for_task(lambda t: t["preview"] == text)
        answered = await bob.answer(
            task["id"],
            tool_calls=[
                {"name": "get_weather", "arguments": {"city": "Paris"}},
                {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
            ],
        )
        assert answered.status == 200
        raw = await asyncio.wait_for(reply, 10)
    await client.close()
    completion = completions.validate_python(raw.http_response.json())
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls
    body_calls = raw.http_response.json()["choices"][0]["message"]["tool_calls"]
    assert all(isinstance(call["function"]["arguments"], str) for call in body_calls)
    assert [call.type for call in calls] == ["function", "function"]
    assert all(call.id.startswith("call_") for call in calls)
    assert len({call.id for call in calls}) == 2
    assert [call.function.name for call in calls] == ["get_weather", "get_weather"]
    assert [json.loads(call.function.arguments) for call in calls] == [
        {"city": "Paris"},
        {"city": "Oslo"},
    ]


def test_text_and_tool_call_together(gateway, reviewer):
    text = f"both {uuid.uuid4()}"
    reply = ask(gateway, text, tools=[WEATHER], tool_choice="auto")
    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    answer = {
        "content": "Let me check.",
        "tool_calls": [{"name": "get_weather", "arguments": {"city": "Rome"}}],
    }
    assert reviewer.answer(task["id"], **answer).status == 200
    completion = completions.validate_python(reply.result(timeout=10).http_response.json())
    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "tool_calls"
    assert message.content == "Let me check."
    assert json.loads(message.tool_calls[0].function.arguments) == {"city": "Rome"}


HUMAN_MODELS = ["human", "human/human", "human/computer-use-preview", "ops-desk"]


@pytest.mark.parametrize("model", HUMAN_MODELS)
def test_human_model_names_become_tasks(gateway, reviewer, model):
    text = f"route {model} {uuid.uuid4()}"
    reply = ask(gateway, text, model=model)
    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    assert task["model"] == model and task["reason"] == "human_route"
    assert reviewer.answer(task["id"], content=f"answered as {model}").status == 200
    raw = reply.result(timeout=10)
    assert raw.headers["x-gateway-route"] == "human"
    completion = completions.validate_python(raw.http_response.json())
    assert completion.model == model
    assert completion.choices[0].message.content == f"answered as {model}"


def test_other_model_names_are_not_found(gateway):
    with pytest.raises(openai.NotFoundError) as caught:
        openai_client(gateway).chat.completions.create(
            model="humanoid", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.code == "model_not_found"


ACTIONS = [
    {"type": "click", "button": "left", "x": 120, "y": 40},
    {"type": "type", "text": "hello"},
    {"type": "keypress", "keys": ["ctrl", "s"]},
]
COMPUTER_SCHEMAS = {
    # Cua's gpt-5.4 loop and similar: one object argument holding the action.
    "object action": (
        "computer",
        {"type": "object", "properties": {"action": {"type": "object"}}, "required": ["action"]},
        [{"action": action} for action in ACTIONS],
    ),
    # A flat schema: the action's name plus its fields.
    "string action": (
        "computer",
        {
            "type": "object",
            "properties": {
                "action": {"type": "string"},
                "x": {"type": "integer"},
                "y": {"type": "integer"},
                "button": {"type": "string"},
                "text": {"type": "string"},
                "keys": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["action"],
        },
        [
            {"action": "click", "button": "left", "x": 120, "y": 40},
            {"action": "type", "text": "hello"},
            {"action": "keypress", "keys": ["ctrl", "s"]},
        ],
    ),
    # No "action" property: the action itself, type included; found by its name.
    "plain fields": (
        "use_computer",
        {"type": "object", "properties": {"type": {"type": "string"}}},
        ACTIONS,
    ),
}


@pytest.mark.parametrize(("name", "schema", "expected"), COMPUTER_SCHEMAS.values(),
                         ids=COMPUTER_SCHEMAS.keys())  # fmt: skip
def test_computer_actions_become_calls_of_the_computer_function(
    gateway, reviewer, name, schema, expected
):
    text = f"computer {uuid.uuid4()}"
    tools = [WEATHER, {"type": "function", "function": {"name": name, "parameters": schema}}]
    reply = ask(gateway, text, tools=tools)
    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    assert reviewer.answer(task["id"], computer_actions=ACTIONS).status == 200
    completion = completions.validate_python(reply.result(timeout=10).http_response.json())
    assert completion.choices[0].finish_reason == "tool_calls"
    calls = completion.choices[0].message.tool_calls
    assert [call.function.name for call in calls] == [name] * 3
    assert [json.loads(call.function.arguments) for call in calls] == expected


def test_two_identical_requests_from_one_client_share_a_task(gateway, reviewer):
    text = f"twice {uuid.uuid4()}"
    first, second = ask(gateway, text), ask(gateway, text)
    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    other = ask(gateway, text, key="another-client")
    reviewer.wait_for_task(lambda t: t["preview"] == text and t["id"] != task["id"])
    assert [t["preview"] for t in reviewer.tasks()].count(text) == 2  # one per client
    assert reviewer.answer(task["id"], content="for both").status == 200
    for reply in (first, second):
        raw = reply.result(timeout=10)
        assert raw.headers["x-gateway-task"] == task["id"]
        assert raw.parse().choices[0].message.content == "for both"
    assert not other.done()
    other_task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    assert other_task["id"] != task["id"]
    assert reviewer.answer(other_task["id"], content="just you").status == 200
    assert other.result(timeout=10).parse().choices[0].message.content == "just you"


SESSIONS = {
    "x-session-id header": ({"x-session-id": "run-42"}, {"user": "u-1"}, "run-42"),
    "user field": (None, {"user": "u-1"}, "u-1"),
    "safety_identifier field": (None, {"safety_identifier": "sid-9"}, "sid-9"),
}


@pytest.mark.parametrize(("headers", "extra", "session"), SESSIONS.values(),
                         ids=SESSIONS.keys())  # fmt: skip
def test_session_from_header_or_user(gateway, reviewer, headers, extra, session):
    text = f"session {uuid.uuid4()}"
    reply = ask(gateway, text, headers=headers, **extra)
    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    assert task["session"] == session
    assert [t["id"] for t in reviewer.tasks() if t["session"] == session] == [task["id"]]
    assert reviewer.answer(task["id"], content="ok").status == 200
    reply.result(timeout=10)


def test_runs_that_begin_alike_are_separate_sessions(gateway, reviewer):
    """Without a header or user, a run's session is its own; the same opening never merges."""
    opening = {"role": "system", "content": f"You are agent {uuid.uuid4()}"}
    sessions = []
    for index in range(2):
        text = f"turn {index} {uuid.uuid4()}"
        reply = ask(
            gateway,
            text,
            messages=[
                opening,
                {"role": "user", "content": "Hello there"},
                {"role": "user", "content": text},
            ],
        )
        task = reviewer.wait_for_task(lambda t, text=text: t["preview"] == text)
        sessions.append(task["session"])
        assert reviewer.answer(task["id"], content="ok").status == 200
        reply.result(timeout=10)
    assert sessions[0] != sessions[1]
    assert all(session.startswith("Hello there #") for session in sessions)
