"""The Responses API answered by a person, and computer-use loops of several turns.

What a computer-use agent sends (screenshots as ``computer_call_output``, the three
computer tool types, ``previous_response_id`` chains and full-history resends) and
what it gets back, validated with the openai SDK's own types.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import openai
import pytest
from harness import openai_client, run_gateway
from openai.types.responses import Response
from pydantic import TypeAdapter
from reviewer_client import AsyncReviewer, background, data_url, png

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}
responses = TypeAdapter(Response)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    with run_gateway(tmp_path_factory.mktemp("responses"), "") as gateway:
        yield gateway


def create(gateway, key: str = "client-key", **request: Any):
    """A Responses request on a thread; the future of its raw response."""
    request.setdefault("model", "human")
    return background(openai_client(gateway, key).responses.with_raw_response.create, **request)


def validated(raw) -> Response:
    return responses.validate_python(raw.http_response.json())


def test_text_answer(gateway, reviewer):
    text = f"hello {uuid.uuid4()}"
    reply = create(gateway, input=text, instructions="Be kind", metadata={"run": "7"})
    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    assert task["api"] == "responses"
    assert reviewer.answer(task["id"], content="Hello there").status == 200
    raw = reply.result(timeout=10)
    assert raw.headers["x-gateway-route"] == "human"
    assert raw.headers["x-gateway-answered-by"] == "human"
    assert raw.headers["x-gateway-task"] == task["id"]
    response = validated(raw)
    assert response.id.startswith("resp_") and response.object == "response"
    assert response.status == "completed" and response.model == "human"
    assert isinstance(response.created_at, (int, float)) and response.created_at > 0
    assert response.output_text == "Hello there"
    message = response.output[0]
    assert message.type == "message" and message.role == "assistant"
    assert message.status == "completed" and message.id.startswith("msg_")
    assert response.instructions == "Be kind" and response.metadata == {"run": "7"}
    assert response.tools == [] and response.tool_choice == "auto"
    assert response.parallel_tool_calls is True
    usage = response.usage
    assert usage.input_tokens > 0 and usage.output_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.input_tokens_details.cached_tokens == 0
    assert usage.output_tokens_details.reasoning_tokens == 0


async def test_function_calls_with_the_async_client(gateway):
    text = f"weather {uuid.uuid4()}"
    async_client = openai.AsyncOpenAI(base_url=gateway.base_url, api_key="k", max_retries=0)
    async with AsyncReviewer(gateway.url, "bob") as bob:
        reply = asyncio.ensure_future(
            async_client.responses.create(
                model="human",
                input=[{"role": "user", "content": text}],
                tools=[WEATHER],
                tool_choice="required",
                parallel_tool_calls=True,
            )
        )
        task = await bob.wait_for_task(lambda t: t["preview"] == text)
        answered = await bob.answer(
            task["id"],
            tool_calls=[
                {"name": "get_weather", "arguments": {"city": "Paris"}},
                {"name": "get_weather", "arguments": {"city": "Lima"}},
            ],
        )
        assert answered.status == 200
        response = await asyncio.wait_for(reply, 10)
    await async_client.close()
    response = responses.validate_python(response.model_dump(mode="json", exclude_unset=True))
    calls = response.output
    assert [call.type for call in calls] == ["function_call", "function_call"]
    assert all(call.call_id.startswith("call_") and call.id.startswith("fc_") for call in calls)
    assert len({call.call_id for call in calls}) == 2
    assert [json.loads(call.arguments) for call in calls] == [{"city": "Paris"}, {"city": "Lima"}]
    assert all(isinstance(call.arguments, str) for call in calls)
    assert response.tool_choice == "required"
    assert response.tools[0].name == "get_weather"


def test_stored_response_is_returned_to_its_client_only(gateway, reviewer):
    text = f"store {uuid.uuid4()}"
    reply = create(gateway, input=text)
    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    assert reviewer.answer(task["id"], content="kept").status == 200
    response = validated(reply.result(timeout=10))
    fetched = openai_client(gateway).responses.with_raw_response.retrieve(response.id)
    assert validated(fetched) == response
    assert fetched.http_response.json() == reply.result().http_response.json()
    with pytest.raises(openai.NotFoundError):
        openai_client(gateway, key="someone-else").responses.retrieve(response.id)
    with pytest.raises(openai.NotFoundError):
        openai_client(gateway).responses.retrieve("resp_unknown")


def test_store_false_keeps_nothing(gateway, reviewer):
    text = f"forget {uuid.uuid4()}"
    reply = create(gateway, input=text, store=False)
    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    assert reviewer.answer(task["id"], content="gone").status == 200
    response = validated(reply.result(timeout=10))
    assert response.store is False
    with pytest.raises(openai.NotFoundError):
        openai_client(gateway).responses.retrieve(response.id)


def test_previous_response_id_chains_resolve_into_the_task(gateway, reviewer):
    text = f"chain {uuid.uuid4()}"
    first_reply = create(gateway, input=text, tools=[WEATHER], user="agent-3")
    first_task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    call = {"name": "get_weather", "arguments": {"city": "Paris"}}
    assert reviewer.answer(first_task["id"], tool_calls=[call]).status == 200
    first = validated(first_reply.result(timeout=10))
    call_item = first.output[0]

    output = {"type": "function_call_output", "call_id": call_item.call_id, "output": "18C"}
    second_reply = create(gateway, input=[output], previous_response_id=first.id, tools=[WEATHER])
    second_task = reviewer.wait_for_task(lambda t: t["id"] != first_task["id"] and t["session"]
                                         == first_task["session"])  # fmt: skip
    assert first_task["session"] == "agent-3"
    full = reviewer.task(second_task["id"])
    history = full["request"]["input"]
    assert history[0] == {"role": "user", "content": text}
    assert history[1]["type"] == "function_call"
    assert history[1]["call_id"] == call_item.call_id and history[1]["name"] == "get_weather"
    assert history[2] == output
    assert reviewer.answer(second_task["id"], content="It is 18C in Paris.").status == 200
    second = validated(second_reply.result(timeout=10))
    assert second.previous_response_id == first.id
    assert second.output_text == "It is 18C in Paris."

    third_reply = create(gateway, input="And tomorrow?", previous_response_id=second.id)
    third_task = reviewer.wait_for_task(lambda t: t["preview"] == "And tomorrow?")
    assert third_task["session"] == "agent-3"
    history = reviewer.task(third_task["id"])["request"]["input"]
    assert len(history) == 5
    assert history[3]["type"] == "message" and history[3]["role"] == "assistant"
    assert history[3]["content"][0]["text"] == "It is 18C in Paris."
    assert history[4] == {"role": "user", "content": "And tomorrow?"}
    assert reviewer.answer(third_task["id"], content="Rain.").status == 200
    assert validated(third_reply.result(timeout=10)).output_text == "Rain."


def test_chains_are_private_and_must_exist(gateway, reviewer):
    text = f"private {uuid.uuid4()}"
    reply = create(gateway, input=text)
    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    assert reviewer.answer(task["id"], content="mine").status == 200
    response = validated(reply.result(timeout=10))
    before = len(reviewer.tasks("pending"))
    for key, previous in (("someone-else", response.id), ("client-key", "resp_missing")):
        with pytest.raises(openai.NotFoundError) as caught:
            openai_client(gateway, key).responses.create(
                model="human", input="next", previous_response_id=previous
            )
        assert caught.value.code == "previous_response_not_found"
    assert len(reviewer.tasks("pending")) == before  # no task was made


# The three computer tool types real loops send, as each would declare it.
COMPUTER_TOOLS = {
    "computer_use_preview": {
        "type": "computer_use_preview",
        "display_width": 1280,
        "display_height": 800,
        "environment": "browser",
    },
    # openai-cua-sample-app's spelling.
    "computer-preview": {
        "type": "computer-preview",
        "display_width": 1280,
        "display_height": 800,
        "environment": "browser",
    },
    # The GA tool of SDK 2.x and later: no display size in its type.
    "computer": {"type": "computer"},
}


def screenshot_output(call_id: str, image: bytes, kind: str = "input_image") -> dict[str, Any]:
    output = {"type": kind, "image_url": data_url(image)}
    if kind == "input_image":
        output["current_url"] = "https://example.com/search"
    return {
        "type": "computer_call_output",
        "call_id": call_id,
        "acknowledged_safety_checks": [],
        "output": output,
    }


@pytest.mark.parametrize("tool_type", COMPUTER_TOOLS)
def test_a_computer_use_loop_of_several_turns(gateway, reviewer, tool_type):
    tool = COMPUTER_TOOLS[tool_type]
    goal = f"Search for cats {uuid.uuid4()}"
    options = {"tools": [tool], "truncation": "auto", "reasoning": {"summary": "concise"}}
    screens = [png(6, 4, 30), png(6, 4, 220)]

    # Turn 1: the goal in, a click out.
    reply = create(gateway, input=[{"role": "user", "content": goal}], **options)
    task = reviewer.wait_for_task(lambda t: t["preview"] == goal)
    session = task["session"]
    assert reviewer.task(task["id"])["tools"][0]["declared_type"] == tool_type
    click = {"type": "click", "button": "left", "x": 640, "y": 120}
    assert reviewer.answer(task["id"], computer_actions=[click]).status == 200
    first = validated(reply.result(timeout=10))
    echoed = "computer" if tool_type == "computer" else "computer_use_preview"
    assert first.tools[0].type == echoed
    (computer_call,) = first.output
    assert computer_call.type == "computer_call" and computer_call.status == "completed"
    assert computer_call.pending_safety_checks == []
    assert computer_call.call_id.startswith("call_")
    assert computer_call.action.model_dump(exclude_none=True) == click
    assert first.output_text == ""

    # Turn 2: a screenshot in (chained by previous_response_id), typing out.
    shot = screenshot_output(computer_call.call_id, screens[0])
    reply = create(gateway, input=[shot], previous_response_id=first.id, **options)
    task = reviewer.wait_for_task(lambda t: t["session"] == session)
    full = reviewer.task(task["id"])
    sent = full["request"]["input"][-1]
    assert sent["type"] == "computer_call_output" and sent["call_id"] == computer_call.call_id
    assert sent["output"]["current_url"] == "https://example.com/search"
    assert sent["output"]["image_url"] == f"/api/tasks/{task['id']}/images/0"
    assert reviewer.call("GET", sent["output"]["image_url"]).body == screens[0]
    typing = [{"type": "type", "text": "cats"}, {"type": "keypress", "keys": ["enter"]}]
    assert reviewer.answer(task["id"], computer_actions=typing).status == 200
    second = validated(reply.result(timeout=10))
    assert [item.action.type for item in second.output] == ["type", "keypress"]
    assert second.output[0].action.text == "cats"
    assert second.output[1].action.keys == ["enter"]

    # Turn 3: the whole history resent (no previous_response_id), as
    # openai-cua-sample-app does, with the older screenshot type; a final message out.
    history = [
        {"role": "user", "content": goal},
        *[item.model_dump(exclude_none=True) for item in first.output],
        shot,
        *[item.model_dump(exclude_none=True) for item in second.output],
        screenshot_output(second.output[-1].call_id, screens[1], "computer_screenshot"),
    ]
    reply = create(gateway, input=history, **options)
    task = reviewer.wait_for_task(lambda t: t["session"] == session)
    full = reviewer.task(task["id"])
    assert full["images"] == 2
    assert reviewer.call("GET", f"/api/tasks/{task['id']}/images/1").body == screens[1]
    assert reviewer.answer(task["id"], content="Found the cats.").status == 200
    final = validated(reply.result(timeout=10))
    assert final.output[-1].type == "message" and final.output[-1].role == "assistant"
    assert final.output_text == "Found the cats."
