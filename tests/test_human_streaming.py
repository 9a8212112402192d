"""Streaming answers by a person: keep-alive comments while waiting, then the full stream.

The raw bytes are read with aiohttp to check the wire (``: keep-alive`` comments,
never ``id:`` lines, never empty ``data:``); the openai SDK's iterators and its
``stream()`` helpers are driven against the same gateway.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import aiohttp
import openai
import pytest
from harness import run_gateway
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter
from reviewer_client import AsyncReviewer, Reviewer, background

CONFIG = """
[models.human-ka]
route = "human"
keepalive_s = 0.1

[models.human-ka-quick]
route = "human"
keepalive_s = 0.1
timeout_s = 0.6
"""
KEEPALIVE = b": keep-alive\n\n"
LONG_TEXT = "The weather in Paris is mild today, with light wind from the west. " * 3
WEATHER_CHAT = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
WEATHER = {"type": "function", **WEATHER_CHAT["function"]}
chunks = TypeAdapter(ChatCompletionChunk)
stream_events = TypeAdapter(ResponseStreamEvent)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    with run_gateway(tmp_path_factory.mktemp("streaming"), CONFIG) as gateway:
        yield gateway


async def stream_raw(gateway, path: str, body: dict[str, Any], answer: dict[str, Any]):
    """POST a streaming request; answer its task once two keep-alives have arrived.

    Returns the response headers and every byte of the body.
    """
    text = body.pop("text")
    async with (
        aiohttp.ClientSession() as session,
        AsyncReviewer(gateway.url) as reviewer,
        session.post(gateway.base_url + path, json=body) as reply,
    ):
        assert reply.status == 200
        received = b""
        answered = False
        async for piece in reply.content.iter_any():
            received += piece
            if not answered and received.count(KEEPALIVE) >= 2:
                task = await reviewer.wait_for_task(lambda t: t["preview"] == text)
                assert (await reviewer.answer(task["id"], **answer)).status == 200
                answered = True
        return reply.headers, received


def split_events(received: bytes) -> tuple[int, list[list[str]]]:
    """The number of leading keep-alives, and the events after them as lists of lines."""
    blocks = received.decode().split("\n\n")
    assert blocks[-1] == "", "the stream ends with a blank line"
    blocks = blocks[:-1]
    keepalives = 0
    while blocks and blocks[0] == ": keep-alive":
        keepalives += 1
        blocks.pop(0)
    events = [block.split("\n") for block in blocks]
    for lines in events:
        for line in lines:
            assert not line.startswith("id:"), line
            assert line.startswith(("data: ", "event: ")), line
            assert line.strip() not in ("data:", "data: ", "event:"), line
    return keepalives, events


async def test_chat_stream_on_the_wire(gateway):
    text = f"stream chat {uuid.uuid4()}"
    body = {
        "model": "human-ka",
        "text": text,
        "messages": [{"role": "user", "content": text}],
        "tools": [WEATHER_CHAT],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    answer = {
        "content": LONG_TEXT,
        "tool_calls": [
            {"name": "get_weather", "arguments": {"city": "Paris"}},
            {"name": "get_weather", "arguments": {"city": "Nice"}},
        ],
    }
    headers, received = await stream_raw(gateway, "/chat/completions", body, answer)
    assert headers["content-type"].startswith("text/event-stream")
    assert headers["x-gateway-route"] == "human"
    assert headers["x-gateway-answered-by"] == "human"
    assert headers["x-gateway-task"].startswith("task_")
    keepalives, events = split_events(received)
    assert keepalives >= 2
    data = [lines[0].removeprefix("data: ") for lines in events]
    assert all(len(lines) == 1 for lines in events)
    assert data[-1] == "[DONE]"
    parsed = [chunks.validate_json(item) for item in data[:-1]]
    raw = [json.loads(item) for item in data[:-1]]
    assert len({chunk.id for chunk in parsed}) == 1
    assert all(chunk.object == "chat.completion.chunk" for chunk in parsed)
    assert parsed[0].choices[0].delta.role == "assistant"
    *body_chunks, finish, usage = parsed
    assert all(item["usage"] is None for item in raw[:-1])
    content = "".join(chunk.choices[0].delta.content or "" for chunk in body_chunks)
    assert content == LONG_TEXT
    assert sum(1 for chunk in body_chunks if chunk.choices[0].delta.content) > 1
    calls: dict[int, dict[str, str]] = {}
    for chunk in body_chunks:
        for delta in chunk.choices[0].delta.tool_calls or []:
            call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            if delta.id:
                assert delta.type == "function" and delta.id.startswith("call_")
                call["id"] = delta.id
            call["name"] += delta.function.name or ""
            call["arguments"] += delta.function.arguments or ""
    assert sorted(calls) == [0, 1]
    assert [json.loads(calls[i]["arguments"]) for i in (0, 1)] == [
        {"city": "Paris"},
        {"city": "Nice"},
    ]
    assert all(call["name"] == "get_weather" and call["id"] for call in calls.values())
    assert finish.choices[0].finish_reason == "tool_calls"
    assert raw[-2]["choices"][0]["delta"] == {}
    assert usage.choices == [] and usage.usage.total_tokens > 0


async def test_responses_stream_on_the_wire(gateway):
    text = f"stream responses {uuid.uuid4()}"
    body = {
        "model": "human-ka",
        "text": text,
        "input": text,
        "tools": [WEATHER],
        "stream": True,
    }
    answer = {
        "content": LONG_TEXT,
        "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}],
    }
    headers, received = await stream_raw(gateway, "/responses", body, answer)
    assert headers["x-gateway-route"] == "human"
    keepalives, events = split_events(received)
    assert keepalives >= 2
    parsed = []
    for lines in events:
        assert len(lines) == 2 and lines[0].startswith("event: ")
        event = stream_events.validate_json(lines[1].removeprefix("data: "))
        assert lines[0].removeprefix("event: ") == event.type
        parsed.append(event)
    assert [event.sequence_number for event in parsed] == list(range(len(parsed)))
    types = [event.type for event in parsed]
    assert types[0] == "response.created" and types[-1] == "response.completed"
    assert types.count("response.created") == types.count("response.completed") == 1
    assert parsed[0].response.status == "in_progress" and parsed[0].response.output == []
    assert types[1] == "response.in_progress"
    assert types[2:6] == [
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
    ]
    deltas = [event.delta for event in parsed if event.type == "response.output_text.delta"]
    assert "".join(deltas) == LONG_TEXT
    done = next(event for event in parsed if event.type == "response.output_text.done")
    assert done.text == LONG_TEXT
    arguments = next(
        event for event in parsed if event.type == "response.function_call_arguments.done"
    )
    assert json.loads(arguments.arguments) == {"city": "Paris"} and arguments.output_index == 1
    assert types.count("response.output_item.done") == 2
    completed = parsed[-1].response
    TypeAdapter(Response).validate_python(completed.model_dump(mode="json"))
    assert completed.status == "completed" and completed.output_text == LONG_TEXT
    assert [item.type for item in completed.output] == ["message", "function_call"]
    assert completed.id == parsed[0].response.id


def test_sync_sdk_iterates_a_chat_stream(gateway):
    text = f"sdk chat {uuid.uuid4()}"
    client = openai.OpenAI(base_url=gateway.base_url, api_key="k", max_retries=0)
    reviewer = Reviewer(gateway.url)

    def consume():
        stream = client.chat.completions.create(
            model="human-ka",
            messages=[{"role": "user", "content": text}],
            stream=True,
            stream_options={"include_usage": True},
        )
        return list(stream)

    reply = background(consume)
    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    assert reviewer.answer(task["id"], content=LONG_TEXT).status == 200
    received = reply.result(timeout=10)
    for chunk in received:
        chunks.validate_python(chunk.model_dump(mode="json", exclude_unset=True))
    assert "".join(c.choices[0].delta.content or "" for c in received if c.choices) == LONG_TEXT
    assert received[-2].choices[0].finish_reason == "stop"
    assert received[-1].usage.completion_tokens > 0


async def test_async_sdk_iterates_a_responses_stream(gateway):
    text = f"sdk responses {uuid.uuid4()}"
    client = openai.AsyncOpenAI(base_url=gateway.base_url, api_key="k", max_retries=0)

    async def consume():
        stream = await client.responses.create(model="human-ka", input=text, stream=True)
        return [event async for event in stream]

    async with AsyncReviewer(gateway.url) as reviewer:
        reply = asyncio.ensure_future(consume())
        task = await reviewer.wait_for_task(lambda t: t["preview"] == text)
        assert (await reviewer.answer(task["id"], content="streamed")).status == 200
        received = await asyncio.wait_for(reply, 10)
    await client.close()
    assert received[0].type == "response.created"
    assert received[-1].type == "response.completed"
    assert received[-1].response.output_text == "streamed"
    assert [event.sequence_number for event in received] == list(range(len(received)))


def test_chat_stream_helper_gets_the_final_completion(gateway):
    text = f"helper chat {uuid.uuid4()}"
    client = openai.OpenAI(base_url=gateway.base_url, api_key="k", max_retries=0)
    reviewer = Reviewer(gateway.url)

    def consume():
        with client.chat.completions.stream(
            model="human-ka",
            messages=[{"role": "user", "content": text}],
            tools=[WEATHER_CHAT],
            stream_options={"include_usage": True},
        ) as stream:
            kinds = [event.type for event in stream]
            return kinds, stream.get_final_completion()

    reply = background(consume)
    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    answer = {"content": "Checking", "tool_calls": [{"name": "get_weather", "arguments": {}}]}
    assert reviewer.answer(task["id"], **answer).status == 200
    kinds, final = reply.result(timeout=10)
    assert "content.delta" in kinds and "tool_calls.function.arguments.done" in kinds
    TypeAdapter(ChatCompletion).validate_python(final.model_dump(mode="json"))
    assert final.choices[0].finish_reason == "tool_calls"
    assert final.choices[0].message.content == "Checking"
    assert final.choices[0].message.tool_calls[0].function.name == "get_weather"
    assert final.usage.total_tokens > 0


def test_responses_stream_helper_gets_the_final_response(gateway):
    text = f"helper responses {uuid.uuid4()}"
    client = openai.OpenAI(base_url=gateway.base_url, api_key="k", max_retries=0)
    reviewer = Reviewer(gateway.url)

    def consume():
        with client.responses.stream(model="human-ka", input=text, tools=[WEATHER]) as stream:
            kinds = [event.type for event in stream]
            return kinds, stream.get_final_response()

    reply = background(consume)
    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    answer = {"content": LONG_TEXT, "tool_calls": [{"name": "get_weather", "arguments": {}}]}
    assert reviewer.answer(task["id"], **answer).status == 200
    kinds, final = reply.result(timeout=10)
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    TypeAdapter(Response).validate_python(final.model_dump(mode="json"))
    assert final.output_text == LONG_TEXT
    assert final.output[1].name == "get_weather"


def test_quick_rejection_of_a_stream_is_a_plain_422(gateway):
    """Before the first keep-alive the status is still free: a rejection is a 422."""
    text = f"quick reject {uuid.uuid4()}"
    client = openai.OpenAI(base_url=gateway.base_url, api_key="k", max_retries=0)
    reviewer = Reviewer(gateway.url)
    reply = background(
        client.chat.completions.create,
        model="human",  # keep-alives every 15 s: none before the rejection
        messages=[{"role": "user", "content": text}],
        stream=True,
    )
    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    assert reviewer.reject(task["id"], "no streaming today").status == 200
    with pytest.raises(openai.UnprocessableEntityError) as caught:
        reply.result(timeout=10)
    assert caught.value.code == "human_rejected"
    assert caught.value.response.headers["x-should-retry"] == "false"


@pytest.mark.parametrize("ending", ["rejected", "expired"])
def test_an_error_after_keepalives_arrives_in_the_stream(gateway, ending):
    text = f"late {ending} {uuid.uuid4()}"
    client = openai.OpenAI(base_url=gateway.base_url, api_key="k", max_retries=0)
    reviewer = Reviewer(gateway.url)
    model = "human-ka" if ending == "rejected" else "human-ka-quick"

    def consume():
        with client.chat.completions.with_streaming_response.create(
            model=model, messages=[{"role": "user", "content": text}], stream=True
        ) as response:
            lines = []
            for line in response.iter_lines():
                lines.append(line)
                if ending == "rejected" and line == ": keep-alive" and lines.count(line) == 2:
                    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
                    assert reviewer.reject(task["id"], "wrong site").status == 200
            return response.status_code, lines

    status, lines = background(consume).result(timeout=15)
    assert status == 200
    assert lines[0] == ": keep-alive"
    data = [line for line in lines if line.startswith("data: ")]
    assert len(data) == 1
    error = json.loads(data[0].removeprefix("data: "))["error"]
    expected = "human_rejected" if ending == "rejected" else "human_timeout"
    assert error["code"] == expected
    if ending == "rejected":
        assert "wrong site" in error["message"]


def test_the_sdk_raises_an_error_that_ends_a_stream(gateway):
    client = openai.OpenAI(base_url=gateway.base_url, api_key="k", max_retries=0)
    stream = client.chat.completions.create(
        model="human-ka-quick", messages=[{"role": "user", "content": "nobody"}], stream=True
    )
    with pytest.raises(openai.APIError) as caught:
        list(stream)
    assert caught.value.code == "human_timeout"
