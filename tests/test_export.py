"""Exporting answered tasks: fine-tuning examples and evaluation records."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from harness import Gateway, openai_client, run_gateway
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam
from pydantic import TypeAdapter
from reviewer_client import WEATHER_TOOL, Reviewer, background

MESSAGES = TypeAdapter(list[ChatCompletionMessageParam])
TOOLS = TypeAdapter(list[ChatCompletionToolParam])


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[Gateway]:
    config = '[models.helper]\nroute = "human"\n'
    with run_gateway(tmp_path_factory.mktemp("export"), config) as gw:
        yield gw


def export(gateway: Gateway, query: str) -> tuple[dict[str, str], list[dict]]:
    with urllib.request.urlopen(f"{gateway.url}/api/export?{query}", timeout=10) as reply:
        headers = {k.lower(): v for k, v in reply.headers.items()}
        lines = [json.loads(line) for line in reply.read().splitlines() if line.strip()]
    return headers, lines


def test_answers_become_fine_tuning_examples_and_records(gateway):
    client = openai_client(gateway)
    reviewer = Reviewer(gateway.url, "erin")
    asked = background(
        client.chat.completions.create,
        model="helper",
        messages=[
            {"role": "system", "content": "Be brief"},
            {"role": "user", "content": "weather?"},
        ],
        tools=[WEATHER_TOOL],
    )
    task = reviewer.wait_for_task(lambda t: t["preview"] == "weather?")
    reviewer.answer(task["id"], tool_calls=[{"name": "get_weather", "arguments": {"city": "Oslo"}}])
    asked.result(timeout=10)
    said = background(client.responses.create, model="human", input="say hi")
    task2 = reviewer.wait_for_task(lambda t: t["preview"] == "say hi")
    reviewer.answer(task2["id"], content="hi")
    said.result(timeout=10)

    headers, examples = export(gateway, "format=openai-chat")
    assert headers["content-type"].startswith("application/x-ndjson")
    assert len(examples) == 2  # the Responses task is converted to the chat shape
    example = examples[0]
    assert examples[1]["messages"][-1]["content"] == "hi"  # text-only: strings, as OpenAI's
    _, parted = export(gateway, "format=sft&content=parts")
    assert parted[1]["messages"][-1]["content"] == [{"type": "text", "text": "hi"}]
    assert parted[0]["messages"][0]["content"] == [{"type": "text", "text": "Be brief"}]
    messages = MESSAGES.validate_python(example["messages"])
    assert [m["role"] for m in messages] == ["system", "user", "assistant"]
    call = example["messages"][-1]["tool_calls"][0]
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Oslo"}
    TOOLS.validate_python(example["tools"])
    assert example["parallel_tool_calls"] is True

    _, records = export(gateway, "format=records")
    assert [r["id"] for r in records] == [task["id"], task2["id"]]  # oldest answer first
    assert records[1]["api"] == "responses"
    assert records[1]["answer"] == {"content": "hi"}
    assert records[1]["answered_by"] == "erin"
    assert records[1]["request"]["input"] == "say hi"
    assert records[1]["result"]["output"][0]["content"][0]["text"] == "hi"

    _, only = export(gateway, "format=records&model=helper")
    assert [r["id"] for r in only] == [task["id"]]


def test_unknown_export_format_is_400(gateway):
    with pytest.raises(urllib.error.HTTPError) as failed:
        urllib.request.urlopen(f"{gateway.url}/api/export?format=csv", timeout=10)
    assert failed.value.code == 400
    assert json.loads(failed.value.read())["error"]["param"] == "format"
    with pytest.raises(urllib.error.HTTPError) as failed:
        urllib.request.urlopen(f"{gateway.url}/api/export?content=lists", timeout=10)
    assert failed.value.code == 400
    error = json.loads(failed.value.read())["error"]
    assert error["param"] == "content" and "strings, parts" in error["message"]
