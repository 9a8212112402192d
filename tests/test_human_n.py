"""``n > 1`` on the human route: the reviewer gives n answers, the client gets n choices.

The reviewer API takes ``{"choices": [answer, ...]}`` with exactly ``n`` entries and
refuses anything else with a 422; the client receives ``n`` choices, streamed with
each chunk's ``index``. Bodies are validated with the SDK's own types.
"""

from __future__ import annotations

import json
import uuid

import openai
import pytest
from harness import openai_client, run_gateway, sse_payloads
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import BaseModel, TypeAdapter
from reviewer_client import WEATHER_TOOL, background

CONFIG = """
[models.desk]
route = "human"
"""

completions = TypeAdapter(ChatCompletion)
chunks = TypeAdapter(ChatCompletionChunk)
THREE = [
    {"content": "Paris is the capital of France, a city of about two million people."},
    {"refusal": "I would rather not say."},
    {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
]


class City(BaseModel):
    name: str


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    with run_gateway(tmp_path_factory.mktemp("n"), CONFIG) as gateway:
        yield gateway


def ask(gateway, text: str, **request):
    create = openai_client(gateway).chat.completions.with_raw_response.create
    messages = [{"role": "user", "content": text}]
    return background(create, model="human", messages=messages, **request)


def test_n_3_asks_for_three_answers_and_returns_three_choices(gateway, reviewer):
    text = f"three {uuid.uuid4()}"
    reply = ask(gateway, text, n=3, tools=[WEATHER_TOOL])
    summary = reviewer.wait_for_task(lambda t: t["preview"] == text)
    assert summary["n"] == 3 and reviewer.task(summary["id"])["n"] == 3
    task_id = summary["id"]
    one = reviewer.answer(task_id, content="just one")
    assert one.status == 422 and one.error["param"] == "choices"
    assert "n=3" in one.error["message"]
    two = reviewer.answer(task_id, choices=THREE[:2])
    assert two.status == 422 and two.error["param"] == "choices"
    both = reviewer.answer(task_id, content="x", choices=THREE)
    assert both.status == 422 and both.error["param"] == "choices"
    undeclared = [*THREE[:2], {"tool_calls": [{"name": "nope", "arguments": {}}]}]
    wrong = reviewer.answer(task_id, choices=undeclared)
    assert wrong.status == 422 and wrong.error["param"] == "choices.2.tool_calls.0.name"
    assert reviewer.task(task_id)["status"] in ("pending", "claimed")
    assert reviewer.answer(task_id, choices=THREE).status == 200
    completion = completions.validate_python(reply.result(timeout=10).http_response.json())
    assert [choice.index for choice in completion.choices] == [0, 1, 2]
    first, second, third = (choice.message for choice in completion.choices)
    assert first.content == THREE[0]["content"]
    assert second.content is None and second.refusal == "I would rather not say."
    assert third.tool_calls[0].function.name == "get_weather"
    assert json.loads(third.tool_calls[0].function.arguments) == {"city": "Paris"}
    assert [choice.finish_reason for choice in completion.choices] == ["stop", "stop", "tool_calls"]
    assert reviewer.task(task_id)["answer"]["choices"][1] == {"refusal": "I would rather not say."}


def test_n_3_streamed_with_each_chunks_index(gateway, reviewer):
    text = f"three streamed {uuid.uuid4()}"
    body = {
        "model": "human",
        "messages": [{"role": "user", "content": text}],
        "n": 3,
        "tools": [WEATHER_TOOL],
        "stream_options": {"include_usage": True},
    }
    wire = background(sse_payloads, gateway, "/chat/completions", body)
    task_id = reviewer.wait_for_task(lambda t: t["preview"] == text)["id"]
    assert reviewer.answer(task_id, choices=THREE).status == 200
    payloads = [chunks.validate_python(p) for p in wire.result(timeout=10)]
    assert payloads[-1].choices == [] and payloads[-1].usage.completion_tokens > 0
    by_index: dict[int, list] = {0: [], 1: [], 2: []}
    for payload in payloads[:-1]:
        (choice,) = payload.choices
        by_index[choice.index].append(choice)
    content = "".join(c.delta.content or "" for c in by_index[0])
    assert content == THREE[0]["content"] and len(by_index[0]) == 4  # role, 2 deltas, finish
    assert "".join(c.delta.refusal or "" for c in by_index[1]) == "I would rather not say."
    assert by_index[2][1].delta.tool_calls[0].function.name == "get_weather"
    finishes = [[c.finish_reason for c in by_index[i] if c.finish_reason] for i in range(3)]
    assert finishes == [["stop"], ["stop"], ["tool_calls"]]

    # The SDK's stream helper puts the three choices back together.
    text = f"three helper {uuid.uuid4()}"
    client = openai_client(gateway)

    def stream():
        with client.chat.completions.stream(
            model="human", messages=[{"role": "user", "content": text}], n=3, response_format=City
        ) as events:
            for _ in events:
                pass
            return events.get_final_completion()

    reply = background(stream)
    task_id = reviewer.wait_for_task(lambda t: t["preview"] == text)["id"]
    bad = [{"content": {"name": "Paris"}}, {"content": {"name": 7}}, {"content": '{"name": "X"}'}]
    refused = reviewer.answer(task_id, choices=bad)
    assert refused.status == 422 and refused.error["param"] == "choices.1.content.name"
    good = [{"content": {"name": name}} for name in ("Paris", "Lyon", "Nice")]
    assert reviewer.answer(task_id, choices=good).status == 200
    final = reply.result(timeout=10)
    assert [choice.message.parsed for choice in final.choices] == [
        City(name="Paris"),
        City(name="Lyon"),
        City(name="Nice"),
    ]


def test_n_1_takes_one_answer_or_one_choice(gateway, reviewer):
    text = f"one {uuid.uuid4()}"
    reply = ask(gateway, text, n=1)
    task_id = reviewer.wait_for_task(lambda t: t["preview"] == text)["id"]
    assert reviewer.answer(task_id, choices=[{"content": "a"}, {"content": "b"}]).status == 422
    assert reviewer.answer(task_id, choices=[{"content": "only"}]).status == 200
    completion = completions.validate_python(reply.result(timeout=10).http_response.json())
    assert [choice.message.content for choice in completion.choices] == ["only"]


def test_one_refusal_refuses_every_choice(gateway, reviewer):
    text = f"refuse three {uuid.uuid4()}"
    reply = ask(gateway, text, n=3)
    task_id = reviewer.wait_for_task(lambda t: t["preview"] == text)["id"]
    assert reviewer.answer(task_id, refusal="No.").status == 200
    completion = completions.validate_python(reply.result(timeout=10).http_response.json())
    assert [(c.index, c.message.refusal) for c in completion.choices] == [
        (0, "No."),
        (1, "No."),
        (2, "No."),
    ]


@pytest.mark.parametrize("n", [0, 129, "3", 2.5])
def test_an_invalid_n_is_a_400(gateway, n):
    client = openai_client(gateway)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="human", messages=[{"role": "user", "content": "x"}], n=n
        )
    assert caught.value.body["param"] == "n"
