"""The Anthropic door with a person behind it: what the ``anthropic`` SDK receives.

A real gateway process; a reviewer answers through the reviewer API. Every body is
validated with the SDK's own types (``Message``, ``BetaMessage``, the stream events).
"""

from __future__ import annotations

import asyncio
import base64
import threading
import urllib.request
import uuid
from collections.abc import Iterator

import anthropic
import orjson
import pydantic
import pytest
from anthropic.types import Message, RawMessageStreamEvent
from anthropic.types.beta import BetaMessage
from harness import Gateway, run_gateway, wait_until
from pydantic import TypeAdapter
from reviewer_client import AsyncReviewer, Reviewer, background, png

CLIENT_KEY = "client-key"
EVENT = TypeAdapter(RawMessageStreamEvent)
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
COMPUTER = {
    "type": "computer_20250124",
    "name": "computer",
    "display_width_px": 1280,
    "display_height_px": 800,
}
CONFIG = f"""
[auth]
client_keys = ["{CLIENT_KEY}"]

[human]
keepalive_s = 0.2
reattach_grace_s = 1

[models.quick]
route = "human"
timeout_s = 1
"""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with run_gateway(tmp_path_factory.mktemp("anthropic-human"), CONFIG) as gateway:
        yield gateway


def client(gateway: Gateway, **options) -> anthropic.Anthropic:
    options = {"api_key": CLIENT_KEY, "max_retries": 0, **options}
    return anthropic.Anthropic(base_url=gateway.url, **options)


def ask(gateway: Gateway, text: str, **request):
    """A Messages request on a thread; the future of its raw response."""
    request.setdefault("model", "human")
    request.setdefault("max_tokens", 1024)
    request.setdefault("messages", [{"role": "user", "content": text}])
    return background(client(gateway).messages.with_raw_response.create, **request)


def served(gateway: Gateway) -> float:
    """``gateway_requests_total`` of this door's human answers (``api="messages"``)."""
    with urllib.request.urlopen(gateway.url + "/metrics", timeout=5) as reply:
        text = reply.read().decode()
    labels = 'api="messages",model="human",outcome="ok",route="human",status="200"'
    line = f"gateway_requests_total{{{labels}}} "
    return sum(float(row[len(line) :]) for row in text.splitlines() if row.startswith(line))


def test_text_answer(gateway: Gateway, reviewer: Reviewer) -> None:
    before = served(gateway)
    text = f"Which button saves? {uuid.uuid4()}"
    reply = ask(
        gateway,
        text,
        system=[{"type": "text", "text": "Be careful.", "cache_control": {"type": "ephemeral"}}],
    )
    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    full = reviewer.task(task["id"])
    assert full["request"]["messages"][0] == {"role": "system", "content": "Be careful."}
    assert reviewer.claim(task["id"]).status == 200
    late = Reviewer(gateway.url, "bob").answer(task["id"], content="Mine!")  # several reviewers
    assert late.status == 409 and late.error["code"] == "task_claimed"
    assert reviewer.answer(task["id"], content="The floppy disk icon.").status == 200
    raw = reply.result(timeout=10)
    assert raw.headers["x-gateway-route"] == "human"
    assert raw.headers["x-gateway-answered-by"] == "human"
    assert raw.headers["x-gateway-task"] == task["id"]
    message = Message.model_validate(raw.http_response.json())
    assert message.type == "message" and message.role == "assistant" and message.model == "human"
    assert message.id.startswith("msg_")
    assert message.stop_reason == "end_turn"
    assert message.content[0].text == "The floppy disk icon."  # type: ignore[union-attr]
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert raw.parse() == message
    assert served(gateway) == before + 1  # counted under the API the client spoke


def test_tool_use_round_trip(gateway: Gateway, reviewer: Reviewer) -> None:
    text = f"Weather in Paris? {uuid.uuid4()}"
    first = ask(gateway, text, tools=[WEATHER])
    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    assert task["kind"] == "tools"
    answered = reviewer.answer(
        task["id"],
        content="Checking.",
        tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}],
    )
    assert answered.status == 200
    message = Message.model_validate(first.result(timeout=10).http_response.json())
    assert message.stop_reason == "tool_use"
    use = message.content[1]
    assert use.type == "tool_use" and use.id.startswith("toolu_")
    assert use.name == "get_weather" and use.input == {"city": "Paris"}
    follow = [
        {"role": "user", "content": text},
        {
            "role": "assistant",
            "content": [block.model_dump(exclude_none=True) for block in message.content],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "18 C, sunny"}],
        },
    ]
    second = ask(gateway, text, tools=[WEATHER], messages=follow)
    next_task = reviewer.wait_for_task(lambda t: t["follows"] == task["id"])
    assert next_task["step"] == 2 and next_task["session"] == task["session"]
    request = reviewer.task(next_task["id"])["request"]
    assert request["messages"][-1] == {
        "role": "tool",
        "tool_call_id": use.id,
        "content": "18 C, sunny",
    }
    reviewer.answer(next_task["id"], content="18 C and sunny.")
    final = Message.model_validate(second.result(timeout=10).http_response.json())
    assert final.stop_reason == "end_turn" and final.content[0].text == "18 C and sunny."  # type: ignore[union-attr]


def test_streamed_answer_with_pings_before_and_after_message_start(
    gateway: Gateway, reviewer: Reviewer
) -> None:
    text = f"stream {uuid.uuid4()}"
    chunks: list[bytes] = []

    def read() -> None:
        with client(gateway).messages.with_streaming_response.create(
            model="human",
            max_tokens=100,
            messages=[{"role": "user", "content": text}],
            tools=[WEATHER],
            stream=True,
        ) as reply:
            assert reply.http_response.headers["content-type"].startswith("text/event-stream")
            for chunk in reply.iter_bytes():
                chunks.append(chunk)

    reading = threading.Thread(target=read)
    reading.start()
    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    wait_until(lambda: b"event: ping" in b"".join(chunks), what="a ping while the person works")
    reviewer.answer(
        task["id"],
        content="x" * 100,
        tool_calls=[{"name": "get_weather", "arguments": {"city": "Oslo"}}],
    )
    reading.join(timeout=10)
    frames = [frame for frame in b"".join(chunks).split(b"\n\n") if frame]
    kinds = [frame.split(b"\n")[0].removeprefix(b"event: ").decode() for frame in frames]
    start = kinds.index("message_start")
    assert start > 0 and set(kinds[:start]) == {"ping"}
    assert kinds[start + 1] == "ping"
    assert kinds[-2:] == ["message_delta", "message_stop"]
    events = [
        EVENT.validate_json(frame.split(b"data: ", 1)[1])
        for frame in frames
        if b'"ping"' not in frame
    ]
    assert events[0].type == "message_start"


def test_streaming_sdk_accumulates_the_answer(gateway: Gateway, reviewer: Reviewer) -> None:
    text = f"stream sdk {uuid.uuid4()}"

    def run() -> Message:
        with client(gateway).messages.stream(
            model="human",
            max_tokens=100,
            messages=[{"role": "user", "content": text}],
            tools=[WEATHER],
        ) as stream:
            return stream.get_final_message()

    final = background(run)
    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    reviewer.answer(
        task["id"],
        content="Here.",
        tool_calls=[{"name": "get_weather", "arguments": {"city": "Oslo"}}],
    )
    message = final.result(timeout=10)
    assert message.stop_reason == "tool_use"
    assert message.content[0].text == "Here."  # type: ignore[union-attr]
    assert message.content[1].input == {"city": "Oslo"}  # type: ignore[union-attr]


def test_beta_computer_use(gateway: Gateway, reviewer: Reviewer) -> None:
    text = f"Turn on dark mode {uuid.uuid4()}"
    shot = base64.b64encode(png(1280, 800, 40)).decode()
    messages = [
        {"role": "user", "content": text},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_01A",
                    "name": "computer",
                    "input": {"action": "screenshot"},
                }
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01A",
                    "content": [
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": shot},
                        }
                    ],
                }
            ],
        },
    ]
    reply = background(
        client(gateway).beta.messages.create,
        model="human",
        max_tokens=1024,
        messages=messages,
        tools=[COMPUTER],
        betas=["computer-use-2025-01-24"],
        extra_query={"beta": "true"},
    )
    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    assert task["kind"] == "screen"
    full = reviewer.task(task["id"])
    computer = next(tool for tool in full["tools"] if tool["type"] == "computer")
    assert (computer["display_width"], computer["display_height"]) == (1280, 800)
    assert full["images"] == 1  # the result's screenshot: the screen the person acts on
    with urllib.request.urlopen(
        urllib.request.Request(
            gateway.url + f"/api/tasks/{task['id']}/images/0", headers={"x-reviewer": "alice"}
        ),
        timeout=5,
    ) as image:
        assert image.read() == base64.b64decode(shot)
    outside = reviewer.answer(task["id"], computer_actions=[{"type": "click", "x": 1300, "y": 5}])
    assert outside.status == 422
    actions = [{"type": "click", "x": 640, "y": 400}, {"type": "keypress", "keys": ["ctrl", "s"]}]
    assert reviewer.answer(task["id"], computer_actions=actions).status == 200
    message = BetaMessage.model_validate(reply.result(timeout=10).model_dump())
    assert message.stop_reason == "tool_use"
    assert [(use.name, use.input) for use in message.content] == [  # type: ignore[union-attr]
        ("computer", {"action": "left_click", "coordinate": [640, 400]}),
        ("computer", {"action": "key", "text": "ctrl+s"}),
    ]


def test_answers_are_checked(gateway: Gateway, reviewer: Reviewer) -> None:
    text = f"checked {uuid.uuid4()}"
    reply = ask(
        gateway,
        text,
        tools=[WEATHER],
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
    )
    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    undeclared = reviewer.answer(
        task["id"], tool_calls=[{"name": "Bash", "arguments": {"command": "ls"}}]
    )
    assert undeclared.status == 422 and "'Bash'" in undeclared.error["message"]
    wrong = reviewer.answer(
        task["id"], tool_calls=[{"name": "get_weather", "arguments": {"city": 3}}]
    )
    assert wrong.status == 422 and wrong.error["param"] == "tool_calls.0.arguments.city"
    assert reviewer.answer(task["id"], content="No tool.").status == 422  # tool_choice any
    two = [{"name": "get_weather", "arguments": {"city": city}} for city in ("Oslo", "Rome")]
    assert reviewer.answer(task["id"], tool_calls=two).status == 422  # disable_parallel_tool_use
    assert reviewer.answer(task["id"], tool_calls=two[:1]).status == 200
    assert (
        Message.model_validate(reply.result(timeout=10).http_response.json()).stop_reason
        == "tool_use"
    )


def test_refusal_is_stop_reason_refusal(gateway: Gateway, reviewer: Reviewer) -> None:
    text = f"refuse {uuid.uuid4()}"
    reply = ask(gateway, text)
    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    reviewer.answer(task["id"], refusal="I won't do that.")
    message = Message.model_validate(reply.result(timeout=10).http_response.json())
    assert message.stop_reason == "refusal"


def test_rejection_and_timeout_are_errors_in_anthropics_envelope(
    gateway: Gateway, reviewer: Reviewer
) -> None:
    text = f"reject {uuid.uuid4()}"
    reply = ask(gateway, text)
    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    reviewer.reject(task["id"], "Out of scope.")
    with pytest.raises(anthropic.BadRequestError) as rejected:
        reply.result(timeout=10)
    assert rejected.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert "Out of scope." in rejected.value.body["error"]["message"]  # type: ignore[index]
    with pytest.raises(anthropic.APIStatusError) as late:
        client(gateway).messages.create(
            model="quick", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        )
    assert late.value.status_code == 504
    assert late.value.body["error"]["type"] == "timeout_error"  # type: ignore[index]


def test_retry_reattaches_and_disconnect_cancels(gateway: Gateway, reviewer: Reviewer) -> None:
    text = f"retry {uuid.uuid4()}"
    impatient = client(gateway, timeout=0.5)
    request = {"model": "human", "max_tokens": 8, "messages": [{"role": "user", "content": text}]}
    with pytest.raises(anthropic.APITimeoutError):
        impatient.messages.create(**request)
    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    again = background(client(gateway).messages.create, **request)  # within the grace
    assert reviewer.answer(task["id"], content="Here after all.").status == 200
    assert again.result(timeout=10).content[0].text == "Here after all."  # type: ignore[union-attr]
    # The retry got the first attempt's task: no second one was made.
    assert [t["id"] for t in reviewer.tasks("answered") if t["preview"] == text] == [task["id"]]
    gone = f"gone {uuid.uuid4()}"
    with pytest.raises(anthropic.APITimeoutError):
        impatient.messages.create(**{**request, "messages": [{"role": "user", "content": gone}]})
    left = reviewer.wait_for_task(lambda t: t["preview"] == gone)
    assert reviewer.wait_for_status(left["id"], "cancelled")["status"] == "cancelled"


def test_a_malformed_request_is_a_400_naming_the_field(gateway: Gateway) -> None:
    body = {"model": "human", "messages": [{"role": "user", "content": "x"}]}
    request = urllib.request.Request(
        gateway.url + "/v1/messages",
        data=orjson.dumps(body),
        headers={"content-type": "application/json", "x-api-key": CLIENT_KEY},
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 400
    assert orjson.loads(caught.value.read())["error"] == {
        "type": "invalid_request_error",
        "message": "max_tokens: Field required",
    }


def test_a_rejection_mid_stream_is_an_error_event(gateway: Gateway, reviewer: Reviewer) -> None:
    text = f"reject stream {uuid.uuid4()}"
    chunks: list[bytes] = []

    def read() -> None:
        with client(gateway).messages.with_streaming_response.create(
            model="human", max_tokens=8, messages=[{"role": "user", "content": text}], stream=True
        ) as reply:
            chunks.extend(reply.iter_bytes())

    reading = threading.Thread(target=read)
    reading.start()
    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    wait_until(lambda: b"event: ping" in b"".join(chunks), what="the stream began")
    reviewer.reject(task["id"], "Not allowed here.")
    reading.join(timeout=10)
    last = b"".join(chunks).strip().split(b"\n\n")[-1]
    name, data = last.split(b"\n")
    assert name == b"event: error"  # the status line went out with the first ping
    error = orjson.loads(data.removeprefix(b"data: "))
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert "Not allowed here." in error["error"]["message"]


class Booking(pydantic.BaseModel):
    city: str
    nights: int


def test_structured_output_is_checked_and_parsed_by_the_sdk(
    gateway: Gateway, reviewer: Reviewer
) -> None:
    text = f"Book a stay {uuid.uuid4()}"
    parsed = background(
        client(gateway).messages.parse,
        model="human",
        max_tokens=100,
        messages=[{"role": "user", "content": text}],
        output_format=Booking,
    )
    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    assert task["kind"] == "structured"
    wrong = reviewer.answer(task["id"], content={"city": "Oslo", "nights": "two"})
    assert wrong.status == 422 and "nights" in wrong.error["message"]
    assert reviewer.answer(task["id"], content={"city": "Oslo", "nights": 2}).status == 200
    message = parsed.result(timeout=10)
    assert message.parsed_output == Booking(city="Oslo", nights=2)


async def test_the_async_client_streams_the_answer(gateway: Gateway) -> None:
    text = f"async {uuid.uuid4()}"
    client = anthropic.AsyncAnthropic(base_url=gateway.url, api_key=CLIENT_KEY, max_retries=0)
    async with AsyncReviewer(gateway.url, "bob") as bob:

        async def run() -> Message:
            async with client.messages.stream(
                model="human", max_tokens=50, messages=[{"role": "user", "content": text}]
            ) as stream:
                return await stream.get_final_message()

        final = asyncio.ensure_future(run())
        task = await bob.wait_for_task(lambda t: t["preview"] == text)
        assert (await bob.answer(task["id"], content="From bob.")).status == 200
        message = await asyncio.wait_for(final, 10)
    assert message.content[0].text == "From bob."  # type: ignore[union-attr]
    await client.close()
